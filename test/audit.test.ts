import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { AUDIT_MIGRATIONS, SqliteAuditLog, auditPathFor, openAuditDb } from '../src/stores/sqlite/audit.js';
import { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import type { AuditEntry } from '../src/stores/types.js';
import { createContext } from '../src/context.js';
import { loadConfig } from '../config/load.js';

function freshDb(): Database.Database {
  const db = new Database(':memory:');
  for (const sql of AUDIT_MIGRATIONS) db.exec(sql);
  return db;
}

/** Polls `get` until `done` holds (at most a minute). */
async function settle<T>(get: () => T, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 3000; i++) { // a writer thread starts slowly on a loaded machine
    const value = get();
    if (done(value)) return value;
    await sleep(20);
  }
  return get();
}

const rowCount = (db: Database.Database) => (db.prepare('SELECT count(*) AS n FROM access_audit').get() as { n: number }).n;

const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  action: 'download',
  org: 'org_a',
  callSid: 'call_1',
  principal: 'keyid0000001',
  client: '127.0.0.1',
  status: 200,
  bytes: 1234,
  ...over,
});

t.test('record buffers; the timer flushes in one go', async (t) => {
  const db = freshDb();
  const log = new SqliteAuditLog(db, { flushIntervalMs: 30 });
  t.teardown(async () => {
    await log.close();
    db.close();
  });
  log.record(entry());
  log.record(entry({ action: 'stream_url', bytes: null }));
  t.equal(rowCount(db), 0, 'nothing written on the hot path');
  t.equal(log.pending, 2);
  await sleep(120);
  t.equal(rowCount(db), 2, 'written by the timer');
  t.equal(log.pending, 0);
  log.record(entry());
  await sleep(120);
  t.equal(rowCount(db), 3, 'the timer re-arms for the next entry');
});

t.test('a full batch flushes at once; close flushes the rest', async (t) => {
  const db = freshDb();
  const log = new SqliteAuditLog(db, { flushIntervalMs: 60_000, maxBatch: 10 });
  t.teardown(() => db.close());
  for (let i = 0; i < 9; i++) log.record(entry());
  t.equal(rowCount(db), 0);
  log.record(entry());
  t.equal(rowCount(db), 10, 'the 10th entry flushed the batch');
  log.record(entry());
  log.record(entry());
  t.equal(rowCount(db), 10);
  await log.close();
  t.equal(rowCount(db), 12, 'close flushed');
  await log.close();
  t.equal(rowCount(db), 12, 'close is idempotent');
});

t.test('stored fields, and query filters', async (t) => {
  const db = freshDb();
  const log = new SqliteAuditLog(db);
  t.teardown(async () => {
    await log.close();
    db.close();
  });
  const at = (s: string) => new Date(`2025-03-01T${s}Z`);
  log.record(entry({ at: at('10:00:00'), callSid: 'call_1', org: 'org_a', action: 'stream_url', bytes: null, status: 200 }));
  log.record(entry({ at: at('10:00:05'), callSid: 'call_1', org: 'org_a', action: 'media', principal: null, bytes: 1000, status: 206 }));
  log.record(entry({ at: at('11:00:00'), callSid: 'call_2', org: 'org_a', action: 'download' }));
  log.record(entry({ at: at('12:00:00'), callSid: 'call_3', org: 'org_b', action: 'download', client: '::1' }));
  log.record({ action: 'media', org: 'org_b', callSid: 'call_3', at: at('12:30:00') });

  const all = await log.query();
  t.equal(all.length, 5, 'query sees buffered entries (it flushes first)');
  t.same(all.map((r) => r.at), [at('12:30:00'), at('12:00:00'), at('11:00:00'), at('10:00:05'), at('10:00:00')].map((d) => d.toISOString()), 'newest first by default');
  t.match(all[3], {
    at: '2025-03-01T10:00:05.000Z',
    action: 'media',
    org_id: 'org_a',
    call_sid: 'call_1',
    principal: null,
    client: '127.0.0.1',
    status: 206,
    bytes: 1000,
  });
  t.match(all[0], { principal: null, client: null, status: null, bytes: null }, 'optional fields default to null');

  t.same((await log.query({ sid: 'call_1', order: 'asc' })).map((r) => r.action), ['stream_url', 'media']);
  t.same((await log.query({ org: 'org_b' })).map((r) => r.call_sid), ['call_3', 'call_3']);
  t.same((await log.query({ org: 'org_a', since: at('10:00:05') })).map((r) => r.call_sid), ['call_2', 'call_1']);
  t.same((await log.query({ since: at('11:00:00'), until: at('12:00:00') })).map((r) => r.call_sid), ['call_2']);
  t.same(await log.query({ sid: 'call_3', org: 'org_a' }), [], 'sid and org combine');
  t.equal((await log.query({ limit: 2 })).length, 2);
  t.equal((await log.query({ limit: 0 })).length, 1, 'limit is at least 1');
  t.equal((await log.query({ sid: 'call_1' })).length, 2, 'a repeated query shape reuses its statement');
});

