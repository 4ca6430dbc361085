/**
 * The call index (src/stores/types.ts `CallIndex`) in SQLite: one row per call, in WAL mode
 * with a busy timeout, migrated by `PRAGMA user_version`. Every lookup is a prepared statement
 * made once. The file also holds the API keys (api-keys.ts), on the same connection.
 *
 * The busy timeout is how long a statement waits, blocking its thread, for a lock another
 * process holds: 5 s for the CLI's writes; the daemon lowers it to SERVING_BUSY_TIMEOUT_MS
 * once it has started (openSqliteStores, index.ts), so a locked index fails a request at once
 * (INDEX_BUSY) instead of holding every other request up.
 */
import type Database from 'better-sqlite3';
import { AUDIT_MIGRATIONS } from './audit.js';
import { applyMigrations } from './migrations.js';
import { API_KEY_MIGRATIONS } from './api-keys.js';
import { openDatabaseFile } from './db-file.js';
import { DataVersion, VersionedCache } from './db-version.js';
import { CallExists } from '../../core/errors.js';
import type { CallFilter, CallIndex, CallPatch, CallPeaks, CallRow, ExpiredCall, ExpiryQuery, ListPosition, ListedCall, NewCall, TextMatch } from '../types.js';

/** Each entry moves the schema from version i to i+1. Append only. */
const MIGRATIONS: string[] = [
  `CREATE TABLE calls (
     id            INTEGER PRIMARY KEY,
     call_sid      TEXT    NOT NULL UNIQUE,
     org_id        TEXT    NOT NULL,
     to_number     TEXT    NOT NULL,
     from_number   TEXT,
     started_at    TEXT,
     duration_ms   INTEGER,
     storage_key   TEXT    NOT NULL,
     content_type  TEXT    NOT NULL,
     size_bytes    INTEGER NOT NULL,
     sha256        TEXT    NOT NULL,
     created_at    TEXT    NOT NULL,
     deleted_at    TEXT
   );
   CREATE INDEX calls_org_started ON calls (org_id, started_at);`,
  ...API_KEY_MIGRATIONS,
  // The access audit lived in the index until it got a file of its own (audit.ts). The step
  // stays, so versions keep their meaning (AUDIT_MIGRATIONS is append-only: its first step never
  // changes); moveLegacyAudit() moves the rows out and drops the table.
  AUDIT_MIGRATIONS[0]!,
  // The listing (`list`): started_at as epoch milliseconds, whatever ISO 8601 form it was
  // written in (NULL when absent or unreadable), and an index in the listing order over live rows.
  `ALTER TABLE calls ADD COLUMN started_ms INTEGER
     GENERATED ALWAYS AS (CAST(ROUND(unixepoch(started_at, 'subsec') * 1000) AS INTEGER)) VIRTUAL;
   CREATE INDEX calls_org_listing ON calls (org_id, started_ms, id) WHERE deleted_at IS NULL;`,
  // Legal hold (`setHold`) and retention (`expired`): a call's age instant is its started_at, or
  // its created_at when it has none; one index over live, unheld rows for all organizations and
  // one per organization, in the retention order.
  `ALTER TABLE calls ADD COLUMN legal_hold_at TEXT;
   ALTER TABLE calls ADD COLUMN age_ms INTEGER
     GENERATED ALWAYS AS (coalesce(started_ms, CAST(ROUND(unixepoch(created_at, 'subsec') * 1000) AS INTEGER))) VIRTUAL;
   CREATE INDEX calls_retention ON calls (age_ms, id) WHERE deleted_at IS NULL AND legal_hold_at IS NULL;
   CREATE INDEX calls_org_retention ON calls (org_id, age_ms, id) WHERE deleted_at IS NULL AND legal_hold_at IS NULL;`,
  // Waveform peaks (`getPeaks`, `putPeaks`): one row per call at the base resolution, the pairs
  // as little-endian 16-bit values, with the sha256 of the bytes they came from.
  `CREATE TABLE call_peaks (
     call_id      INTEGER PRIMARY KEY REFERENCES calls (id),
     sha256       TEXT    NOT NULL,
     unavailable  TEXT,
     sample_rate  INTEGER NOT NULL,
     frames       INTEGER NOT NULL,
     data         BLOB    NOT NULL
   );`,
];

/**
 * The daemon's busy timeout on the index. Its requests only read, and in WAL mode a writer does
 * not block readers: this covers SQLite's short internal waits, not another process's lock.
 */
export const SERVING_BUSY_TIMEOUT_MS = 50;

const COLUMNS =
  'call_sid, org_id, to_number, from_number, started_at, duration_ms, storage_key, content_type, size_bytes, sha256, created_at, deleted_at, legal_hold_at';

