import t from 'tap';
import Database from 'better-sqlite3';
import { hashKey, isApiKeyId, looksLikeApiKey } from '../src/core/api-keys.js';
import { API_KEY_MIGRATIONS, SqliteApiKeys } from '../src/stores/sqlite/api-keys.js';

function freshDb(): Database.Database {
  const db = new Database(':memory:');
  for (const sql of API_KEY_MIGRATIONS) db.exec(sql);
  return db;
}

t.test('create: format, only a hash stored, verify grants orgs and scope', async (t) => {
  const db = freshDb();
  t.teardown(() => db.close());
  const store = new SqliteApiKeys(db);
  const created = await store.create({ orgs: ['org_a', 'org_b', 'org_a'], scope: 'admin', label: 'billing back end' });
  t.match(created.key, /^rpk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
  t.equal(created.key.slice(4, 16), created.id);
  t.ok(isApiKeyId(created.id));
  t.ok(looksLikeApiKey(created.key));
  t.same(created.orgs, ['org_a', 'org_b'], 'duplicates dropped');
  t.equal(created.scope, 'admin');

  const row = db.prepare('SELECT * FROM api_keys').get() as Record<string, unknown>;
  t.equal(row.hash, hashKey(created.key));
  const secret = created.key.split('_').slice(2).join('_');
  t.notOk(JSON.stringify(row).includes(secret), 'the secret is not stored');
  t.notOk(JSON.stringify(row).includes(created.key), 'the key is not stored');

  t.same(await store.verify(created.key), { id: created.id, orgs: ['org_a', 'org_b'], scope: 'admin' });
  t.equal((await store.create({ orgs: ['org_a'] })).scope, 'read', 'read is the default scope');
  t.not((await store.create({ orgs: ['org_a'] })).key, created.key);
});

t.test('verify refuses wrong, unknown, malformed and tampered keys', async (t) => {
  const db = freshDb();
  t.teardown(() => db.close());
  const store = new SqliteApiKeys(db);
  const { key, id } = await store.create({ orgs: ['org_a'] });
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  t.equal(await store.verify(key.slice(0, -1) + last), undefined, 'one character off');
  t.equal(await store.verify(`rpk_${'Z'.repeat(12)}_${key.slice(17)}`), undefined, 'unknown id');
  const other = await store.create({ orgs: ['org_b'] });
  t.equal(await store.verify(`rpk_${id}_${other.key.slice(17)}`), undefined, "another key's secret under this id");
  for (const bad of ['', 'rpk_', key + 'x', key.slice(0, -1), ` ${key}`, key.replace('rpk_', 'RPK_'), 'x'.repeat(5000)]) {
    t.equal(await store.verify(bad), undefined, `malformed: ${JSON.stringify(bad.slice(0, 20))}`);
  }
});

t.test('revoke takes effect on the very next verify, also from another handle on the same file', async (t) => {
  const dir = t.testdir();
  const path = `${dir}/index.db`;
  const daemonDb = new Database(path);
  for (const sql of API_KEY_MIGRATIONS) daemonDb.exec(sql);
  const cliDb = new Database(path);
  t.teardown(() => {
    daemonDb.close();
    cliDb.close();
  });
  const daemon = new SqliteApiKeys(daemonDb);
  const cli = new SqliteApiKeys(cliDb);
  const { key, id } = await cli.create({ orgs: ['org_a'] });
  t.ok(await daemon.verify(key), 'valid before');
  t.ok(await daemon.verify(key), 'still valid');
  t.equal(await cli.revoke(id), true);
  // The next request is handled in a later turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(await daemon.verify(key), undefined, 'refused on the next request');
  t.equal(await cli.revoke(id), false, 'already revoked');
  t.equal(await cli.revoke('nosuchkeyid0'), false, 'unknown');
  t.ok((await daemon.get(id))?.revokedAt, 'get shows the revocation');
  t.equal(await daemon.get('nosuchkeyid0'), undefined);
});

t.test('list and count: no secrets, revoked keys flagged', async (t) => {
  const db = freshDb();
  t.teardown(() => db.close());
  let clock = Date.parse('2025-01-01T00:00:00Z');
  const store = new SqliteApiKeys(db, { now: () => new Date(clock) });
  t.equal(await store.count(), 0);
  t.same(await store.list(), []);
  const a = await store.create({ orgs: ['org_a'], label: 'first' });
  clock += 1000;
  const b = await store.create({ orgs: ['org_b'], scope: 'admin' });
  t.equal(await store.count(), 2);
  await store.revoke(a.id);
  t.equal(await store.count(), 1, 'live keys');
  t.equal(await store.count({ includeRevoked: true }), 2);
  const list = await store.list();
  t.same(
    list.map((k) => [k.id, k.label, k.scope, k.orgs, k.createdAt, Boolean(k.revokedAt)]),
    [
      [a.id, 'first', 'read', ['org_a'], '2025-01-01T00:00:00.000Z', true],
      [b.id, null, 'admin', ['org_b'], '2025-01-01T00:00:01.000Z', false],
    ],
  );
  const text = JSON.stringify(list);
  t.notOk(text.includes(a.key.slice(17)) || text.includes(b.key.slice(17)), 'no secret in the listing');
  t.notOk('hash' in list[0]!, 'no hash in the listing');
});

t.test('last_used_at is written at most once per resolution window', async (t) => {
  const db = freshDb();
  t.teardown(() => db.close());
  let clock = Date.parse('2025-01-01T00:00:00Z');
  const store = new SqliteApiKeys(db, { now: () => new Date(clock), lastUsedResolutionMs: 60_000 });
  const { key, id } = await store.create({ orgs: ['org_a'] });
  t.equal((await store.get(id))?.lastUsedAt, null);
  await store.verify(key);
  t.equal((await store.get(id))?.lastUsedAt, '2025-01-01T00:00:00.000Z');
  clock += 30_000;
  await store.verify(key);
  t.equal((await store.get(id))?.lastUsedAt, '2025-01-01T00:00:00.000Z', 'not rewritten inside the window');
  clock += 31_000;
  await store.verify(key);
  t.equal((await store.get(id))?.lastUsedAt, '2025-01-01T00:01:01.000Z');
});

t.test('create validates its input', async (t) => {
  const db = freshDb();
  t.teardown(() => db.close());
  const store = new SqliteApiKeys(db);
  await t.rejects(store.create({ orgs: [] }), { code: 'INVALID_REQUEST' });
  await t.rejects(store.create({ orgs: ['bad org!'] }), { code: 'INVALID_ORGANIZATION' });
  await t.rejects(store.create({ orgs: ['-leading'] }), { code: 'INVALID_ORGANIZATION' });
  await t.rejects(store.create({ orgs: ['org_a'], scope: 'root' as 'admin' }), { code: 'INVALID_REQUEST' });
  await t.rejects(store.create({ orgs: ['org_a'], label: 'a\nb' }), { code: 'INVALID_REQUEST' });
  await t.rejects(store.create({ orgs: ['org_a'], label: 'x'.repeat(201) }), { code: 'INVALID_REQUEST' });
  t.equal(await store.count(), 0, 'nothing stored');
});

t.test('the schema itself refuses a bad scope', async (t) => {
  const db = freshDb();
  t.teardown(() => db.close());
  t.throws(() =>
    db
      .prepare("INSERT INTO api_keys (id, hash, orgs, scope, created_at) VALUES ('x', 'h', '[]', 'root', 'now')")
      .run(),
  );
});
