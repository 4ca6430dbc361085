/**
 * The access audit (src/stores/types.ts `AuditSink`) in SQLite: one row per stream URL issued
 * (repeats within a batch counted in one: `record`) and per download or media read (and,
 * counted per client, code and minute, the denied attempts: DENIED_CLIENTS_PER_MINUTE), in a
 * file of its own beside the call index (auditPathFor), read back by `recproxy audit`.
 *
 * Cheap on the hot path: `record` only pushes onto an in-memory buffer. The buffer is written
 * in one transaction when it reaches `maxBatch` entries (default 500), at the latest
 * `flushIntervalMs` (default 100 ms) after its first entry, and on `close()`. The timer is
 * unref'd, so a pending flush never keeps the process alive; call `close()` on shutdown.
 * A failed write (disk full, a lock held past the busy timeout) keeps the entries for the next
 * attempt and reports through `onError`; past `maxBuffered` entries the oldest are dropped and
 * counted in `dropped`, so a dead disk cannot exhaust memory.
 *
 * `background: true` (what the daemon uses) hands each batch to a writer thread
 * (audit-worker.ts) with its own connection to the same file, so the inserts — with the two
 * indexes, 4 µs a row when one call is read and 15–20 µs when reads spread over many calls —
 * never hold the event loop: a 500-row batch held it for milliseconds. Measured on the stream
 * endpoint (wrk -c16, one call), at the same req/s and CPU per request: p99 6–7 ms with in-line
 * writes, 2.1–2.5 ms with the thread. Committing less often (every 100 ms) gained ~5% req/s but
 * doubled that p99 again, so batches are committed as they come. `query`
 * and `close` wait (Atomics.wait, bounded) until the thread has taken every batch handed to it,
 * so they see what was recorded before them, as in the synchronous mode. If the thread dies,
 * the log falls back to writing itself and counts the rows it held as dropped. An in-memory
 * database has no file to share and stays synchronous.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyMigrations } from './migrations.js';
import { PRUNE_BATCH, auditRowsBefore, pruneStep } from './audit-retention.js';
import type { AuditAction, AuditEntry, AuditPruneOptions, AuditQuery, AuditRow, AuditSink, DeniedAttempt } from '../types.js';

/** The audit database's schema steps (append only; step i takes user_version i to i+1). */
export const AUDIT_MIGRATIONS: string[] = [
  `CREATE TABLE access_audit (
     id         INTEGER PRIMARY KEY,
     at         TEXT    NOT NULL,
     action     TEXT    NOT NULL CHECK (action IN ('stream_url', 'download', 'media')),
     org_id     TEXT    NOT NULL,
     call_sid   TEXT    NOT NULL,
     principal  TEXT,
     client     TEXT,
     status     INTEGER,
     bytes      INTEGER
   );
   CREATE INDEX access_audit_sid_at ON access_audit (call_sid, at);
   CREATE INDEX access_audit_org_at ON access_audit (org_id, at);`,
  // Denied attempts (DeniedAttempt): action 'denied', the error code, and how many attempts the
  // row stands for; organization and call may be unknown. SQLite cannot change a CHECK or a NOT
  // NULL in place, so the table is rebuilt once, ids kept.
  `CREATE TABLE access_audit_v2 (
     id         INTEGER PRIMARY KEY,
     at         TEXT    NOT NULL,
     action     TEXT    NOT NULL CHECK (action IN ('stream_url', 'download', 'media', 'denied')),
     org_id     TEXT,
     call_sid   TEXT,
     principal  TEXT,
     client     TEXT,
     status     INTEGER,
     bytes      INTEGER,
     code       TEXT,
     count      INTEGER NOT NULL DEFAULT 1
   );
   INSERT INTO access_audit_v2 (id, at, action, org_id, call_sid, principal, client, status, bytes)
     SELECT id, at, action, org_id, call_sid, principal, client, status, bytes FROM access_audit;
   DROP TABLE access_audit;
   ALTER TABLE access_audit_v2 RENAME TO access_audit;
   CREATE INDEX access_audit_sid_at ON access_audit (call_sid, at);
   CREATE INDEX access_audit_org_at ON access_audit (org_id, at);
   CREATE UNIQUE INDEX access_audit_denied ON access_audit (at, coalesce(client, ''), code) WHERE action = 'denied';`,
  // Deletions and legal holds (AuditAction 'delete', 'hold', 'release'): the CHECK is widened,
  // which SQLite does only by rebuilding the table, ids and indexes kept.
  `CREATE TABLE access_audit_v3 (
     id         INTEGER PRIMARY KEY,
     at         TEXT    NOT NULL,
     action     TEXT    NOT NULL CHECK (action IN ('stream_url', 'download', 'media', 'denied', 'delete', 'hold', 'release')),
     org_id     TEXT,
     call_sid   TEXT,
     principal  TEXT,
     client     TEXT,
     status     INTEGER,
     bytes      INTEGER,
     code       TEXT,
     count      INTEGER NOT NULL DEFAULT 1
   );
   INSERT INTO access_audit_v3 (id, at, action, org_id, call_sid, principal, client, status, bytes, code, count)
     SELECT id, at, action, org_id, call_sid, principal, client, status, bytes, code, count FROM access_audit;
   DROP TABLE access_audit;
   ALTER TABLE access_audit_v3 RENAME TO access_audit;
   CREATE INDEX access_audit_sid_at ON access_audit (call_sid, at);
   CREATE INDEX access_audit_org_at ON access_audit (org_id, at);
   CREATE UNIQUE INDEX access_audit_denied ON access_audit (at, coalesce(client, ''), code) WHERE action = 'denied';`,
  // Audit retention and export (pruneAudit, auditRowsBefore) read the oldest rows first: by
  // time, whatever their action, organization or call.
  `CREATE INDEX access_audit_at ON access_audit (at);`,
];