/** A row of COLUMNS as `raw()` returns it: the values in COLUMNS' order. */
type RawCallRow = [string, string, string, string | null, string | null, number | null, string, string, number, string, string, string | null, string | null];

/**
 * The CallRow of a raw row. The lookup every new stream URL makes (`find`) reads its row as an
 * array and builds the object here, in one literal: better-sqlite3's own row objects are made
 * property by property with each column's name looked up again (~1-2 µs of a ~20 µs lookup on a
 * 1,000,000-call index), and a literal gives every row one shape.
 */
function callRowOf(r: RawCallRow): CallRow {
  return {
    call_sid: r[0],
    org_id: r[1],
    to_number: r[2],
    from_number: r[3],
    started_at: r[4],
    duration_ms: r[5],
    storage_key: r[6],
    content_type: r[7],
    size_bytes: r[8],
    sha256: r[9],
    created_at: r[10],
    deleted_at: r[11],
    legal_hold_at: r[12],
  };
}

export class SqliteCallIndex implements CallIndex {
  /** The connection; the API keys share it (openSqliteStores). Nothing outside this folder uses it. */
  readonly db: Database.Database;
  /** True when opening it created the file: a new, empty index. */
  readonly created: boolean;
  /** Shared by every memoised read over this database. */
  readonly dataVersion: DataVersion;
  readonly #bySid: Database.Statement<[string], CallRow>;
  readonly #byOrgSid: Database.Statement<[string, string], RawCallRow>;
  readonly #insert: Database.Statement<[NewCall & { created_at: string }]>;
  readonly #markDeleted: Database.Statement<[string, string]>;
  readonly #update: Database.Statement<[Record<string, string | number | null>], CallRow>;
  /** `insertMany`'s insert: a call_sid already indexed writes nothing (changes 0). */
  readonly #insertNew: Database.Statement<[NewCall & { created_at: string }]>;
  readonly #setHold: Database.Statement<[number, string, string]>;
  readonly #getPeaks: Database.Statement<[string], { sha256: string; unavailable: string | null; sample_rate: number; frames: number; data: Buffer }>;
  readonly #putPeaks: Database.Statement<[Record<string, string | number | Buffer | null>]>;
  readonly #dropPeaks: Database.Statement<[string]>;
  /** The retention statements, by their SQL (with or without an organization, exclusions, a position). */
  readonly #expiries = new Map<string, Database.Statement<unknown[], CallRow & { pos_ms: number; pos_seq: number }>>();
  /** Live rows by org and call asked for more than once, until the database changes. */
  readonly #found: VersionedCache<CallRow>;
  /** The listing statements, by their SQL (one per combination of filters). */
  readonly #listings = new Map<string, Database.Statement<unknown[], CallRow & { pos_ms: number | null; pos_seq: number }>>();

