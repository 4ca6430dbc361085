/** recproxy's version, from its package.json (beside src/ in the source, beside dist/ once built). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** `0.1.0`, or `unknown` when no package.json of recproxy is found. */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'recproxy' && pkg.version) return (cached = pkg.version);
    } catch {
      // not this one
    }
  }
  return (cached = 'unknown');
}
