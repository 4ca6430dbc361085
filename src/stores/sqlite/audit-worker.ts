/**
 * The access audit's writer thread (see SqliteAuditLog's `background` option in audit.ts): it owns
 * its own connection to the index file and inserts the batches the request thread posts, so the
 * inserts (with their two indexes, several µs a row) never run between requests.
 *
 * Protocol: `{ rows, denied? }` messages (each row an InsertRow tuple, each denied group a
 * DeniedRow), `{ prune }` (WorkerPrune) and `{ pruneStop: seq }`, then one `{ close: true }`.
 * A pruning runs a transaction at a time with its pause between (audit-retention.ts), so
 * batches posted meanwhile are written between two of its transactions; it answers
 * `{ pruned, seq }` when done, stopped or closed.
 * Progress goes back through shared counters the request thread can wait on (Atomics):
 * batches processed (written or kept for a retry), rows written, rows dropped; failures are
 * posted back as `{ error, pending }`. A failed write keeps its rows, in order, for the next
 * batch or the retry timer; beyond `maxBuffered` the oldest are dropped and counted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { COUNTER, rowInserter, type AuditWorkerData, type DeniedRow, type InsertRow, type WorkerPrune, type WorkerReply } from './audit.js';
import { pruneStep } from './audit-retention.js';

const data = workerData as AuditWorkerData;
const counters = new Int32Array(data.counters);
const db = new Database(data.dbPath, { fileMustExist: true });
db.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
db.pragma('synchronous = NORMAL');
// Prepared at the first write, inside its error handling: a missing table is a failed write.
let insertMany: ((rows: InsertRow[], denied?: DeniedRow[]) => void) | undefined;

let held: InsertRow[] = [];
let heldDenied: DeniedRow[] = [];
let retry: NodeJS.Timeout | undefined;

function write(): void {
  clearTimeout(retry);
  retry = undefined;
  if (held.length === 0 && heldDenied.length === 0) return;
  try {
    insertMany ??= rowInserter(db);
    insertMany(held, heldDenied);
    Atomics.add(counters, COUNTER.written, held.length + heldDenied.length);
    held = [];
    heldDenied = [];
  } catch (err) {
    for (const list of [held, heldDenied]) {
      const excess = list.length - data.maxBuffered;
      if (excess > 0) {
        list.splice(0, excess);
        Atomics.add(counters, COUNTER.dropped, excess);
      }
    }
    const pending = held.length + heldDenied.length;
    parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err), pending });
    retry = setTimeout(write, data.retryMs);
  }
}

const reply = (message: WorkerReply) => parentPort!.postMessage(message);

/** The pruning in hand, if any: one at a time, in the order asked. */
let pruning: { job: WorkerPrune; total: number; timer?: NodeJS.Timeout } | undefined;
const queuedPrunes: WorkerPrune[] = [];
let prune: ((untilIso: string, batch: number) => number) | undefined;

function startPrune(): void {
  const job = queuedPrunes.shift();
  if (!job) return;
  pruning = { job, total: 0 };
  pruneBatch();
}

function finishPrune(error?: string): void {
  const current = pruning!;
  clearTimeout(current.timer);
  pruning = undefined;
  reply(error === undefined ? { pruned: current.total, seq: current.job.seq } : { pruned: current.total, seq: current.job.seq, error });
  startPrune();
}

function pruneBatch(): void {
  const current = pruning!;
  current.timer = undefined;
  try {
    prune ??= pruneStep(db);
    const deleted = prune(current.job.until, current.job.batchSize);
    current.total += deleted;
    if (deleted < current.job.batchSize) return finishPrune();
  } catch (err) {
    return finishPrune(err instanceof Error ? err.message : String(err));
  }
  current.timer = setTimeout(pruneBatch, current.job.pauseMs);
}

function stopPrune(seq: number): void {
  if (pruning?.job.seq === seq) return finishPrune();
  const at = queuedPrunes.findIndex((job) => job.seq === seq);
  if (at >= 0) reply({ pruned: 0, seq: queuedPrunes.splice(at, 1)[0]!.seq });
}

function processed(slot: number): void {
  Atomics.add(counters, slot, 1);
  Atomics.notify(counters, slot);
}

type Message = { rows?: InsertRow[]; denied?: DeniedRow[]; prune?: WorkerPrune; pruneStop?: number; close?: true };

parentPort!.on('message', (message: Message) => {
  if (message.prune) {
    queuedPrunes.push(message.prune);
    if (!pruning) startPrune();
    return;
  }
  if (message.pruneStop !== undefined) return stopPrune(message.pruneStop);
  if (message.rows) {
    held = held.length ? held.concat(message.rows) : message.rows;
    if (message.denied) heldDenied = heldDenied.concat(message.denied);
    write();
    processed(COUNTER.batches);
    return;
  }
  // Prunings end here, with what they deleted so far.
  for (const job of queuedPrunes.splice(0)) reply({ pruned: 0, seq: job.seq });
  if (pruning) finishPrune();
  write(); // the last attempt; what still fails is lost with the process and counted
  if (held.length + heldDenied.length) Atomics.add(counters, COUNTER.dropped, held.length + heldDenied.length);
  clearTimeout(retry);
  db.close();
  parentPort!.close();
  processed(COUNTER.closed);
});
