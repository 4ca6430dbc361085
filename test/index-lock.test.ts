/**
 * Another process holding the call index's write lock (the CLI, an operator's `sqlite3`) does
 * not hold up the daemon: its requests only read, `last_used_at` waits in memory until the
 * lock is gone, and an index that cannot be read answers 503 INDEX_BUSY at once.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { SqliteApiKeys } from '../src/stores/sqlite/api-keys.js';
import { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import { startDaemon } from './helpers/daemon.js';
import { holdWriteLock } from './helpers/index-lock.js';
import { makeWav } from './helpers/wav.js';

const ORG = 'org_lock';
// Shorter than the busy timeout the index had (5 s): a request that waited for the lock would
// be answered only once the holder let go by itself.
const MAX_HOLD_MS = 4000;

t.test('a write lock held outside: every request answers while it is held; last_used_at follows', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: 'call_lock', to: '+1555', bytes: makeWav(1) });
  const used = d.headers(ORG);
  t.equal((await fetch(`${d.url}/api/calls/call_lock/recording/stream`, { headers: used })).status, 200, 'a key used before the lock');
  const fresh = await d.ctx.apiKeys.create({ orgs: [ORG] });
  const freshHeaders = { Authorization: `Bearer ${fresh.key}`, 'X-Organization-Id': ORG };

  const lock = await holdWriteLock(d.ctx.config.dbPath, MAX_HOLD_MS);
  t.teardown(() => lock.release());
  const started = Date.now();
  const answers = await Promise.all([
    fetch(`${d.url}/healthz`),
    fetch(`${d.url}/api/calls/call_lock/recording/stream`, { headers: freshHeaders }),
    fetch(`${d.url}/api/calls/call_lock/recording/download`, { headers: freshHeaders }),
    fetch(`${d.url}/api/calls/call_lock/recording/download`, { headers: used }),
  ]);
  const stillHeld = lock.held();
  t.comment(`answered in ${Date.now() - started} ms with the lock held`);
  t.same(answers.map((r) => r.status), [200, 200, 200, 200], 'healthz, a key never used before, a key used recently');
  await Promise.all(answers.map((r) => r.arrayBuffer()));
  t.ok(stillHeld, 'all answered before the lock was released');

  await lock.release();
  t.ok((await d.ctx.apiKeys.get(fresh.id))?.lastUsedAt, "the new key's last_used_at is written once the lock is gone");
});

t.test('a verify under a held lock returns at once; last_used_at is written on a later attempt', async (t) => {
  const dir = t.testdir();
  // The key store on the index's own connection, as openSqliteStores builds it.
  const index = new SqliteCallIndex(`${dir}/index.db`);
  t.teardown(() => index.close());
  const store = new SqliteApiKeys(index.db, { retryMs: 20 });
  t.teardown(() => store.close());
  const { key, id } = await store.create({ orgs: [ORG] });
  // Held from this thread: a verify that waited for it would wait out the whole busy timeout.
  const other = new Database(`${dir}/index.db`);
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  t.ok(await store.verify(key), 'verified while the index is locked');
  t.notOk(await store.flushUses({ wait: false }), 'the write is kept, not waited for');
  other.exec('ROLLBACK');
  for (let i = 0; i < 200 && other.prepare('SELECT last_used_at FROM api_keys WHERE id = ?').pluck().get(id) === null; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.ok(other.prepare('SELECT last_used_at FROM api_keys WHERE id = ?').pluck().get(id), 'the retry wrote it');
});

t.test('an index that cannot be read answers 503 INDEX_BUSY, and the daemon serves on', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  t.equal((d.ctx.index as SqliteCallIndex).busyTimeoutMs, 50, 'the daemon waits briefly for a lock');
  await d.addCall({ org: ORG, sid: 'call_busy', to: '+1555', bytes: makeWav(1) });
  const headers = d.headers(ORG);
  const find = d.ctx.index.find;
  // In WAL mode another process cannot block reads; SQLite's own rare waits can still end so.
  d.ctx.index.find = () => {
    throw Object.assign(new Database.SqliteError('database is locked', 'SQLITE_BUSY'));
  };
  const res = await fetch(`${d.url}/api/calls/call_busy/recording/download`, { headers });
  t.equal(res.status, 503);
  t.same(await res.json(), { success: false, error: { code: 'INDEX_BUSY', message: 'the call index is busy; try again shortly' } });
  d.ctx.index.find = find;
  t.equal((await fetch(`${d.url}/api/calls/call_busy/recording/download`, { headers })).status, 200, 'served again');
  t.equal((await fetch(`${d.url}/healthz`)).status, 200);
});
