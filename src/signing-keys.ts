/**
 * Where media-token signing keys come from: RECPROXY_SIGNING_KEYS ("kid:secret,kid2:secret2",
 * first signs, all verify), or else a key generated once and kept in the signing key file
 * (mode 0600), so tokens survive restarts and the CLI and the daemon agree.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SigningKey } from './token.js';

export function parseSigningKeys(spec: string): SigningKey[] {
  return spec
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf(':');
      return { id: pair.slice(0, at), secret: pair.slice(at + 1) };
    });
}

export function loadSigningKeys(spec: string | undefined, file: string): SigningKey[] {
  if (spec) return parseSigningKeys(spec);
  try {
    return parseSigningKeys(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const line = `k${Date.now().toString(36)}:${randomBytes(32).toString('base64url')}\n`;
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, line, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return parseSigningKeys(readFileSync(file, 'utf8'));
}
