/** Runs the real `bin/recproxy` (the built CLI) in a child process. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/recproxy', import.meta.url));

/** The environment without the test runner's loader hooks. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // No load shedding on the event loop's delay (as in helpers/daemon.ts): a busy test machine is not an overloaded daemon.
  const env: NodeJS.ProcessEnv = { RECPROXY_MAX_EVENT_LOOP_DELAY_MS: '0', ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('TAP') || k.startsWith('_TAPJS')) delete env[k];
  return env;
}

export function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
