/** `recproxy serve` as a real child process on a free loopback port, killed at the test's end. */
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, cleanEnv } from './cli.js';

export interface Served {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>`, from the line the daemon prints when it listens. */
  base: string;
  /** Everything it printed so far. */
  log: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

/** Starts `bin/recproxy serve` in `cwd` (its ./data) with PORT=0 and `env`; resolves once it listens. */
export async function serveProcess(t: Test, cwd: string, env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd,
    env: cleanEnv({ PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once('close', (code) => resolve({ code, at: Date.now() })));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listen line: ${out}`)), 60_000);
    child.stdout!.on('data', () => {
      const m = /recproxy serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return { child, base, log: () => out, exited };
}
