/**
 * Denied attempts in the audit (one row per client, code and minute, with a count) and the
 * limit on failed authentications per client address: the log itself, the schema upgrade of an
 * existing audit file, and the daemon over real HTTP.
 */
import t from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { AUDIT_MIGRATIONS, SqliteAuditLog, DENIED_CLIENTS_PER_MINUTE, openAuditDb } from '../src/stores/sqlite/audit.js';
import type { AuditRow } from '../src/stores/types.js';
import { AuthFailures } from '../src/auth-failures.js';
import { loadConfig } from '../config/load.js';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { send } from './helpers/http.js';
import { runCli } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

const at = (s: string) => new Date(`2026-11-01T${s}Z`);

t.test('denied attempts: one row per client, code and minute, counted across batches', async (t) => {
  const db = new Database(':memory:');
  for (const sql of AUDIT_MIGRATIONS) db.exec(sql);
  const log = new SqliteAuditLog(db);
  t.teardown(async () => (await log.close(), db.close()));
  const probe = { code: 'CALL_NOT_FOUND', status: 404, client: '10.0.0.1', org: 'org_a', principal: 'key1' };
  log.deny({ ...probe, callSid: 'call_1', at: at('10:00:01') });
  log.deny({ ...probe, callSid: 'call_2', at: at('10:00:30') });
  await log.flush();
  log.deny({ ...probe, callSid: 'call_3', at: at('10:00:59.999') });
  log.deny({ ...probe, callSid: 'call_4', at: at('10:01:00') });
  log.deny({ ...probe, client: '10.0.0.2', at: at('10:00:10') });
  log.deny({ code: 'UNAUTHORIZED', status: 401, client: '10.0.0.1', at: at('10:00:20') });
  log.record({ action: 'download', org: 'org_a', callSid: 'call_1', at: at('10:00:05') });

  const rows = await log.query({ action: 'denied', order: 'asc' });
  const summary = rows.map((r) => `${r.at} ${r.client} ${r.code} ${r.count} ${r.call_sid} ${r.org_id} ${r.principal} ${r.status}`);
  t.same(summary.sort(), [
    '2026-11-01T10:00:00.000Z 10.0.0.1 CALL_NOT_FOUND 3 call_1 org_a key1 404',
    '2026-11-01T10:00:00.000Z 10.0.0.1 UNAUTHORIZED 1 null null null 401',
    '2026-11-01T10:00:00.000Z 10.0.0.2 CALL_NOT_FOUND 1 null org_a key1 404',
    '2026-11-01T10:01:00.000Z 10.0.0.1 CALL_NOT_FOUND 1 call_4 org_a key1 404',
  ].sort(), 'a row per minute, client and code; the first attempt names the call');
  t.same((await log.query()).map((r) => r.action), ['download'], 'without action, the access audit only (as before)');
  t.equal((await log.query()).at(0)?.code, undefined, 'access rows keep their shape');
  t.same((await log.query({ org: 'org_a', action: 'denied' })).length, 3, 'denied rows filter by organization');
});

t.test('denied attempts: a flood from many addresses adds a bounded number of rows a minute', async (t) => {
  const db = new Database(':memory:');
  for (const sql of AUDIT_MIGRATIONS) db.exec(sql);
  const log = new SqliteAuditLog(db, { maxBatch: 100 });
  t.teardown(async () => (await log.close(), db.close()));
  const extra = 500;
  for (let i = 0; i < DENIED_CLIENTS_PER_MINUTE + extra; i++) {
    for (let k = 0; k < 3; k++) log.deny({ code: 'UNAUTHORIZED', status: 401, client: `10.1.${i >> 8}.${i & 255}`, at: at('11:00:00') });
    if (i % 300 === 0) await log.flush();
  }
  const rows = await log.query({ action: 'denied', limit: 100_000 });
  t.equal(rows.length, DENIED_CLIENTS_PER_MINUTE + 1, 'a row per address up to the bound, then one for the rest');
  const rest = rows.find((r) => r.client === null)!;
  t.equal(rest.count, extra * 3, 'the rest are counted, not lost');
  t.equal(rows.reduce((n, r) => n + r.count!, 0), (DENIED_CLIENTS_PER_MINUTE + extra) * 3);
  log.deny({ code: 'UNAUTHORIZED', status: 401, client: '10.9.9.9', at: at('11:01:00') });
  t.equal((await log.query({ action: 'denied', since: at('11:01:00') }))[0]?.client, '10.9.9.9', 'the next minute starts afresh');
});

