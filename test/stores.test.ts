/**
 * The stores seam (src/stores/types.ts): the rest of recproxy needs nothing of a store but its
 * interface, and nothing outside src/stores/sqlite/ touches SQLite. The daemon is run here on
 * views of the stores that carry the interfaces' members and nothing else, as a PostgreSQL
 * backend would provide them.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { registerFile } from '../src/register-file.js';
import { AUDIT_MIGRATIONS } from '../src/stores/sqlite/audit.js';
import type { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import { SERVING_BUSY_TIMEOUT_MS, copySqliteIndex, fillSqliteIndex, openSqliteStores } from '../src/stores/sqlite/index.js';
import type { ApiKeys, AuditSink, CallIndex, NewCall } from '../src/stores/types.js';
import type { Awaitable } from '../src/core/awaitable.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const ROOT = new URL('..', import.meta.url).pathname;

function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => pattern.test(f))
    .map((f) => join(dir, f));
}

t.test('nothing outside src/stores/sqlite/ touches SQLite; the interfaces stand alone', async (t) => {
  const files = [...filesUnder('src', /\.ts$/), ...filesUnder('bench', /\.m?js$/), ...filesUnder('config', /\.ts$/), ...filesUnder('adapters', /\.ts$/)];
  t.ok(files.length > 20, 'the tree was read');
  for (const file of files) {
    if (file.startsWith('src/stores/sqlite/')) continue;
    const text = readFileSync(join(ROOT, file), 'utf8');
    const imports = [...text.matchAll(/(?:from\s+|import\()\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    t.notOk(imports.includes('better-sqlite3'), `${file}: no better-sqlite3`);
    const sqlite = imports.filter((i) => i.includes('stores/sqlite/'));
    t.ok(sqlite.every((i) => /stores\/sqlite\/index\.js$/.test(i)), `${file}: only the SQLite entry point (${sqlite.join(', ') || 'none'})`);
  }
  const types = readFileSync(join(ROOT, 'src/stores/types.ts'), 'utf8');
  const imports = [...types.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
  t.equal(imports.length, (types.match(/^import /gm) ?? []).length, 'every import of src/stores/types.ts was read');
  t.ok(imports.every((i) => i!.startsWith('../core/')), `src/stores/types.ts imports only the foundation (${imports.join(', ')})`);
});

const call = (sid: string, org = 'org_s'): NewCall => ({
  call_sid: sid, org_id: org, to_number: '+15550000000', from_number: null, started_at: null,
  duration_ms: null, storage_key: `${org}/${sid}.wav`, content_type: 'audio/wav', size_bytes: 44, sha256: 'x'.repeat(64),
});

t.test('find: every column of the row, as get reads it, with and without NULLs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-stores-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stores = await openSqliteStores({ dbPath: join(dir, 'index.db') });
  t.teardown(() => stores.close());
  const full = { ...call('call_full'), from_number: '+15551112222', started_at: '2026-11-30T10:00:00.000Z', duration_ms: 61_000 };
  await stores.index.insert(full);
  await stores.index.insert(call('call_nulls'));
  t.ok(await stores.index.setHold('call_full', true), 'a legal hold: every column set');
  for (const sid of ['call_full', 'call_nulls']) {
    const found = await stores.index.find('org_s', sid);
    t.strictSame(found, await stores.index.get(sid), `${sid}: the same row`);
    t.same(Object.keys(found!), Object.keys((await stores.index.get(sid))!), `${sid}: the same fields, in order`);
  }
  t.match(await stores.index.find('org_s', 'call_full'), { from_number: '+15551112222', duration_ms: 61_000, size_bytes: 44, legal_hold_at: /^\d{4}-/ });
  t.match(await stores.index.find('org_s', 'call_nulls'), { from_number: null, started_at: null, duration_ms: null, legal_hold_at: null });
});

t.test('openSqliteStores: the three stores, through their interfaces, across a reopen', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-stores-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dbPath = join(dir, 'index.db');
  const stores = await openSqliteStores({ dbPath, indexBusyTimeoutMs: SERVING_BUSY_TIMEOUT_MS });
  t.equal(stores.index.created, true, 'a new index');
  t.equal((stores.index as SqliteCallIndex).busyTimeoutMs, SERVING_BUSY_TIMEOUT_MS, 'the serving busy timeout is set');
  t.equal(stores.audit.file, join(dir, 'index.audit.db'), 'the audit beside the index');

  const inserted = await stores.index.insert(call('call_s1'));
  t.match(inserted, { call_sid: 'call_s1', deleted_at: null, created_at: /^\d{4}-/ });
  await t.rejects(stores.index.insert(call('call_s1')), { code: 'CALL_EXISTS' });
  t.same(await stores.index.find('org_s', 'call_s1'), inserted);
  t.equal(await stores.index.find('org_other', 'call_s1'), undefined, 'another organization: not found');
  t.equal(await stores.index.markDeleted('call_s1'), true);
  t.equal(await stores.index.markDeleted('call_s1'), false, 'already deleted');
  t.equal(await stores.index.find('org_s', 'call_s1'), undefined, 'a deleted call is not found…');
  t.ok((await stores.index.get('call_s1'))?.deleted_at, '…but get still shows it');

  const key = await stores.apiKeys.create({ orgs: ['org_s'] });
  t.same(await stores.apiKeys.verify(key.key), { id: key.id, orgs: ['org_s'], scope: 'read' });
  t.equal(await stores.apiKeys.flushUses(), true);
  t.equal(await stores.apiKeys.count(), 1);
  t.equal(await stores.apiKeys.isRevoked(key.id), false);
  stores.audit.record({ action: 'download', org: 'org_s', callSid: 'call_s1', status: 200, bytes: 44 });
  stores.audit.deny({ code: 'CALL_NOT_FOUND', status: 404, client: '10.0.0.1' });
  t.equal(stores.audit.pending, 2);
  t.equal(await stores.audit.flush(), 2);
  await stores.close();

  const again = await openSqliteStores({ dbPath });
  t.teardown(() => again.close());
  t.equal(again.index.created, false);
  t.ok(await again.index.get('call_s1'), 'the call is kept');
  t.equal(await again.apiKeys.revoke(key.id), true);
  t.equal(await again.apiKeys.isRevoked(key.id), true);
  t.equal(await again.apiKeys.verify(key.key), undefined);
  t.equal((await again.audit.query({ sid: 'call_s1' })).length, 1);
  t.equal((await again.audit.query({ action: 'denied' }))[0]?.count, 1);
  t.equal(again.audit.dropped, 0);
});

t.test('openSqliteStores: a step that fails closes what was opened', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-stores-fail-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const auditDbPath = join(dir, 'audit.db');
  const future = new Database(auditDbPath);
  future.pragma(`user_version = ${AUDIT_MIGRATIONS.length + 1}`);
  future.close();
  await t.rejects(openSqliteStores({ dbPath: join(dir, 'index.db'), auditDbPath }), /audit schema version \d+ is newer/);
  // The index was closed: another connection can take its write lock and change its mode at once.
  const db = new Database(join(dir, 'index.db'));
  t.teardown(() => db.close());
  t.equal(db.pragma('journal_mode = DELETE', { simple: true }), 'delete', 'no connection left open on the index');
  await writeFile(join(dir, 'empty.db'), '');
  await t.rejects(openSqliteStores({ dbPath: join(dir, 'empty.db') }), { code: 'DATABASE_INVALID' });
});

t.test('the benchmark fixtures: an index filled in one go, and a consistent copy', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-stores-fill-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const template = { ...call('call_t'), created_at: '2026-01-01T00:00:00.000Z', deleted_at: null, legal_hold_at: null };
  fillSqliteIndex(join(dir, 'a.db'), 1000, 'org_g', template);
  copySqliteIndex(join(dir, 'a.db'), join(dir, 'b.db'));
  const stores = await openSqliteStores({ dbPath: join(dir, 'b.db') });
  t.teardown(() => stores.close());
  t.match(await stores.index.find('org_g', 'call_g999'), { storage_key: template.storage_key, started_at: '2024-01-01T16:39:00.000Z' });
  t.equal(await stores.index.find('org_g', 'call_g1000'), undefined, 'exactly count rows');
});

t.test('an index from before the listing is migrated: its rows are listed in order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-stores-listing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dbPath = join(dir, 'index.db');
  const first = await openSqliteStores({ dbPath });
  await first.index.insert({ ...call('call_l1'), started_at: '2026-01-01T00:00:00Z' });
  await first.index.insert({ ...call('call_l2'), started_at: '2026-01-01T02:00:00+01:00' });
  await first.index.insert(call('call_l3'));
  await first.close();
  // Undo the listing's step, and the hold and retention step and the peaks step after it, by
  // hand: the file as recproxy before the listing left it.
  const db = new Database(dbPath);
  const version = db.pragma('user_version', { simple: true }) as number;
  db.exec(`DROP TABLE call_peaks; DROP INDEX calls_retention; DROP INDEX calls_org_retention;
           ALTER TABLE calls DROP COLUMN age_ms; ALTER TABLE calls DROP COLUMN legal_hold_at;
           DROP INDEX calls_org_listing; ALTER TABLE calls DROP COLUMN started_ms`);
  db.pragma(`user_version = ${version - 3}`);
  db.close();

  const stores = await openSqliteStores({ dbPath });
  t.teardown(() => stores.close());
  const listed = await stores.index.list('org_s', {}, undefined, 10);
  t.same(listed.map((l) => l.call.call_sid), ['call_l2', 'call_l1', 'call_l3']);
  t.same(listed[0]!.position, { startedMs: Date.UTC(2026, 0, 1, 1), seq: 2 });
  t.same(await stores.index.list('org_s', {}, listed[0]!.position, 10).then((l) => l.map((c) => c.call.call_sid)), ['call_l1', 'call_l3']);
  t.same(await stores.index.list('org_s', {}, listed[2]!.position, 10), [], 'nothing after the last');
  t.same(await stores.index.list('org_x', {}, undefined, 10), [], 'another organization has none');
});

/**
 * Objects with the interfaces' members and nothing else: what another backend would hand over.
 * With `later`, the lookups that may answer at once (`find`, `verify`) answer through a promise.
 */