  /** @throws DatabaseInvalid when `path` exists but is empty or not a SQLite database */
  constructor(path: string) {
    ({ db: this.db, created: this.created } = openDatabaseFile(path, 'call index'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    migrate(this.db);
    this.#bySid = this.db.prepare(`SELECT ${COLUMNS} FROM calls WHERE call_sid = ?`);
    this.#byOrgSid = this.db
      .prepare<[string, string], RawCallRow>(`SELECT ${COLUMNS} FROM calls WHERE org_id = ? AND call_sid = ? AND deleted_at IS NULL`)
      .raw();
    this.#insert = this.db.prepare(
      `INSERT INTO calls (call_sid, org_id, to_number, from_number, started_at, duration_ms, storage_key,
                          content_type, size_bytes, sha256, created_at)
       VALUES (@call_sid, @org_id, @to_number, @from_number, @started_at, @duration_ms, @storage_key,
               @content_type, @size_bytes, @sha256, @created_at)`,
    );
    this.#insertNew = this.db.prepare(
      `INSERT INTO calls (call_sid, org_id, to_number, from_number, started_at, duration_ms, storage_key,
                          content_type, size_bytes, sha256, created_at)
       VALUES (@call_sid, @org_id, @to_number, @from_number, @started_at, @duration_ms, @storage_key,
               @content_type, @size_bytes, @sha256, @created_at)
       ON CONFLICT (call_sid) DO NOTHING`,
    );
    this.#markDeleted = this.db.prepare(
      'UPDATE calls SET deleted_at = ? WHERE call_sid = ? AND deleted_at IS NULL',
    );
    // An absent field (NULL) keeps its value; a duration is set only where there is none.
    this.#update = this.db.prepare(
      `UPDATE calls SET to_number = COALESCE(@to_number, to_number), from_number = COALESCE(@from_number, from_number),
                        started_at = COALESCE(@started_at, started_at), duration_ms = COALESCE(duration_ms, @duration_ms)
       WHERE org_id = @org AND call_sid = @sid AND deleted_at IS NULL
       RETURNING ${COLUMNS}`,
    );
    this.#setHold = this.db.prepare(
      'UPDATE calls SET legal_hold_at = CASE WHEN ? THEN coalesce(legal_hold_at, ?) END WHERE call_sid = ? AND deleted_at IS NULL',
    );
    this.#getPeaks = this.db.prepare(
      `SELECT p.sha256, p.unavailable, p.sample_rate, p.frames, p.data FROM call_peaks p JOIN calls c ON c.id = p.call_id
       WHERE c.call_sid = ? AND c.deleted_at IS NULL`,
    );
    this.#putPeaks = this.db.prepare(
      `INSERT OR REPLACE INTO call_peaks (call_id, sha256, unavailable, sample_rate, frames, data)
       SELECT id, @sha256, @unavailable, @sample_rate, @frames, @data FROM calls WHERE call_sid = @sid AND deleted_at IS NULL`,
    );
    this.#dropPeaks = this.db.prepare('DELETE FROM call_peaks WHERE call_id IN (SELECT id FROM calls WHERE call_sid = ?)');
    this.dataVersion = new DataVersion(this.db);
    // Most lookups in a large index are of calls asked once: kept from their second lookup on.
    this.#found = new VersionedCache(this.dataVersion, undefined, { admitOnSecondLoad: true });
  }

  async get(sid: string): Promise<CallRow | undefined> {
    return this.#bySid.get(sid);
  }

  /** Memoised until the data changes (db-version.ts). */
  find(org: string, sid: string): CallRow | undefined {
    return this.#found.get(`${org}\u0000${sid}`, () => {
      const raw = this.#byOrgSid.get(org, sid);
      return raw && callRowOf(raw);
    });
  }

  async list(org: string, filter: CallFilter, after: ListPosition | undefined, limit: number): Promise<ListedCall[]> {
    const where = ['org_id = ?', 'deleted_at IS NULL'];
    const args: unknown[] = [org];
    const text = (column: string, match: TextMatch | undefined) => {
      if (!match) return;
      if ('exact' in match) {
        where.push(`${column} = ?`);
        args.push(match.exact);
      } else {
        // GLOB is case-sensitive, unlike LIKE; its wildcards in the prefix are bracketed.
        where.push(`${column} GLOB ?`);
        args.push(`${match.prefix.replace(/[*?[]/g, '[$&]')}*`);
      }
    };
    text('to_number', filter.to);
    text('from_number', filter.from);
    if (filter.since) {
      where.push('started_ms >= ?');
      args.push(filter.since.getTime());
    }
    if (filter.until) {
      where.push('started_ms < ?');
      args.push(filter.until.getTime());
    }
    if (after) {
      // Everything after `after` in the order: started_ms descending (NULL last), then id descending.
      if (after.startedMs === null) {
        where.push('(started_ms IS NULL AND id < ?)');
        args.push(after.seq);
      } else {
        where.push('(started_ms < ? OR (started_ms = ? AND id < ?) OR started_ms IS NULL)');
        args.push(after.startedMs, after.startedMs, after.seq);
      }
    }
    args.push(limit);
    const sql = `SELECT ${COLUMNS}, started_ms AS pos_ms, id AS pos_seq FROM calls
                 WHERE ${where.join(' AND ')} ORDER BY started_ms DESC, id DESC LIMIT ?`;
    let statement = this.#listings.get(sql);
    if (!statement) this.#listings.set(sql, (statement = this.db.prepare(sql)));
    return statement.all(...args).map(({ pos_ms, pos_seq, ...call }) => ({ call, position: { startedMs: pos_ms, seq: pos_seq } }));
  }

  async insert(call: NewCall): Promise<CallRow> {
    const created_at = new Date().toISOString();
    this.#found.invalidate();
    try {
      this.#insert.run({ ...call, created_at });
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new CallExists(call.call_sid, { cause: err });
      throw err;
    }
    return { ...call, created_at, deleted_at: null, legal_hold_at: null };
  }

  async update(org: string, sid: string, patch: CallPatch): Promise<CallRow | undefined> {
    this.#found.invalidate();
    return this.#update.get({
      org,
      sid,
      to_number: patch.to_number ?? null,
      from_number: patch.from_number ?? null,
      started_at: patch.started_at ?? null,
      duration_ms: patch.duration_ms ?? null,
    });
  }

  /** One transaction for the lot: a commit per row was most of `recproxy scan`'s time. */
  async insertMany(calls: NewCall[]): Promise<(CallRow | undefined)[]> {
    const created_at = new Date().toISOString();
    this.#found.invalidate();
    return this.db.transaction(() =>
      calls.map((call) => (this.#insertNew.run({ ...call, created_at }).changes ? { ...call, created_at, deleted_at: null, legal_hold_at: null } : undefined)),
    )();
  }

  /** Pages of 1,000 by call_sid, so no statement stays open between the caller's steps. */
  async *every(): AsyncGenerator<CallRow> {
    const page = this.db.prepare<[string], CallRow>(`SELECT ${COLUMNS} FROM calls WHERE call_sid > ? ORDER BY call_sid LIMIT 1000`);
    for (let after = ''; ; ) {
      const rows = page.all(after);
      for (const row of rows) yield row;
      if (rows.length < 1000) return;
      after = rows.at(-1)!.call_sid;
    }
  }

  /** `PRAGMA integrity_check`: SQLite's own check of the file (pages, indexes, constraints). */
  async checkIntegrity(): Promise<string[]> {
    const found = this.db.pragma('integrity_check', { simple: false }) as { integrity_check: string }[];
    return found.map((r) => r.integrity_check).filter((r) => r !== 'ok');
  }

  /** A tombstone keeps no peaks. */
  async markDeleted(sid: string): Promise<boolean> {
    this.#found.invalidate();
    return this.db.transaction(() => {
      this.#dropPeaks.run(sid);
      return this.#markDeleted.run(new Date().toISOString(), sid).changes > 0;
    })();
  }

  async getPeaks(sid: string): Promise<CallPeaks | undefined> {
    const row = this.#getPeaks.get(sid);
    if (!row) return undefined;
    const data = new Int16Array(row.data.length >> 1);
    for (let i = 0; i < data.length; i++) data[i] = row.data.readInt16LE(i * 2);
    return { sha256: row.sha256, unavailable: row.unavailable, sampleRate: row.sample_rate, frames: row.frames, data };
  }

  async putPeaks(sid: string, peaks: CallPeaks): Promise<boolean> {
    const data = Buffer.alloc(peaks.data.length * 2);
    for (let i = 0; i < peaks.data.length; i++) data.writeInt16LE(peaks.data[i]!, i * 2);
    const row = { sid, sha256: peaks.sha256, unavailable: peaks.unavailable, sample_rate: peaks.sampleRate, frames: peaks.frames, data };
    return this.#putPeaks.run(row).changes > 0;
  }

  async setHold(sid: string, on: boolean): Promise<CallRow | undefined> {
    this.#found.invalidate();
    if (this.#setHold.run(on ? 1 : 0, new Date().toISOString(), sid).changes === 0) return undefined;
    return this.#bySid.get(sid);
  }

  /** Walks calls_retention (or calls_org_retention with an organization) in order: each row once per pass. */
  async expired(query: ExpiryQuery, limit: number): Promise<ExpiredCall[]> {
    const where = ['deleted_at IS NULL', 'legal_hold_at IS NULL', 'age_ms < ?'];
    const args: unknown[] = [query.before.getTime()];
    if (query.org !== undefined) {
      where.push('org_id = ?');
      args.push(query.org);
    }
    if (query.excludeOrgs?.length) {
      where.push(`org_id NOT IN (${query.excludeOrgs.map(() => '?').join(', ')})`);
      args.push(...query.excludeOrgs);
    }
    if (query.after) {
      where.push('(age_ms, id) > (?, ?)');
      args.push(query.after.ageMs, query.after.seq);
    }
    args.push(limit);
    const sql = `SELECT ${COLUMNS}, age_ms AS pos_ms, id AS pos_seq FROM calls
                 WHERE ${where.join(' AND ')} ORDER BY age_ms, id LIMIT ?`;
    let statement = this.#expiries.get(sql);
    if (!statement) this.#expiries.set(sql, (statement = this.db.prepare(sql)));
    return statement.all(...args).map(({ pos_ms, pos_seq, ...call }) => ({ call, position: { ageMs: pos_ms, seq: pos_seq } }));
  }

  /** The busy timeout this connection has now, in milliseconds. */
  get busyTimeoutMs(): number {
    return this.db.pragma('busy_timeout', { simple: true }) as number;
  }

  /** Sets how long a statement waits for a lock another process holds. */
  setBusyTimeout(ms: number): void {
    this.db.pragma(`busy_timeout = ${Math.trunc(ms)}`);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

export function migrate(db: Database.Database): void {
  applyMigrations(db, MIGRATIONS, 'index');
}

