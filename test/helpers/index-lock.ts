/**
 * Holds the write lock of a SQLite file from another thread, as another process (the CLI, an
 * operator's `sqlite3`) would: a worker thread opens its own connection and runs
 * BEGIN IMMEDIATE. A lock taken on the test's own thread could not show a blocked event loop:
 * the thread that waits would be the one that must release it.
 *
 * The worker lets go when `release()` is called, or by itself after `maxHoldMs`; `held()` says
 * whether it still holds the lock, so a test can tell "answered while locked" from "answered
 * once the lock was gone" without timing anything.
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

export interface IndexLock {
  /** True while the worker holds the lock. */
  held(): boolean;
  /** Lets go of the lock (if still held) and resolves once the worker has ended. */
  release(): Promise<void>;
}

const STATE = 0; // 0 starting, 1 held, 2 released
const RELEASE = 1; // set to 1 to ask for the release

const WORKER = `
const { workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const state = new Int32Array(workerData.shared);
const db = new Database(workerData.path);
db.exec('BEGIN IMMEDIATE');
Atomics.store(state, ${STATE}, 1);
Atomics.wait(state, ${RELEASE}, 0, workerData.maxHoldMs);
db.exec('ROLLBACK');
db.close();
Atomics.store(state, ${STATE}, 2);
`;

export async function holdWriteLock(path: string, maxHoldMs: number): Promise<IndexLock> {
  const shared = new SharedArrayBuffer(8);
  const state = new Int32Array(shared);
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { path, shared, maxHoldMs, module } });
  const ended = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  ended.catch(() => undefined);
  for (let i = 0; i < 500 && Atomics.load(state, STATE) === 0; i++) await sleep(10);
  if (Atomics.load(state, STATE) !== 1) {
    await worker.terminate();
    throw new Error(`the lock on ${path} was not taken`);
  }
  return {
    held: () => Atomics.load(state, STATE) === 1,
    async release() {
      Atomics.store(state, RELEASE, 1);
      Atomics.notify(state, RELEASE);
      await ended;
    },
  };
}
