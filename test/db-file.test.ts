/**
 * A new index is created, and said so with its path; an existing file that is empty or not
 * SQLite is refused with a clear error and left as it was, never replaced by a fresh index.
 */
import t, { type Test } from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import { openDatabaseFile } from '../src/stores/sqlite/db-file.js';
import { runCli } from './helpers/cli.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-dbfile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a missing file is created whole, once; an existing one is opened', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'sub', 'index.db');
  const first = new SqliteCallIndex(path);
  t.equal(first.created, true, 'created, with its directory');
  await first.close();
  t.same(readdirSync(join(dir, 'sub')).filter((f) => f.includes('.new')), [], 'no draft left beside it');
  const again = new SqliteCallIndex(path);
  t.equal(again.created, false, 'the second open finds it');
  await again.close();
  const memory = openDatabaseFile(':memory:', 'test');
  t.equal(memory.created, false);
  memory.db.close();
});

t.test('an empty or foreign file is refused, named, and left untouched', async (t) => {
  const dir = await tempDir(t);
  const empty = join(dir, 'index.db');
  const foreign = join(dir, 'notes.db');
  await writeFile(empty, '');
  await writeFile(foreign, 'call notes, not a database\n');
  t.throws(() => new SqliteCallIndex(empty), {
    code: 'DATABASE_INVALID',
    message: `call index ${empty} is an empty file; restore it from a backup, or move it away to start a new, empty call index`,
  });
  t.throws(() => new SqliteCallIndex(foreign), { code: 'DATABASE_INVALID', message: new RegExp(`^call index ${foreign} is not a SQLite database`) });
  t.equal(statSync(empty).size, 0, 'the empty file stays empty');
  t.equal(readFileSync(foreign, 'utf8'), 'call notes, not a database\n', 'the foreign file is unchanged');
  t.notOk(existsSync(`${empty}-wal`), 'no WAL was started beside it');
});

t.test('the CLI says when it creates an index, and refuses an empty one', async (t) => {
  const cwd = await tempDir(t);
  const fresh = await runCli(['keys', 'list'], { cwd });
  t.equal(fresh.code, 0, fresh.stderr);
  t.match(fresh.stderr, `recproxy: created a new, empty call index at ${join(cwd, 'data', 'index.db')}`);
  const again = await runCli(['keys', 'list'], { cwd });
  t.notMatch(again.stderr, /created/, 'said once, when it happens');

  const other = await tempDir(t);
  await mkdir(join(other, 'data'));
  await writeFile(join(other, 'data', 'index.db'), '');
  for (const args of [['keys', 'list'], ['serve']]) {
    const r = await runCli(args, { cwd: other, env: { PORT: '0' } });
    t.equal(r.code, 1, `${args.join(' ')} exits 1`);
    t.match(r.stderr, /^recproxy: DATABASE_INVALID: call index .*index\.db is an empty file; restore it from a backup/m);
    t.equal(statSync(join(other, 'data', 'index.db')).size, 0, 'and leaves it as it was');
  }
});