t.test("a principal's repeated stream-URL requests within a batch are one row with a count", async (t) => {
  for (const background of [false, true]) {
    const { db } = await fileDb(t);
    const log = new SqliteAuditLog(db, { background, flushIntervalMs: 60_000, waitMs: 60_000 });
    const at = (ms: number) => new Date(Date.UTC(2025, 2, 1, 10, 0, 0, ms));
    const url = (over: Partial<AuditEntry>) => entry({ action: 'stream_url', bytes: null, ...over });
    for (let i = 0; i < 5; i++) log.record(url({ at: at(i) }));
    log.record(url({ at: at(5), principal: 'keyid0000002' }));
    log.record(url({ at: at(6), client: '10.0.0.9' }));
    log.record(url({ at: at(7), callSid: 'call_2' }));
    log.record(url({ at: at(8), org: 'org_b' }));
    log.record(url({ at: at(9), status: 500 }));
    log.record(entry({ at: at(10) }));
    log.record(entry({ at: at(11) }));
    t.equal(log.pending, 8, `${background ? 'background' : 'in-line'}: one pending row for the five repeats`);
    const rows = await log.query({ order: 'asc' });
    t.same(
      rows.map((r) => [r.at, r.action, r.count]),
      [
        [at(0).toISOString(), 'stream_url', 5],
        [at(5).toISOString(), 'stream_url', 1],
        [at(6).toISOString(), 'stream_url', 1],
        [at(7).toISOString(), 'stream_url', 1],
        [at(8).toISOString(), 'stream_url', 1],
        [at(9).toISOString(), 'stream_url', 1],
        [at(10).toISOString(), 'download', undefined],
        [at(11).toISOString(), 'download', undefined],
      ],
      "the first request's time and the count; another principal, client, call, organization or status is a row of its own; reads are a row each",
    );
    t.notOk('count' in rows[6]!, 'a read row has no count');
    log.record(url({ at: at(20) }));
    log.record(url({ at: at(21) }));
    t.same(
      (await log.query({ action: 'stream_url', since: at(20) })).map((r) => [r.at, r.count]),
      [[at(20).toISOString(), 2]],
      'after a write, the next repeats start a new row',
    );
    t.equal((await log.query({ action: 'stream_url' })).reduce((n, r) => n + r.count!, 0), 12, 'every request counted once');
    await log.close();
  }
});

t.test('a failed flush keeps the entries, reports, and retries', async (t) => {
  const db = freshDb();
  const errors: unknown[] = [];
  const log = new SqliteAuditLog(db, { flushIntervalMs: 20, maxBuffered: 3, onError: (err) => errors.push(err) });
  t.teardown(() => db.close());
  db.exec('ALTER TABLE access_audit RENAME TO access_audit_away');
  log.record(entry({ callSid: 'call_1' }));
  log.record(entry({ callSid: 'call_2' }));
  t.equal(await log.flush(), 0, 'the write failed');
  t.equal(errors.length, 1, 'reported');
  t.equal(log.pending, 2, 'entries kept');
  log.record(entry({ callSid: 'call_3' }));
  log.record(entry({ callSid: 'call_4' }));
  t.equal(await log.flush(), 0);
  t.equal(log.pending, 3, 'bounded by maxBuffered');
  t.equal(log.dropped, 1, 'the oldest was dropped and counted');
  db.exec('ALTER TABLE access_audit_away RENAME TO access_audit');
  await sleep(100);
  t.same(
    (db.prepare('SELECT call_sid FROM access_audit ORDER BY id').all() as { call_sid: string }[]).map((r) => r.call_sid),
    ['call_2', 'call_3', 'call_4'],
    'the retry timer wrote the kept entries',
  );
  await log.close();
  log.record(entry());
  t.equal(log.dropped, 2, 'a record after close is counted, not thrown');
});

