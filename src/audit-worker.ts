/**
 * The access audit's writer thread (see AuditLog's `background` option in src/audit.ts): it owns
 * its own connection to the index file and inserts the batches the request thread posts, so the
 * inserts (with their two indexes, several µs a row) never run between requests.
 *
 * Protocol: `{ rows }` messages (each row an INSERT_COLUMNS tuple), then one `{ close: true }`.
 * Progress goes back through shared counters the request thread can wait on (Atomics):
 * batches processed (written or kept for a retry), rows written, rows dropped; failures are
 * posted back as `{ error, pending }`. A failed write keeps its rows, in order, for the next
 * batch or the retry timer; beyond `maxBuffered` the oldest are dropped and counted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { COUNTER, rowInserter, type AuditWorkerData, type InsertRow } from './audit.js';

const data = workerData as AuditWorkerData;
const counters = new Int32Array(data.counters);
const db = new Database(data.dbPath, { fileMustExist: true });
db.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
db.pragma('synchronous = NORMAL');
// Prepared at the first write, inside its error handling: a missing table is a failed write.
let insertMany: ((rows: InsertRow[]) => void) | undefined;

let held: InsertRow[] = [];
let retry: NodeJS.Timeout | undefined;

function write(): void {
  clearTimeout(retry);
  retry = undefined;
  if (held.length === 0) return;
  try {
    insertMany ??= rowInserter(db);
    insertMany(held);
    Atomics.add(counters, COUNTER.written, held.length);
    held = [];
  } catch (err) {
    const excess = held.length - data.maxBuffered;
    if (excess > 0) {
      held.splice(0, excess);
      Atomics.add(counters, COUNTER.dropped, excess);
    }
    parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err), pending: held.length });
    retry = setTimeout(write, data.retryMs);
  }
}

function processed(slot: number): void {
  Atomics.add(counters, slot, 1);
  Atomics.notify(counters, slot);
}

parentPort!.on('message', (message: { rows?: InsertRow[]; close?: true }) => {
  if (message.rows) {
    held = held.length ? held.concat(message.rows) : message.rows;
    write();
    processed(COUNTER.batches);
    return;
  }
  write(); // the last attempt; what still fails is lost with the process and counted
  if (held.length) Atomics.add(counters, COUNTER.dropped, held.length);
  clearTimeout(retry);
  db.close();
  parentPort!.close();
  processed(COUNTER.closed);
});