/**
 * Denied attempts are counted, not listed: one row per client address, error code and minute
 * (`at` is the minute's start), whose `count` grows with each attempt; its organization, call
 * and principal are those of the first attempt. At most DENIED_CLIENTS_PER_MINUTE addresses get
 * rows of their own in a minute; the attempts of further addresses are counted in one row per
 * code with no client. So a flood adds a bounded number of rows a minute, whatever its size.
 */
export const DENIED_CLIENTS_PER_MINUTE = 1000;

/**
 * Where the audit lives when RECPROXY_AUDIT_DB_PATH is not set: beside the call index,
 * `index.db` → `index.audit.db`. A file of its own because each commit by another connection
 * empties a SQLite connection's page cache: audit batches written into the index file made the
 * request thread re-read its key and call pages after every batch.
 */
export function auditPathFor(indexPath: string): string {
  if (indexPath === ':memory:') return ':memory:';
  return indexPath.endsWith('.db') ? `${indexPath.slice(0, -3)}.audit.db` : `${indexPath}.audit`;
}

/**
 * Opens (creating it and its directory) the audit database: WAL, a 5 s busy timeout, and the
 * AUDIT_MIGRATIONS it lacks.
 * @throws when the file cannot be opened, or carries a newer schema than this recproxy knows
 */