t.test('the schema refuses an unknown action', async (t) => {
  const db = freshDb();
  t.teardown(() => db.close());
  t.throws(() =>
    db.prepare("INSERT INTO access_audit (at, action, org_id, call_sid) VALUES ('x', 'erase', 'o', 'c')").run(),
  );
  const plan = db
    .prepare("EXPLAIN QUERY PLAN SELECT * FROM access_audit WHERE call_sid = 'c' AND at >= 'x' ORDER BY at DESC")
    .all() as { detail: string }[];
  t.match(plan.map((p) => p.detail).join('\n'), /access_audit_sid_at/, 'the sid lookup uses its index');
});

t.test('a thousand records (timing printed, not asserted)', async (t) => {
  const db = freshDb();
  const log = new SqliteAuditLog(db);
  t.teardown(() => db.close());
  const start = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) log.record(entry({ callSid: `call_${i}` }));
  const recorded = process.hrtime.bigint();
  await log.close();
  const flushed = process.hrtime.bigint();
  t.comment(`1000 records: ${Number(recorded - start) / 1e6} ms to record, ${Number(flushed - recorded) / 1e6} ms to flush the rest`);
  t.equal(rowCount(db), 1000);
});

/** A file database with the audit table, as the daemon's index is (WAL). */
async function fileDb(t: Test): Promise<{ db: Database.Database; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-audit-'));
  const path = join(dir, 'index.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 2000');
  for (const sql of AUDIT_MIGRATIONS) db.exec(sql);
  t.teardown(() => db.close());
  return { db, path };
}

t.test('background: a writer thread inserts; query and close see everything recorded before them', async (t) => {
  const { db, path } = await fileDb(t);
  const log = new SqliteAuditLog(db, { background: true, flushIntervalMs: 60_000, maxBatch: 50, waitMs: 60_000 });
  t.ok(log.background, 'a file database gets a writer thread');
  t.equal(log.file, path, 'it names the file it writes');
  for (let i = 0; i < 120; i++) log.record(entry({ callSid: `call_${i % 3}` }));
  t.equal(await log.flush(), 20, 'flush hands the rest over');
  const rows = await log.query({ limit: 1000 });
  t.equal(rows.length, 120, 'query waited for the thread: all 120 rows');
  t.equal(log.pending, 0);
  t.equal((await log.query({ sid: 'call_1', limit: 1000 })).length, 40);
  for (let i = 0; i < 7; i++) log.record(entry());
  await log.close();
  t.equal(rowCount(db), 127, 'close waited for the last batch');
  t.equal(log.background, false);
  await log.close();
  t.equal(log.dropped, 0);

  const memory = new SqliteAuditLog(freshDb(), { background: true });
  t.equal(memory.background, false, 'an in-memory database has no file to share: in-line writes');
  await memory.close();
});

t.test('background: a failed write keeps the rows in the thread, reports, retries, drops beyond maxBuffered', async (t) => {
  const { db } = await fileDb(t);
  const errors: { err: unknown; pending: number }[] = [];
  const log = new SqliteAuditLog(db, {
    background: true, flushIntervalMs: 20, maxBuffered: 3, onError: (err, pending) => errors.push({ err, pending }),
  });
  db.exec('ALTER TABLE access_audit RENAME TO access_audit_away');
  log.record(entry({ callSid: 'call_1' }));
  log.record(entry({ callSid: 'call_2' }));
  await log.flush();
  log.record(entry({ callSid: 'call_3' }));
  log.record(entry({ callSid: 'call_4' }));
  await log.flush();
  await settle(() => errors.length, (n) => n >= 2);
  t.match(String(errors[0]!.err), /no such table/, 'the thread reported the failure');
  t.equal(log.dropped, 1, 'the oldest beyond maxBuffered was dropped and counted');
  t.equal(log.pending, 3, 'the rest are kept');
  db.exec('ALTER TABLE access_audit_away RENAME TO access_audit');
  await settle(() => log.pending, (n) => n === 0);
  t.same(
    (db.prepare('SELECT call_sid FROM access_audit ORDER BY id').all() as { call_sid: string }[]).map((r) => r.call_sid),
    ['call_2', 'call_3', 'call_4'],
    'the retry wrote the kept rows, in order',
  );
  await log.close();
});

t.test('background: if the writer thread cannot run, the log writes in-line and says so', async (t) => {
  const { db, path } = await fileDb(t);
  const errors: unknown[] = [];
  await rm(path); // the thread opens the file by name and must find it
  const log = new SqliteAuditLog(db, { background: true, onError: (err) => errors.push(err) });
  t.ok(log.background);
  await settle(() => log.background, (b) => !b);
  t.match(String(errors[0]), /audit writer thread stopped/);
  log.record(entry());
  t.equal((await log.query()).length, 1, 'recorded and written by the log itself');
  await log.close();
});

