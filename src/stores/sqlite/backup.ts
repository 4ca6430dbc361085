/**
 * `recproxy backup`: SQLite's online backup of the call index (with its API keys) and the access
 * audit, taken while a daemon serves and other processes write (better-sqlite3's `backup()`,
 * which copies pages and restarts when a writer changes one it has copied), each copy then
 * checked with `PRAGMA integrity_check`. A copy that fails the check is removed.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { InvalidRequest } from '../../core/errors.js';
import { auditPathFor } from './audit.js';

export interface BackedUpFile {
  /** Which store: `index` (calls and API keys) or `audit`. */
  store: 'index' | 'audit';
  from: string;
  to: string;
  bytes: number;
  /** Its main table's rows in the copy (calls, audit rows). */
  rows: number;
}

/**
 * Copies the index at `dbPath` and its audit (`auditDbPath`, default beside the index) into the
 * folder `dest` (made when missing), under their own file names. Files already there are refused,
 * never overwritten. An audit file that does not exist yet is skipped.
 * @throws InvalidRequest (a copy would overwrite a file; the index is missing; a copy fails its check)
 */
export async function backupSqliteStores(dbPath: string, auditDbPath: string | undefined, dest: string): Promise<BackedUpFile[]> {
  if (!existsSync(dbPath)) throw new InvalidRequest(`no call index at ${dbPath}`);
  const sources: { store: BackedUpFile['store']; from: string; table: string }[] = [{ store: 'index', from: dbPath, table: 'calls' }];
  const audit = auditDbPath ?? auditPathFor(dbPath);
  if (existsSync(audit)) sources.push({ store: 'audit', from: audit, table: 'access_audit' });
  await mkdir(dest, { recursive: true });
  const planned = sources.map((s) => ({ ...s, to: join(dest, basename(s.from)) }));
  for (const p of planned) if (existsSync(p.to)) throw new InvalidRequest(`${p.to} already exists: back up into an empty folder`);

  const done: BackedUpFile[] = [];
  for (const p of planned) {
    const source = new Database(p.from, { readonly: true, fileMustExist: true });
    try {
      // Waits out another process's write lock instead of failing at once.
      source.pragma('busy_timeout = 5000');
      await source.backup(p.to);
    } finally {
      source.close();
    }
    // One self-contained file: the copy leaves WAL mode (recproxy sets it again when it opens
    // the file), so no -wal or -shm file has to travel with it.
    const copy = new Database(p.to, { fileMustExist: true });
    let rows: number;
    try {
      copy.pragma('journal_mode = DELETE');
      const check = copy.pragma('integrity_check', { simple: true });
      if (check !== 'ok') {
        copy.close();
        await rm(p.to, { force: true });
        throw new InvalidRequest(`the copy of ${p.from} failed its integrity check (${String(check)}); it was removed`);
      }
      rows = (copy.prepare(`SELECT count(*) AS n FROM ${p.table}`).get() as { n: number }).n;
    } finally {
      if (copy.open) copy.close();
    }
    done.push({ store: p.store, from: p.from, to: p.to, bytes: (await stat(p.to)).size, rows });
  }
  return done;
}