t.test('an audit file of the previous schema is upgraded in place, its rows kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-denied-'));
  const path = join(dir, 'index.audit.db');
  const old = new Database(path);
  old.exec(AUDIT_MIGRATIONS[0]!);
  old.pragma('user_version = 1');
  old.prepare('INSERT INTO access_audit (at, action, org_id, call_sid, principal, client, status, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    .run('2026-11-01T09:00:00.000Z', 'download', 'org_a', 'call_old', 'key1', '10.0.0.1', 200, 42);
  old.close();
  const db = openAuditDb(path);
  t.teardown(() => db.close());
  t.equal(db.pragma('user_version', { simple: true }), AUDIT_MIGRATIONS.length);
  const log = new SqliteAuditLog(db);
  log.deny({ code: 'ORG_FORBIDDEN', status: 403, client: '10.0.0.1', org: 'org_b', principal: 'key1' });
  t.match(await log.query({ sid: 'call_old' }), [{ id: 1, action: 'download', bytes: 42, client: '10.0.0.1' }], 'the old row, as it was');
  t.match(await log.query({ action: 'denied' }), [{ action: 'denied', code: 'ORG_FORBIDDEN', count: 1, org_id: 'org_b', call_sid: null }]);
  await log.close();
});

t.test('AuthFailures: a window per address; free while nothing failed', async (t) => {
  const f = new AuthFailures(2, 1000, 3);
  t.equal(f.retryAfterMs('a', 0), 0);
  t.ok(f.idle, 'idle until a failure');
  f.fail('a', 100);
  t.equal(f.retryAfterMs('a', 200), 0, 'one failure is not the limit');
  f.fail('a', 300);
  t.equal(f.retryAfterMs('a', 400), 700, 'at the limit: until the window ends');
  t.equal(f.retryAfterMs('b', 400), 0, 'another address is not affected');
  t.equal(f.retryAfterMs('a', 1100), 0, 'a new window forgets');
  for (const a of ['a', 'b', 'c', 'd', 'd']) f.fail(a, 2000);
  t.equal(f.retryAfterMs('d', 2001), 0, 'beyond maxAddresses new addresses are not tracked');
  const off = new AuthFailures(0, 1000);
  for (let i = 0; i < 10; i++) off.fail('a', 0);
  t.equal(off.retryAfterMs('a', 1), 0, 'max 0: no limit');
  t.throws(() => loadConfig({ RECPROXY_AUTH_FAIL_LIMIT_MAX: '-1' }), /^RECPROXY_AUTH_FAIL_LIMIT_MAX: must be failed authentications per window per client address, 0 for no limit \(got "-1"\)$/m);
  t.equal(loadConfig({}).authFailLimitMax, 100);
});

type Row = AuditRow;
/** Denied rows, once their counts add up to `total` (rows are written shortly after the answer). */
async function denied(d: Daemon, total: number): Promise<Row[]> {
  let rows = await d.ctx.audit.query({ action: 'denied' });
  for (let i = 0; i < 250 && rows.reduce((n, r) => n + r.count!, 0) < total; i++) {
    await sleep(20);
    rows = await d.ctx.audit.query({ action: 'denied' });
  }
  return rows;
}
const codeOf = (body: Buffer) => (JSON.parse(body.toString()) as { error: { code: string } }).error.code;