function views(index: CallIndex, apiKeys: ApiKeys, audit: AuditSink, later = false): { index: CallIndex; apiKeys: ApiKeys; audit: AuditSink } {
  const answer = <T>(value: Awaitable<T>) => (later ? Promise.resolve(value) : value);
  return {
    index: {
      created: index.created,
      get: (sid) => index.get(sid),
      find: (org, sid) => answer(index.find(org, sid)),
      list: (org, filter, after, limit) => index.list(org, filter, after, limit),
      insert: (row) => index.insert(row),
      update: (org, sid, patch) => index.update(org, sid, patch),
      markDeleted: (sid) => index.markDeleted(sid),
      setHold: (sid, on) => index.setHold(sid, on),
      expired: (query, limit) => index.expired(query, limit),
      getPeaks: (sid) => index.getPeaks(sid),
      putPeaks: (sid, peaks) => index.putPeaks(sid, peaks),
      every: () => index.every(),
      checkIntegrity: () => index.checkIntegrity(),
      close: () => index.close(),
    },
    apiKeys: {
      create: (input) => apiKeys.create(input),
      verify: (presented) => answer(apiKeys.verify(presented)),
      isRevoked: (id) => apiKeys.isRevoked(id),
      get: (id) => apiKeys.get(id),
      list: () => apiKeys.list(),
      revoke: (id) => apiKeys.revoke(id),
      count: (options) => apiKeys.count(options),
      flushUses: () => apiKeys.flushUses(),
      close: () => apiKeys.close(),
    },
    audit: {
      record: (entry) => audit.record(entry),
      deny: (attempt) => audit.deny(attempt),
      flush: () => audit.flush(),
      query: (q) => audit.query(q),
      prune: (until, options) => audit.prune(until, options),
      rowsBefore: (until) => audit.rowsBefore(until),
      close: () => audit.close(),
      get pending() {
        return audit.pending;
      },
      get dropped() {
        return audit.dropped;
      },
      get file() {
        return audit.file;
      },
    },
  };
}

