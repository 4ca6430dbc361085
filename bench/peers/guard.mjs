/**
 * `node guard.mjs CMD ARGS...`: runs a non-Node server (nginx) and prints `PID <n>` for it.
 * The server is killed when this wrapper gets SIGTERM/SIGINT or when its stdin closes (the
 * harness went away), and the wrapper exits with it.
 */
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
process.stdout.write(`PID ${child.pid}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM'); // nginx: fast shutdown
  setTimeout(() => child.kill('SIGKILL'), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('error', () => undefined);
process.stdin.on('data', () => undefined);
process.stdin.once('end', stop);
child.once('error', (err) => {
  process.stderr.write(`guard: ${err.message}\n`);
  process.exit(1);
});
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
