/**
 * The access audit: one row per stream URL issued and per download or media read, in the call
 * index's SQLite file, read back by `recproxy audit`.
 *
 * Cheap on the hot path: `record` only pushes onto an in-memory buffer. The buffer is written
 * in one transaction when it reaches `maxBatch` entries (default 500), at the latest
 * `flushIntervalMs` (default 100 ms) after its first entry, and on `close()`. The timer is
 * unref'd, so a pending flush never keeps the process alive; call `close()` on shutdown.
 * A failed write (disk full, a lock held past the busy timeout) keeps the entries for the next
 * attempt and reports through `onError`; past `maxBuffered` entries the oldest are dropped and
 * counted in `dropped`, so a dead disk cannot exhaust memory.
 */
import type Database from 'better-sqlite3';

/** Schema steps for the index's append-only MIGRATIONS array (one entry, one user_version). */
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
];

export type AuditAction = 'stream_url' | 'download' | 'media';

export interface AuditEntry {
  action: AuditAction;
  org: string;
  callSid: string;
  /** API key id, JWT subject or proxy user; null for media reads (the token is the capability). */
  principal?: string | null;
  /** The client's address (request.ip). */
  client?: string | null;
  /** The HTTP status answered. */
  status?: number | null;
  /** Body bytes sent (0 for HEAD, 304; the URL issue has none). */
  bytes?: number | null;
  /** When it happened; defaults to the moment `record` is called. */
  at?: Date;
}

/** A row as stored. `at` is an ISO 8601 UTC timestamp with milliseconds. */
export interface AuditRow {
  id: number;
  at: string;
  action: AuditAction;
  org_id: string;
  call_sid: string;
  principal: string | null;
  client: string | null;
  status: number | null;
  bytes: number | null;
}

export interface AuditQuery {
  sid?: string;
  org?: string;
  /** Rows at or after this instant. */
  since?: Date;
  /** Rows before this instant. */
  until?: Date;
  /** At most this many rows (default 1000, at most 100000). */
  limit?: number;
  /** `desc` (the default): newest first; `asc`: oldest first. */
  order?: 'asc' | 'desc';
}

export interface AuditLogOptions {
  flushIntervalMs?: number;
  maxBatch?: number;
  /** Entries kept in memory while writes fail; beyond it the oldest are dropped. Default 100000. */
  maxBuffered?: number;
  /** Called when a flush fails (log it). Default: ignore. */
  onError?: (err: unknown, pending: number) => void;
}

type InsertParams = Omit<AuditRow, 'id'>;

export class AuditLog {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement<[InsertParams]>;
  readonly #insertMany: (rows: InsertParams[]) => void;
  readonly #queries = new Map<string, Database.Statement<unknown[], AuditRow>>();
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #onError: (err: unknown, pending: number) => void;
  #buffer: InsertParams[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #dropped = 0;

  /** `db` must already carry AUDIT_MIGRATIONS. `close()` flushes but never closes `db`. */
  constructor(db: Database.Database, options: AuditLogOptions = {}) {
    this.#db = db;
    this.#flushIntervalMs = options.flushIntervalMs ?? 100;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    this.#onError = options.onError ?? (() => {});
    this.#insert = db.prepare(
      `INSERT INTO access_audit (at, action, org_id, call_sid, principal, client, status, bytes)
       VALUES (@at, @action, @org_id, @call_sid, @principal, @client, @status, @bytes)`,
    );
    this.#insertMany = db.transaction((rows: InsertParams[]) => {
      for (const row of rows) this.#insert.run(row);
    });
  }

  /** Entries recorded but not yet written. */
  get pending(): number {
    return this.#buffer.length;
  }

  /** Entries thrown away because writes kept failing. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Queues one entry; never throws, never waits for the disk. After `close()` the entry is
   * counted in `dropped` and reported through onError (a request that outlived shutdown).
   */
  record(entry: AuditEntry): void {
    if (this.#closed) {
      this.#dropped++;
      this.#onError(new Error('audit entry recorded after close'), 0);
      return;
    }
    this.#buffer.push({
      at: (entry.at ?? new Date()).toISOString(),
      action: entry.action,
      org_id: entry.org,
      call_sid: entry.callSid,
      principal: entry.principal ?? null,
      client: entry.client ?? null,
      status: entry.status ?? null,
      bytes: entry.bytes ?? null,
    });
    if (this.#buffer.length >= this.#maxBatch) this.flush();
    else this.#timer ??= setTimeout(() => this.#onTimer(), this.#flushIntervalMs).unref();
  }

  /**
   * Writes every buffered entry now, in one transaction.
   * @returns how many were written (0 when the write failed; see onError)
   */
  flush(): number {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#buffer.length === 0) return 0;
    const rows = this.#buffer;
    this.#buffer = [];
    try {
      this.#insertMany(rows);
      return rows.length;
    } catch (err) {
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

  /** Matching rows; buffered entries are flushed first, so they are included. */
  query(q: AuditQuery = {}): AuditRow[] {
    if (!this.#closed) this.flush();
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
      'SELECT id, at, action, org_id, call_sid, principal, client, status, bytes FROM access_audit' +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY at ${order}, id ${order} LIMIT ?`;
    let statement = this.#queries.get(sql);
    if (!statement) {
      statement = this.#db.prepare<unknown[], AuditRow>(sql);
      this.#queries.set(sql, statement);
    }
    return statement.all(...params);
  }

  /** Flushes what is buffered and refuses further records. Idempotent. Does not close the database. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.flush();
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.flush();
  }
}