for (const later of [false, true]) {
  t.test(`the daemon serves on the stores’ interfaces alone${later ? ', lookups answered later (a promise, as a networked store answers)' : ''}`, async (t) => {
    // The context is built on the views: its calls service and authenticator see nothing else.
    const d = await startDaemon({}, {
      openStores: async (options) => {
        const stores = await openSqliteStores(options);
        return { ...views(stores.index, stores.apiKeys, stores.audit, later), close: () => stores.close() };
      },
    });
    t.teardown(d.stop);
    const { ctx, dir, url } = d;

    const wav = makeWav(1);
    await writeFile(join(dir, 'a.wav'), wav);
    await registerFile(ctx.calls, { org: 'org_s', sid: 'call_v1', to: '+15550000001' }, join(dir, 'a.wav'));
    const key = await ctx.apiKeys.create({ orgs: ['org_s'] });
    const admin = await ctx.apiKeys.create({ orgs: ['org_s'], scope: 'admin' });
    const as = (k: string) => ({ Authorization: `Bearer ${k}`, 'X-Organization-Id': 'org_s' });

    const stream = await fetch(`${url}/api/calls/call_v1/recording/stream`, { headers: as(key.key) });
    t.equal(stream.status, 200, 'a stream URL');
    const media = ((await stream.json()) as { data: { url: string } }).data.url;
    t.ok(Buffer.from(await (await fetch(media)).arrayBuffer()).equals(wav), 'its media URL plays the bytes');
    const download = await fetch(`${url}/api/calls/call_v1/recording/download`, { headers: as(key.key) });
    t.ok(Buffer.from(await download.arrayBuffer()).equals(wav), 'the download');
    t.equal((await fetch(`${url}/api/calls/call_none/recording/download`, { headers: as(key.key) })).status, 404);
    const listing = await fetch(`${url}/api/calls?to=%2B1555*`, { headers: as(key.key) });
    t.match(await listing.json(), { success: true, data: [{ call_sid: 'call_v1', to: '+15550000001' }], next_cursor: null }, 'the listing');

    t.equal(await ctx.apiKeys.revoke(key.id), true);
    t.equal((await fetch(media)).status, 403, 'a revoked key’s media URL is refused');
    t.equal((await fetch(`${url}/api/calls/call_v1/recording/stream`, { headers: as(key.key) })).status, 401, 'and the key itself');

    let rows: { action: string }[] = [];
    for (let i = 0; i < 100 && rows.length < 4; i++) {
      const res = await fetch(`${url}/api/audit?limit=100`, { headers: as(admin.key) });
      rows = ((await res.json()) as { data: { action: string }[] }).data;
      if (rows.length < 4) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.same(rows.map((r) => r.action).sort(), ['download', 'media', 'media', 'stream_url'], 'the audit, read back through the admin API');
    const denied = await ctx.audit.query({ action: 'denied' });
    t.same(denied.map((r) => r.code).sort(), ['CALL_NOT_FOUND', 'UNAUTHORIZED'], 'denied attempts counted');
  });
}
