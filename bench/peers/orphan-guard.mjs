/**
 * Preloaded (`node --import`) into every Node server the benchmark starts: when the harness
 * goes away its end of our stdin closes, and this process then stops itself (SIGTERM to
 * itself, so a server that closes gracefully on SIGTERM still does; a hard exit 3 s later).
 */
import { isMainThread } from 'node:worker_threads';

// Preloads run in worker threads too, where stdin is empty and ends at once: only the main
// thread watches it.
if (isMainThread) {
  process.stdin.on('error', () => undefined);
  process.stdin.on('data', () => undefined);
  process.stdin.once('end', () => {
    process.stderr.write('orphan-guard: the harness went away (stdin closed); stopping\n');
    setTimeout(() => process.exit(1), 3000).unref();
    process.kill(process.pid, 'SIGTERM');
  });
  // Watching stdin must not keep a server alive that has closed itself (and would then exit,
  // writing its --cpu-prof profile).
  process.stdin.unref?.();
}
