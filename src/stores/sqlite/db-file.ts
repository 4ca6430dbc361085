/**
 * Opening the SQLite files (the call index, the access audit) without taking a broken file for a
 * new one. SQLite opens an empty file as an empty database, so a truncated index.db would come
 * back as a fresh index (every key and every call gone, no word why). Here a database is created
 * only where no file exists, and an existing file must start with the SQLite header.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, copyFileSync, mkdirSync, openSync, readSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseInvalid } from '../../core/errors.js';

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');

export interface OpenedDatabase {
  db: Database.Database;
  /** True when this call created the file. */
  created: boolean;
}

/**
 * Opens the database at `path` (`what` names it in errors), creating it and its directory when
 * no file is there.
 * @throws DatabaseInvalid when the file exists but is empty or not a SQLite database
 */
export function openDatabaseFile(path: string, what: string): OpenedDatabase {
  if (path === ':memory:') return { db: new Database(path), created: false };
  const created = createIfMissing(path);
  const header = readHeader(path);
  if (!header.equals(HEADER)) {
    const found = header.length === 0 ? 'an empty file' : 'not a SQLite database';
    throw new DatabaseInvalid(
      `${what} ${resolve(path)} is ${found}; restore it from a backup, or move it away to start a new, empty ${what}`,
    );
  }
  return { db: new Database(path, { fileMustExist: true }), created };
}

/**
 * A new database appears whole: it is made beside `path` (in WAL mode, which writes its header)
 * and copied into place only if nothing is there yet, so a process opening it meanwhile never
 * sees an empty file, and two processes starting at once share one.
 */
function createIfMissing(path: string): boolean {
  try {
    closeSync(openSync(path, 'r'));
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(path), { recursive: true });
  const draft = `${path}.${randomBytes(6).toString('hex')}.new`;
  const db = new Database(draft);
  db.pragma('journal_mode = WAL');
  db.close();
  try {
    copyFileSync(draft, path, constants.COPYFILE_EXCL);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    unlinkSync(draft);
  }
}

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(HEADER.length);
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
  } finally {
    closeSync(fd);
  }
}