t.test('background: close does not wait past waitMs for a thread that has not finished', async (t) => {
  const { db } = await fileDb(t);
  const errors: unknown[] = [];
  const log = new SqliteAuditLog(db, { background: true, waitMs: 0, onError: (err) => errors.push(err) });
  log.record(entry());
  await log.close();
  t.match(String(errors[0]), /did not finish in time/, 'said, and the thread is stopped');
  t.equal(log.background, false);
});

t.test('the audit has a file of its own beside the index; rows an index still holds are moved there', async (t) => {
  t.equal(auditPathFor('./data/index.db'), './data/index.audit.db');
  t.equal(auditPathFor('/var/lib/recproxy/calls.sqlite'), '/var/lib/recproxy/calls.sqlite.audit');
  t.equal(auditPathFor(':memory:'), ':memory:');

  const dir = await mkdtemp(join(tmpdir(), 'recproxy-audit-move-'));
  const indexPath = join(dir, 'index.db');
  // An index as an earlier recproxy left it: the audit table inside, with rows.
  const index = new SqliteCallIndex(indexPath);
  const legacy = index.db.prepare(
    'INSERT INTO access_audit (at, action, org_id, call_sid, principal, client, status, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  legacy.run('2026-11-01T10:00:00.000Z', 'stream_url', 'org_a', 'call_old1', 'key1', '10.0.0.1', 200, null);
  legacy.run('2026-11-01T10:00:01.000Z', 'download', 'org_a', 'call_old1', 'key1', '10.0.0.1', 200, 4096);
  await index.close();

  const env = { RECPROXY_DB_PATH: indexPath, RECPROXY_LOCAL_ROOT: join(dir, 'rec'), RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key') };
  const ctx = await createContext(loadConfig(env), { backgroundAudit: true });
  ctx.audit.record({ action: 'media', org: 'org_a', callSid: 'call_old1', bytes: 10 });
  t.same(
    (await ctx.audit.query({ sid: 'call_old1', order: 'asc' })).map((r) => [r.action, r.bytes]),
    [['stream_url', null], ['download', 4096], ['media', 10]],
    'the old rows, oldest first, then the new one',
  );
  const inspect = new Database(indexPath, { readonly: true });
  const tables = (inspect.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
  inspect.close();
  t.notOk(tables.includes('access_audit'), 'the index no longer holds the audit');
  await ctx.close();
  t.ok(existsSync(join(dir, 'index.audit.db')), 'index.audit.db beside index.db');

  // A second start finds nothing to move and keeps the rows.
  const again = await createContext(loadConfig(env));
  t.equal((await again.audit.query({ sid: 'call_old1' })).length, 3);
  await again.close();

  // RECPROXY_AUDIT_DB_PATH puts it elsewhere.
  const elsewhere = join(dir, 'audit', 'access.db');
  const moved = await createContext(loadConfig({ ...env, RECPROXY_AUDIT_DB_PATH: elsewhere }));
  moved.audit.record({ action: 'download', org: 'org_a', callSid: 'call_new', bytes: 1 });
  await moved.audit.flush();
  await moved.close();
  const direct = new Database(elsewhere, { readonly: true });
  t.equal((direct.prepare('SELECT count(*) AS n FROM access_audit').get() as { n: number }).n, 1);
  direct.close();
});

t.test('an audit database newer than this recproxy is refused, and the index is left closed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-audit-newer-'));
  const path = join(dir, 'index.audit.db');
  const future = new Database(path);
  future.pragma(`user_version = ${AUDIT_MIGRATIONS.length + 1}`);
  future.close();
  t.throws(() => openAuditDb(path), /audit schema version \d+ is newer than this recproxy/);
  const env = { RECPROXY_DB_PATH: join(dir, 'index.db'), RECPROXY_LOCAL_ROOT: join(dir, 'rec'), RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key') };
  await t.rejects(createContext(loadConfig(env)), /newer than this recproxy/);
  const again = openAuditDb(join(dir, 'fresh.audit.db'));
  t.equal(again.pragma('user_version', { simple: true }), AUDIT_MIGRATIONS.length);
  again.close();
  const reopened = openAuditDb(join(dir, 'fresh.audit.db'));
  t.equal(reopened.pragma('journal_mode', { simple: true }), 'wal', 'idempotent, WAL');
  reopened.close();
});