t.test('the daemon audits denied attempts and shows them to admins and the CLI', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_a1', to: '+15550000001', bytes: makeWav(1) });
  await d.addCall({ org: 'org_b', sid: 'call_b1', to: '+15550000002', bytes: makeWav(1) });
  const A = d.headers('org_a');
  const keyA = A.Authorization!.split('_')[1]!;
  const S = (sid: string) => `/api/calls/${sid}/recording/stream`;

  for (let i = 0; i < 30; i++) t.equal((await send(d.url, 'GET', S(`call_b${i}`), A)).status, 404, `probe ${i}`);
  t.equal(codeOf((await send(d.url, 'GET', S('call_b1'), { ...A, 'X-Organization-Id': 'org_b' })).body), 'ORG_FORBIDDEN');
  for (let i = 0; i < 4; i++) t.equal((await send(d.url, 'GET', S('call_a1'), { Authorization: 'Bearer rpk_nope', 'X-Organization-Id': 'org_b' })).status, 401);
  t.equal(codeOf((await send(d.url, 'GET', '/media/k1.bad.token', {})).body), 'TOKEN_INVALID');
  t.equal((await send(d.url, 'GET', S('call_a1'), A)).status, 200, 'an answered request is not a denied one');

  const rows = await denied(d, 36);
  const byCode = new Map(rows.map((r) => [r.code, r]));
  t.same([...byCode.keys()].sort(), ['CALL_NOT_FOUND', 'ORG_FORBIDDEN', 'TOKEN_INVALID', 'UNAUTHORIZED']);
  t.match(byCode.get('CALL_NOT_FOUND'), { count: 30, org_id: 'org_a', call_sid: 'call_b0', principal: keyA, client: '127.0.0.1', status: 404 },
    'thirty probes, one row: the key, the address, the first call asked for');
  t.match(byCode.get('ORG_FORBIDDEN'), { count: 1, org_id: 'org_b', principal: keyA, status: 403 }, 'the organization the genuine key asked for');
  t.match(byCode.get('UNAUTHORIZED'), { count: 4, org_id: null, principal: null, status: 401 }, 'no credential: the header is not believed');
  t.match(byCode.get('TOKEN_INVALID'), { count: 1, org_id: null, call_sid: null, status: 403 });
  t.ok(rows.every((r) => r.action === 'denied' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/.test(r.at)), 'at is the minute');

  const admin = (await d.ctx.apiKeys.create({ orgs: ['org_a', 'org_b'], scope: 'admin' })).key;
  const asAdmin = (org: string) => ({ Authorization: `Bearer ${admin}`, 'X-Organization-Id': org });
  const api = JSON.parse((await send(d.url, 'GET', '/api/audit?action=denied', asAdmin('org_a'))).body.toString()) as { data: Row[] };
  t.match(api.data, [{ action: 'denied', code: 'CALL_NOT_FOUND', count: 30, call_sid: 'call_b0', client: '127.0.0.1' }], "org_a's admin sees org_a's denied rows");
  const apiB = JSON.parse((await send(d.url, 'GET', '/api/audit?action=denied', asAdmin('org_b'))).body.toString()) as { data: Row[] };
  t.same(apiB.data.map((r) => r.code), ['ORG_FORBIDDEN'], "org_b's admin sees the attempt on org_b");
  const plain = JSON.parse((await send(d.url, 'GET', '/api/audit', asAdmin('org_a'))).body.toString()) as { data: Row[] };
  t.same(plain.data.map((r) => r.action), ['stream_url'], 'without action: the access audit, as before');
  t.equal((await send(d.url, 'GET', '/api/audit?action=nope', asAdmin('org_a'))).status, 400);

  const env = { RECPROXY_DB_PATH: join(d.dir, 'index.db'), RECPROXY_LOCAL_ROOT: join(d.dir, 'recordings'), RECPROXY_SIGNING_KEY_FILE: join(d.dir, 'signing.key') };
  const cli = await runCli(['audit', '--action', 'denied'], { env });
  t.equal(cli.code, 0, cli.stderr);
  t.same((JSON.parse(cli.stdout) as Row[]).map((r) => r.code).sort(), ['CALL_NOT_FOUND', 'ORG_FORBIDDEN', 'TOKEN_INVALID', 'UNAUTHORIZED'],
    'the CLI shows every denied row, those of no organization too');
  t.equal((await runCli(['audit', '--action', 'bogus'], { env })).code, 2, 'an unknown action is a usage error');
});

t.test('failed authentications are limited per client address, before the credential is checked', async (t) => {
  const d = await startDaemon({ RECPROXY_AUTH_FAIL_LIMIT_MAX: '3', RECPROXY_RATE_LIMIT_WINDOW_MS: '600000', RECPROXY_TRUST_PROXY: '127.0.0.1' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_a1', to: '+15550000001', bytes: makeWav(1) });
  const S = '/api/calls/call_a1/recording/stream';
  const from = (ip: string) => ({ 'X-Forwarded-For': ip });
  const good = d.headers('org_a');
  for (let i = 1; i <= 3; i++) t.equal((await send(d.url, 'GET', S, { ...from('203.0.113.7'), Authorization: 'Bearer rpk_wrong' })).status, 401, `failure ${i}`);
  const limited = await send(d.url, 'GET', S, { ...from('203.0.113.7'), ...good });
  t.equal(limited.status, 429, 'past the limit even a genuine key is refused from that address');
  t.equal(codeOf(limited.body), 'RATE_LIMITED');
  t.match(limited.headers['retry-after'], /^[1-9]\d*$/);
  t.equal((await send(d.url, 'GET', '/api/audit', { ...from('203.0.113.7'), ...good })).status, 429, 'the admin API too');
  t.equal((await send(d.url, 'GET', S, { ...from('198.51.100.9'), ...good })).status, 200, 'another address is not affected');
  t.equal((await send(d.url, 'GET', S, { ...from('198.51.100.9'), Authorization: 'Bearer rpk_wrong' })).status, 401);
  const rows = await denied(d, 6);
  t.match(rows.find((r) => r.code === 'RATE_LIMITED' && r.client === '203.0.113.7'), { count: 2, status: 429 }, 'the refusals are audited too');
});