export function openAuditDb(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    applyMigrations(db, AUDIT_MIGRATIONS, 'audit');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Moves the rows of an index that still holds `access_audit` (where the audit was kept before
 * it had a file of its own) into the audit database at `auditPath`, oldest first, then drops
 * the old table. Nothing to do once it is gone. The audit database must exist (openAuditDb).
 * The copy and the drop are one transaction over both files; as SQLite says of WAL databases,
 * a crash in its middle may leave each file's part done or not, so the worst case is rows
 * copied twice, never rows lost.
 * @returns how many rows were moved
 */
export function moveLegacyAudit(index: Database.Database, auditPath: string): number {
  const legacy = index.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'access_audit'").get();
  if (!legacy || auditPath === ':memory:') return 0;
  index.prepare('ATTACH DATABASE ? AS audit_target').run(auditPath);
  try {
    return index.transaction(() => {
      const { changes } = index
        .prepare(
          `INSERT INTO audit_target.access_audit (at, action, org_id, call_sid, principal, client, status, bytes)
           SELECT at, action, org_id, call_sid, principal, client, status, bytes FROM main.access_audit ORDER BY id`,
        )
        .run();
      index.exec('DROP TABLE main.access_audit');
      return changes;
    })();
  } finally {
    index.exec('DETACH DATABASE audit_target');
  }
}

export interface SqliteAuditLogOptions {
  flushIntervalMs?: number;
  maxBatch?: number;
  /** Entries kept in memory while writes fail; beyond it the oldest are dropped. Default 100000. */
  maxBuffered?: number;
  /** Called when a flush fails (log it). Default: ignore. */
  onError?: (err: unknown, pending: number) => void;
  /** Write from a worker thread (file databases only). Default false. */
  background?: boolean;
  /** How long `query`/`close` wait for the writer thread (default 10 s). */
  waitMs?: number;
}

/** The columns of one row, in INSERT_SQL's order. */
export type InsertRow = [
  at: string, action: AuditAction, org_id: string, call_sid: string,
  principal: string | null, client: string | null, status: number | null, bytes: number | null, count: number,
];

export const INSERT_SQL = `INSERT INTO access_audit (at, action, org_id, call_sid, principal, client, status, bytes, count)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** The columns of one group of denied attempts, in DENIED_SQL's order. */
export type DeniedRow = [
  at: string, org_id: string | null, call_sid: string | null, principal: string | null,
  client: string | null, status: number, code: string, count: number,
];

/** Adds a group to its minute's row (DENIED_CLIENTS_PER_MINUTE), made by the first group. */
const DENIED_SQL = `INSERT INTO access_audit (at, action, org_id, call_sid, principal, client, status, code, count)
  VALUES (?, 'denied', ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (at, coalesce(client, ''), code) WHERE action = 'denied' DO UPDATE SET count = count + excluded.count`;

/**
 * Writes rows in one transaction, 50 at a time through one multi-row INSERT, the rest one by
 * one (grouped: 25.3–28.4 µs of daemon CPU per stream request against 28.1–29.6 µs row by row).
 * Used by the writer thread and by in-line writes alike.
 * @throws when the statements cannot be prepared (no access_audit table)
 */
export function rowInserter(db: Database.Database): (rows: InsertRow[], denied?: DeniedRow[]) => void {
  const GROUP = 50;
  const one = db.prepare<InsertRow>(INSERT_SQL);
  const group = db.prepare<unknown[]>(`${INSERT_SQL}${', (?, ?, ?, ?, ?, ?, ?, ?, ?)'.repeat(GROUP - 1)}`);
  const deny = db.prepare<DeniedRow>(DENIED_SQL);
  return db.transaction((rows: InsertRow[], denied?: DeniedRow[]) => {
    let i = 0;
    for (; i + GROUP <= rows.length; i += GROUP) group.run(...rows.slice(i, i + GROUP).flat());
    for (; i < rows.length; i++) one.run(...rows[i]!);
    if (denied) for (const row of denied) deny.run(...row);
  });
}

/** What the writer thread posts back: a failed write, or a finished pruning (WorkerPrune). */
export type WorkerReply = { error: string; pending: number } | { pruned: number; seq: number; error?: string };

/** Asks the writer thread to prune (AuditSink.prune); `{ pruneStop: seq }` stops it early. */
export interface WorkerPrune {
  seq: number;
  until: string;
  batchSize: number;
  pauseMs: number;
}

/** Slots of the counters shared with the writer thread. */
export const COUNTER = { batches: 0, written: 1, dropped: 2, closed: 3 } as const;

/** What the writer thread starts with. */
export interface AuditWorkerData {
  dbPath: string;
  counters: SharedArrayBuffer;
  maxBuffered: number;
  retryMs: number;
  busyTimeoutMs: number;
}

/** The writer thread's module: the .ts source when this file runs as TypeScript (tests). */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './audit-worker.ts' : './audit-worker.js', import.meta.url);

export class SqliteAuditLog implements AuditSink {
  readonly #db: Database.Database;
  readonly #insertMany: (rows: InsertRow[], denied?: DeniedRow[]) => void;
  readonly #queries = new Map<string, Database.Statement<unknown[], AuditRow>>();
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #onError: (err: unknown, pending: number) => void;
  readonly #waitMs: number;
  #buffer: InsertRow[] = [];
  /** Denied attempts not yet written, grouped by minute, code and client. */
  #denied = new Map<string, DeniedRow>();
  /** The stream-URL rows in #buffer, by principal, client, organization, call and status (`record`). */
  #urlRows = new Map<string, InsertRow>();
  /** The minute whose groups are counted in #deniedKeys, and the groups it has had so far. */
  #deniedMinute = 0;
  readonly #deniedKeys = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #dropped = 0;
  #worker: Worker | undefined;
  #counters: Int32Array | undefined;
  /** Batches and rows handed to the writer thread. */
  #batchesPosted = 0;
  #rowsPosted = 0;
  /** Prunings handed to the writer thread and not yet answered, by sequence number. */
  readonly #prunes = new Map<number, { resolve: (n: number) => void; reject: (err: Error) => void }>();
  #pruneSeq = 0;
  #pruneStep: ((untilIso: string, batch: number) => number) | undefined;

  /** `db` must already carry AUDIT_MIGRATIONS (openAuditDb). `close()` flushes but never closes `db`. */
  constructor(db: Database.Database, options: SqliteAuditLogOptions = {}) {
    this.#db = db;
    this.#flushIntervalMs = options.flushIntervalMs ?? 100;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    this.#onError = options.onError ?? (() => {});
    this.#waitMs = options.waitMs ?? 10_000;
    this.#insertMany = rowInserter(db);
    if (options.background && !db.memory) this.#startWorker();
  }

  #startWorker(): void {
    const counters = new SharedArrayBuffer(4 * Object.keys(COUNTER).length);
    const workerData: AuditWorkerData = {
      dbPath: this.#db.name,
      counters,
      maxBuffered: this.#maxBuffered,
      retryMs: this.#flushIntervalMs,
      busyTimeoutMs: this.#db.pragma('busy_timeout', { simple: true }) as number,
    };
    const worker = new Worker(WORKER_URL, { workerData });
    worker.unref(); // never keeps the process alive; close() is what waits for it
    worker.on('message', (message: WorkerReply) => {
      if ('pruned' in message) {
        const waiting = this.#prunes.get(message.seq);
        this.#prunes.delete(message.seq);
        if (message.error) waiting?.reject(new Error(message.error));
        else waiting?.resolve(message.pruned);
        return;
      }
      this.#onError(new Error(message.error), message.pending + this.#buffer.length);
    });
    const gone = (err: unknown) => {
      for (const waiting of this.#prunes.values()) waiting.reject(new Error('the audit writer thread stopped while pruning'));
      this.#prunes.clear();
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      if (this.#closed) return;
      // Whatever the thread held is lost: count it, and write from here on.
      const lost = this.#rowsPosted - Atomics.load(this.#counters!, COUNTER.written) - Atomics.load(this.#counters!, COUNTER.dropped);
      this.#dropped += lost;
      this.#onError(new Error(`audit writer thread stopped: ${err instanceof Error ? err.message : String(err)}`), this.#buffer.length);
    };
    worker.once('error', gone);
    worker.once('exit', (code) => gone(`exit code ${code}`));
    this.#worker = worker;
    this.#counters = new Int32Array(counters);
  }

  /** Entries recorded but not yet written. */
  get pending(): number {
    return this.#buffer.length + this.#denied.size + this.#rowsPosted - this.#rowsWritten - this.#workerDropped;
  }

  /** Entries thrown away because writes kept failing. */
  get dropped(): number {
    return this.#dropped + this.#workerDropped;
  }

  /** The database file it writes (as opened). */
  get file(): string {
    return this.#db.name;
  }

  /** Whether batches go to a writer thread. */
  get background(): boolean {
    return this.#worker !== undefined;
  }

  get #rowsWritten(): number {
    return this.#counters ? Atomics.load(this.#counters, COUNTER.written) : 0;
  }

  get #workerDropped(): number {
    return this.#counters ? Atomics.load(this.#counters, COUNTER.dropped) : 0;
  }

  /**
   * Queues one entry; never throws, never waits for the disk. After `close()` the entry is
   * counted in `dropped` and reported through onError (a request that outlived shutdown).
   *
   * A principal's stream-URL requests for one call, from one client address with one status,
   * recorded while a batch is buffered (at most `flushIntervalMs` or `maxBatch` rows) are one
   * row: `at` is the first request's time, `count` how many it stands for. A client polling the
   * endpoint adds rows at the batch rate, not at its request rate (each row costs the writer
   * ~4 µs and ~232 bytes on disk). Reads (`download`, `media`) and other actions are a row each.
   */
  record(entry: AuditEntry): void {
    if (this.#closed) {
      this.#dropped++;
      this.#onError(new Error('audit entry recorded after close'), 0);
      return;
    }
    let key: string | undefined;
    if (entry.action === 'stream_url') {
      key = `${entry.principal ?? ''}\u0000${entry.client ?? ''}\u0000${entry.org}\u0000${entry.callSid}\u0000${entry.status ?? ''}`;
      const row = this.#urlRows.get(key);
      if (row) {
        row[8]++;
        return;
      }
    }
    const row: InsertRow = [
      (entry.at ?? new Date()).toISOString(),
      entry.action,
      entry.org,
      entry.callSid,
      entry.principal ?? null,
      entry.client ?? null,
      entry.status ?? null,
      entry.bytes ?? null,
      1,
    ];
    this.#buffer.push(row);
    if (key !== undefined) this.#urlRows.set(key, row);
    if (this.#buffer.length >= this.#maxBatch) this.#flush();
    else this.#timer ??= setTimeout(() => this.#onTimer(), this.#flushIntervalMs).unref();
  }

  /**
   * Counts one denied attempt into its minute's row (DENIED_CLIENTS_PER_MINUTE); never throws,
   * never waits for the disk. Written with the next batch.
   */
  deny(attempt: DeniedAttempt): void {
    if (this.#closed) {
      this.#dropped++;
      this.#onError(new Error('audit entry recorded after close'), 0);
      return;
    }
    const ms = (attempt.at ?? new Date()).getTime();
    const minute = ms - (ms % 60_000);
    if (minute !== this.#deniedMinute) {
      this.#deniedMinute = minute;
      this.#deniedKeys.clear();
    }
    let client = attempt.client ?? null;
    let key = `${minute} ${attempt.code} ${client ?? ''}`;
    if (!this.#deniedKeys.has(key)) {
      if (this.#deniedKeys.size >= DENIED_CLIENTS_PER_MINUTE) {
        client = null;
        key = `${minute} ${attempt.code} `;
      }
      this.#deniedKeys.add(key);
    }
    const at = new Date(minute).toISOString();
    const { org = null, callSid = null, principal = null, status, code } = attempt;
    this.#addDenied(key, [at, org, callSid, principal, client, status, code, 1]);
    this.#timer ??= setTimeout(() => this.#onTimer(), this.#flushIntervalMs).unref();
  }

  #addDenied(key: string, row: DeniedRow): void {
    const group = this.#denied.get(key);
    if (group) group[7] += row[7];
    else this.#denied.set(key, row);
  }

  /**
   * Writes every buffered entry now, in one transaction (in background mode: hands them to the
   * writer thread, which writes them shortly).
   * @returns how many were written or handed over (0 when the write failed; see onError)
   */
  async flush(): Promise<number> {
    return this.#flush();
  }

  #flush(): number {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#buffer.length === 0 && this.#denied.size === 0) return 0;
    const rows = this.#buffer;
    this.#buffer = [];
    if (this.#urlRows.size) this.#urlRows = new Map();
    const groups = this.#denied;
    const denied = groups.size > 0 ? [...groups.values()] : undefined;
    if (denied) this.#denied = new Map();
    const count = rows.length + (denied?.length ?? 0);
    if (this.#worker) {
      this.#worker.postMessage(denied ? { rows, denied } : { rows });
      this.#batchesPosted++;
      this.#rowsPosted += count;
      return count;
    }
    try {
      this.#insertMany(rows, denied);
      return count;
    } catch (err) {
      for (const [key, row] of groups) this.#addDenied(key, row);
      this.#buffer = rows.concat(this.#buffer);
      const excess = this.#buffer.length - this.#maxBuffered;
      if (excess > 0) {
        this.#buffer.splice(0, excess);
        this.#dropped += excess;
      }
      this.#onError(err, this.#buffer.length);
      if (!this.#closed) this.#timer = setTimeout(() => this.#onTimer(), this.#flushIntervalMs).unref();
      return 0;
    }
  }

  /**
   * Waits (blocking, at most `waitMs`) until the writer thread has taken every batch handed to
   * it: written, or kept after a failure that onError reported.
   * @returns false if it did not within the time
   */
  #settle(slot: number, target: number): boolean {
    const counters = this.#counters!;
    const deadline = Date.now() + this.#waitMs;
    for (;;) {
      const seen = Atomics.load(counters, slot);
      if (seen >= target || !this.#worker) return seen >= target;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(counters, slot, seen, left);
    }
  }

  /** Before a read: every entry recorded so far is written (or handed over and taken by the writer thread). */
  #catchUp(): void {
    if (!this.#closed) this.#flush();
    if (this.#worker) this.#settle(COUNTER.batches, this.#batchesPosted);
  }

  /** Matching rows; buffered entries are flushed first, so they are included. */
  async query(q: AuditQuery = {}): Promise<AuditRow[]> {
    this.#catchUp();
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.sid !== undefined) {
      where.push('call_sid = ?');
      params.push(q.sid);
    }
    if (q.org !== undefined) {
      where.push('org_id = ?');
      params.push(q.org);
    }
    if (q.action === undefined) {
      where.push("action <> 'denied'");
    } else {
      where.push('action = ?');
      params.push(q.action);
    }
    if (q.since !== undefined) {
      where.push('at >= ?');
      params.push(q.since.toISOString());
    }
    if (q.until !== undefined) {
      where.push('at < ?');
      params.push(q.until.toISOString());
    }
    const order = q.order === 'asc' ? 'ASC' : 'DESC';
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 1000), 1), 100_000);
    params.push(limit);
    const sql =
      `SELECT id, at, action, org_id, call_sid, principal, client, status, bytes, ${q.action === 'denied' ? 'code, count' : "CASE WHEN action = 'stream_url' THEN count END AS count"} FROM access_audit` +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY at ${order}, id ${order} LIMIT ?`;
    let statement = this.#queries.get(sql);
    if (!statement) {
      statement = this.#db.prepare<unknown[], AuditRow>(sql);
      this.#queries.set(sql, statement);
    }
    const rows = statement.all(...params);
    // Only stream-URL rows (`record`) and denied rows count the requests they stand for.
    for (const row of rows) if (row.count === null) delete row.count;
    return rows;
  }

  /**
   * Deletes the rows older than `until` (audit-retention.ts), `batchSize` rows a transaction with
   * `pauseMs` between. In background mode the writer thread does it between its batches, so the
   * request thread never holds a delete; otherwise it runs here, yielding between transactions.
   * @returns how many rows it deleted (fewer when stopped by `signal` or close)
   */
  async prune(until: Date, options: AuditPruneOptions = {}): Promise<number> {
    const batchSize = Math.max(1, Math.trunc(options.batchSize ?? PRUNE_BATCH));
    const pauseMs = Math.max(0, options.pauseMs ?? 0);
    const { signal } = options;
    if (this.#closed || signal?.aborted) return 0;
    const worker = this.#worker;
    if (worker) {
      const seq = ++this.#pruneSeq;
      const job: WorkerPrune = { seq, until: until.toISOString(), batchSize, pauseMs };
      const stop = () => worker.postMessage({ pruneStop: seq });
      signal?.addEventListener('abort', stop, { once: true });
      try {
        return await new Promise<number>((resolve, reject) => {
          this.#prunes.set(seq, { resolve, reject });
          worker.postMessage({ prune: job });
        });
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    }
    this.#pruneStep ??= pruneStep(this.#db);
    let total = 0;
    for (;;) {
      const deleted = this.#pruneStep(until.toISOString(), batchSize);
      total += deleted;
      if (deleted < batchSize) return total;
      await sleep(pauseMs);
      if (this.#closed || signal?.aborted) return total;
    }
  }

  /** Every row older than `until`, oldest first; what was recorded before the call is included. */
  async *rowsBefore(until: Date): AsyncIterable<AuditRow> {
    this.#catchUp();
    yield* auditRowsBefore(this.#db, until);
  }

  /**
   * Flushes what is buffered and refuses further records. Idempotent. Does not close the
   * database. In background mode it waits (at most `waitMs`) for the writer thread's last write.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    const worker = this.#worker;
    if (!worker) return;
    worker.postMessage({ close: true });
    const finished = this.#settle(COUNTER.closed, 1);
    this.#worker = undefined;
    if (finished) return; // the thread ends by itself once its port is closed
    this.#onError(new Error('the audit writer thread did not finish in time'), this.pending);
    void worker.terminate();
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#flush();
  }
}
