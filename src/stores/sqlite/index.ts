/**
 * The SQLite stores, opened together: the call index and the API keys on one connection to
 * the index file, the access audit in a file of its own. The only way the rest of recproxy
 * gets them (src/context.ts); everything SQLite (connections, migrations, caches and their
 * `data_version` checks, the audit's writer thread) stays in this folder.
 */
import Database from 'better-sqlite3';
import { SqliteApiKeys } from './api-keys.js';
import { SqliteAuditLog, auditPathFor, moveLegacyAudit, openAuditDb, rowInserter, type InsertRow } from './audit.js';
import { SERVING_BUSY_TIMEOUT_MS, SqliteCallIndex } from './call-index.js';
import type { ApiKeys, AuditSink, CallIndex, CallRow } from '../types.js';

export { SERVING_BUSY_TIMEOUT_MS };
export { backupSqliteStores, type BackedUpFile } from './backup.js';

export interface SqliteStoreOptions {
  /** The call index file (`:memory:` for one that lives and dies with the process). */
  dbPath: string;
  /** The audit's file; default: beside the index (auditPathFor). */
  auditDbPath?: string;
  /** Audit inserts on a writer thread (the daemon); one-shot CLI commands write in-line. */
  backgroundAudit?: boolean;
  /**
   * The index's busy timeout once the stores are open (the daemon: SERVING_BUSY_TIMEOUT_MS);
   * migrations and the audit move at start wait the default 5 s.
   */
  indexBusyTimeoutMs?: number;
  /** Told of each failed audit write, with how many entries are pending (log it). */
  onAuditError?: (err: unknown, pending: number) => void;
}

export interface Stores {
  index: CallIndex;
  apiKeys: ApiKeys;
  audit: AuditSink;
  /** Writes what is pending (key uses, audit rows) and closes every connection. */
  close(): Promise<void>;
}

/**
 * Opens the index (creating it when no file is there), the key store on the same connection,
 * and the audit database; moves an old index's audit rows into the latter. When a step fails,
 * what was already opened is closed before the error is thrown.
 * @throws DatabaseInvalid when the index file exists but is empty or not SQLite; an Error when
 *   a file carries a newer schema than this recproxy knows
 */
export async function openSqliteStores(options: SqliteStoreOptions): Promise<Stores> {
  const index = new SqliteCallIndex(options.dbPath);
  const apiKeys = new SqliteApiKeys(index.db, { dataVersion: index.dataVersion });
  const auditPath = options.auditDbPath ?? auditPathFor(options.dbPath);
  let auditDb: Database.Database;
  try {
    auditDb = openAuditDb(auditPath);
    moveLegacyAudit(index.db, auditPath);
  } catch (err) {
    await index.close();
    throw err;
  }
  if (options.indexBusyTimeoutMs !== undefined) index.setBusyTimeout(options.indexBusyTimeoutMs);
  const audit = new SqliteAuditLog(auditDb, { onError: options.onAuditError, background: options.backgroundAudit });
  return {
    index,
    apiKeys,
    audit,
    async close() {
      await apiKeys.close();
      await audit.close();
      auditDb.close();
      await index.close();
    },
  };
}

/**
 * Benchmark fixtures: adds `count` calls `call_g0 … call_g{count-1}` of `org` to the index at
 * `dbPath` (created and migrated as recproxy does), all pointing at `template`'s storage key,
 * with one prepared insert in one transaction, then checkpoints the WAL.
 */
export function fillSqliteIndex(dbPath: string, count: number, org: string, template: CallRow): void {
  const index = new SqliteCallIndex(dbPath);
  try {
    const insert = index.db.prepare(
      `INSERT INTO calls (call_sid, org_id, to_number, from_number, started_at, duration_ms, storage_key,
                          content_type, size_bytes, sha256, created_at)
       VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const now = new Date().toISOString();
    index.db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const startedAt = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString();
        insert.run(`call_g${i}`, org, template.to_number, startedAt, template.duration_ms, template.storage_key,
          template.content_type, template.size_bytes, template.sha256, now);
      }
    })();
    index.db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    index.db.close();
  }
}

/** A consistent copy of the index at `from` (calls, API keys, everything) into `to`. */
export function copySqliteIndex(from: string, to: string): void {
  const db = new Database(from, { readonly: true });
  try {
    db.prepare('VACUUM INTO ?').run(to);
  } finally {
    db.close();
  }
}

/**
 * Benchmark fixtures: adds `count` access audit rows to the audit file at `path` (created and
 * migrated as recproxy does), one every 10 ms from `first`: `media` and `stream_url` reads over
 * 20 organizations and 200,000 calls, as players leave them. Checkpoints the WAL.
 */
export function fillSqliteAudit(path: string, count: number, first: Date): void {
  const db = openAuditDb(path);
  try {
    const insert = rowInserter(db);
    const BATCH = 50_000;
    for (let done = 0; done < count; done += BATCH) {
      const rows: InsertRow[] = [];
      for (let k = done; k < Math.min(count, done + BATCH); k++) {
        const read = k % 3 !== 0;
        rows.push([new Date(first.getTime() + k * 10).toISOString(), read ? 'media' : 'stream_url', `org_${k % 20}`,
          `call_${(k * 7919) % 200_000}x`, 'a1b2c3d4e5f6', `203.0.113.${k % 250}`, read ? 206 : 200, read ? 65536 : null, 1]);
      }
      insert(rows);
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** What an audit file holds, read-only: rows, rows before `before`, its pages and free pages. */
export function sqliteAuditPages(path: string, before: Date): { rows: number; expired: number; pages: number; free: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const count = (where: string, ...params: string[]) => (db.prepare(`SELECT count(*) AS n FROM access_audit WHERE ${where}`).get(...params) as { n: number }).n;
    return {
      rows: count('1'),
      expired: count('at < ?', before.toISOString()),
      pages: db.pragma('page_count', { simple: true }) as number,
      free: db.pragma('freelist_count', { simple: true }) as number,
    };
  } finally {
    db.close();
  }
}
