/**
 * Retention (src/calls/retention.ts): the index's retention order and its indexes, the settings,
 * one pass from the CLI (`recproxy retention`, real processes: --dry-run lists exactly what would
 * go and deletes nothing; the pass deletes bytes and rows of expired calls, keeps held and recent
 * ones and the organizations with a period of their own, and writes the audit), and the daemon's
 * background pass over real HTTP.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../config/load.js';
import { parseRetentionByOrg, retentionPolicyOf } from '../config/schema.js';
import { RetentionSweeper, retentionPass, sweepsOf, type RetentionDeps } from '../src/calls/retention.js';
import { createContext } from '../src/context.js';
import { StorageUnavailable } from '../src/core/errors.js';
import { registerFile } from '../src/register-file.js';
import type { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import { openSqliteStores } from '../src/stores/sqlite/index.js';
import type { CallRow, NewCall } from '../src/stores/types.js';
import { runCli } from './helpers/cli.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString();

const row = (sid: string, org: string, started_at: string | null): NewCall => ({
  call_sid: sid, org_id: org, to_number: '+15550000000', from_number: null, started_at,
  duration_ms: null, storage_key: `${org}/${sid}.wav`, content_type: 'audio/wav', size_bytes: 44, sha256: 'x'.repeat(64),
});

t.test('the index: live, unheld calls older than a cutoff, oldest first, keyset batches, on its indexes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-retention-index-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stores = await openSqliteStores({ dbPath: join(dir, 'index.db') });
  t.teardown(() => stores.close());
  const { index } = stores;
  await index.insert(row('call_r1', 'org_a', '2020-01-03T00:00:00Z'));
  await index.insert(row('call_r2', 'org_a', '2020-01-01T02:00:00+02:00')); // 2020-01-01T00:00Z
  await index.insert(row('call_r3', 'org_b', '2020-01-02T00:00:00Z'));
  await index.insert(row('call_r4', 'org_a', null)); // aged by created_at, set below
  await index.insert(row('call_r5', 'org_a', '2020-01-04T00:00:00Z')); // held
  await index.insert(row('call_r6', 'org_a', '2020-01-05T00:00:00Z')); // deleted
  await index.insert(row('call_r7', 'org_a', daysAgo(1))); // recent
  await index.insert(row('call_r8', 'org_a', 'not a time')); // aged by created_at: now
  const db = (index as SqliteCallIndex).db;
  db.prepare('UPDATE calls SET created_at = ? WHERE call_sid = ?').run('2020-01-02T12:00:00.000Z', 'call_r4');
  t.match(await index.setHold('call_r5', true), { call_sid: 'call_r5', legal_hold_at: /^\d{4}-/ });
  t.equal(await index.setHold('call_nope', true), undefined, 'no such call');
  await index.markDeleted('call_r6');
  t.equal(await index.setHold('call_r6', true), undefined, 'a deleted call cannot be held');

  const before = new Date(Date.now() - 30 * DAY);
  const sids = (rows: { call: CallRow }[]) => rows.map((r) => r.call.call_sid);
  t.same(sids(await index.expired({ before }, 10)), ['call_r2', 'call_r3', 'call_r4', 'call_r1'], 'all organizations, oldest first');
  t.same(sids(await index.expired({ before, org: 'org_a' }, 10)), ['call_r2', 'call_r4', 'call_r1'], 'one organization');
  t.same(sids(await index.expired({ before, excludeOrgs: ['org_b'] }, 10)), ['call_r2', 'call_r4', 'call_r1'], 'organizations left out');
  const first = await index.expired({ before }, 2);
  t.same(first[0]!.position, { ageMs: Date.UTC(2020, 0, 1), seq: 2 });
  t.same(sids(await index.expired({ before, after: first[1]!.position }, 2)), ['call_r4', 'call_r1'], 'the next batch after the last');
  t.same(await index.expired({ before: new Date(Date.UTC(2019, 0, 1)) }, 10), [], 'nothing older than that');

  t.match(await index.setHold('call_r5', false), { legal_hold_at: null });
  t.same(sids(await index.expired({ before, org: 'org_a' }, 10)), ['call_r2', 'call_r4', 'call_r1', 'call_r5'], 'released: it expires again');

  const plan = (sql: string, ...args: unknown[]) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
  const base = 'SELECT id FROM calls WHERE deleted_at IS NULL AND legal_hold_at IS NULL AND age_ms < ?';
  t.match(plan(`${base} AND (age_ms, id) > (?, ?) ORDER BY age_ms, id LIMIT 100`, 1, 0, 0), /USING INDEX calls_retention/, 'all organizations: calls_retention');
  t.notMatch(plan(`${base} ORDER BY age_ms, id LIMIT 100`, 1), /TEMP B-TREE/, 'in index order, no sort');
  t.match(plan(`${base} AND org_id = ? ORDER BY age_ms, id LIMIT 100`, 1, 'org_a'), /USING INDEX calls_org_retention/, 'one organization: calls_org_retention');
});

t.test('settings: the default period and per-organization periods, from the environment or the JSON file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-retention-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const off = loadConfig({});
  t.same(retentionPolicyOf(off), { defaultDays: undefined, byOrg: new Map() }, 'off by default');
  t.equal(off.retentionIntervalSec, 3600);
  const env = loadConfig({ RECPROXY_RETENTION_DAYS: '90', RECPROXY_RETENTION_DAYS_BY_ORG: 'org_a=30,org:b.c=0' });
  t.same(retentionPolicyOf(env), { defaultDays: 90, byOrg: new Map([['org_a', 30], ['org:b.c', 0]]) });
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ retentionDays: 365, retentionDaysByOrg: { org_a: 7, org_b: 0 } }));
  t.same(retentionPolicyOf(loadConfig({ RECPROXY_CONFIG: file })), { defaultDays: 365, byOrg: new Map([['org_a', 7], ['org_b', 0]]) }, 'an object in the file');
  t.throws(() => loadConfig({ RECPROXY_RETENTION_DAYS_BY_ORG: 'org_a:30' }), /RECPROXY_RETENTION_DAYS_BY_ORG: must be comma-separated ORG=DAYS pairs/);
  t.throws(() => loadConfig({ RECPROXY_RETENTION_DAYS: '0' }), /RECPROXY_RETENTION_DAYS: must be whole days from 1/);
  await writeFile(file, JSON.stringify({ retentionDaysByOrg: { org_a: 'x' } }));
  t.throws(() => loadConfig({ RECPROXY_CONFIG: file }), /"retentionDaysByOrg": must be comma-separated ORG=DAYS/);
  t.same(parseRetentionByOrg(undefined), new Map());

  const now = new Date(Date.UTC(2026, 0, 31));
  const policy = { defaultDays: 30, byOrg: new Map([['org_a', 10], ['org_b', 0]]) };
  t.same(sweepsOf(policy, now), [
    { org: 'org_a', before: new Date(Date.UTC(2026, 0, 21)) },
    { excludeOrgs: ['org_a', 'org_b'], before: new Date(Date.UTC(2026, 0, 1)) },
  ], 'each organization of its own, then the rest');
  t.same(sweepsOf(policy, now, 'org_b'), [], 'an organization kept forever');
  t.same(sweepsOf(policy, now, 'org_c'), [{ org: 'org_c', before: new Date(Date.UTC(2026, 0, 1)) }], 'another takes the default');
  t.same(sweepsOf({ byOrg: new Map([['org_a', 10]]) }, now), [{ org: 'org_a', before: new Date(Date.UTC(2026, 0, 21)) }], 'no default: only the listed');
});

/** Deps over an in-memory list of calls, for the pass's own rules. */
function fakeDeps(calls: CallRow[], failing: Set<string>): RetentionDeps & { recorded: string[] } {
  const recorded: string[] = [];
  return {
    recorded,
    index: {
      get: async (sid) => calls.find((c) => c.call_sid === sid),
      markDeleted: async (sid) => {
        const c = calls.find((x) => x.call_sid === sid)!;
        c.deleted_at = 'now';
        return true;
      },
      expired: async (query, limit) => {
        const live = calls.map((c, i) => ({ call: c, position: { ageMs: i, seq: i } })).filter((c) => c.call.deleted_at === null);
        return live.filter((c) => !query.after || c.position.ageMs > query.after.ageMs).slice(0, limit);
      },
    },
    storage: {
      delete: async (key) => {
        if (failing.has(key)) throw new StorageUnavailable('down');
      },
    },
    audit: { record: (entry) => recorded.push(`${entry.action} ${entry.callSid} ${entry.principal}`) },
  };
}

const fake = (sid: string): CallRow => ({ ...row(sid, 'org_a', '2020-01-01T00:00:00Z'), created_at: '', deleted_at: null, legal_hold_at: null });

t.test('a pass: failures are counted and not retried within it; a signal stops it; the sweeper logs and keeps going', async (t) => {
  const calls = ['call_f1', 'call_f2', 'call_f3', 'call_f4', 'call_f5'].map(fake);
  calls[3]!.legal_hold_at = 'since'; // held after the index listed it
  const deps = fakeDeps(calls, new Set(['org_a/call_f2.wav']));
  const outcomes: string[] = [];
  const result = await retentionPass(deps, { defaultDays: 1, byOrg: new Map() }, {
    batchSize: 2,
    pauseMs: 1,
    onCall: (c, outcome, reason) => outcomes.push(`${c.call_sid} ${outcome}${reason ? ` ${reason}` : ''}`),
  });
  t.same(result, { deleted: 3, listed: 0, failed: 2, interrupted: false });
  t.same(outcomes, [
    'call_f1 deleted',
    'call_f2 failed storage is unavailable: down',
    'call_f3 deleted',
    'call_f4 failed put on legal hold during the pass',
    'call_f5 deleted',
  ]);
  t.same(deps.recorded, ['delete call_f1 retention', 'delete call_f3 retention', 'delete call_f5 retention']);

  const abort = new AbortController();
  const more = ['call_g1', 'call_g2', 'call_g3'].map(fake);
  const stopped = await retentionPass(fakeDeps(more, new Set()), { defaultDays: 1, byOrg: new Map() }, {
    batchSize: 10,
    signal: abort.signal,
    onCall: () => abort.abort(),
  });
  t.same(stopped, { deleted: 1, listed: 0, failed: 0, interrupted: true }, 'stopped after the call in hand');

  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) };
  let runs = 0;
  const sweeper = new RetentionSweeper(
    async (options) => {
      runs++;
      if (runs === 1) throw new Error('index gone');
      options.onCall?.(fake('call_h1'), 'failed', 'storage is unavailable');
      return { deleted: 2, listed: 0, failed: 1, interrupted: false };
    },
    { intervalMs: 1, batchSize: 10, log },
  );
  sweeper.start();
  while (sweeper.passes < 2) await new Promise((r) => setTimeout(r, 5));
  await sweeper.stop();
  t.same(lines.slice(0, 3), [
    'warn retention pass failed: index gone',
    'warn retention: call_h1 (org_a) not deleted: storage is unavailable',
    'info retention: 2 calls deleted, 1 failed',
  ], 'a failed pass is logged and the next one runs');
  const passes = sweeper.passes;
  await new Promise((r) => setTimeout(r, 20));
  t.equal(sweeper.passes, passes, 'no pass after stop()');
});

const wav = makeWav(0.1);

t.test('recproxy retention: --dry-run lists exactly what would go; the pass deletes bytes and rows and writes the audit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-retention-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const base = {
    RECPROXY_DB_PATH: join(dir, 'index.db'),
    RECPROXY_LOCAL_ROOT: join(dir, 'recordings'),
    RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'),
  };
  const ctx = await createContext(loadConfig(base));
  const file = join(dir, 'tone.wav');
  await writeFile(file, wav);
  const add = (org: string, sid: string, startedAt?: string) => registerFile(ctx.calls, { org, sid, to: '+15551230000', startedAt }, file);
  await add('org_a', 'call_old1', '2020-01-01T00:00:00Z');
  await add('org_a', 'call_old2', '2021-06-01T00:00:00Z');
  await add('org_a', 'call_held', '2020-02-01T00:00:00Z');
  await add('org_a', 'call_new', daysAgo(1));
  await add('org_a', 'call_undated');
  await add('org_keep', 'call_k1', '2020-01-01T00:00:00Z');
  await add('org_short', 'call_s1', daysAgo(3));
  await add('org_short', 'call_s2', daysAgo(1));
  (ctx.index as SqliteCallIndex).db.prepare('UPDATE calls SET created_at = ? WHERE call_sid = ?').run('2020-03-01T00:00:00.000Z', 'call_undated');
  await ctx.index.setHold('call_held', true);
  const keys = new Map<string, string>();
  for (const sid of ['call_old1', 'call_old2', 'call_held', 'call_new', 'call_undated', 'call_k1', 'call_s1', 'call_s2']) {
    keys.set(sid, (await ctx.index.get(sid))!.storage_key);
  }
  await ctx.close();
  const onDisk = (sid: string) => existsSync(join(dir, 'recordings', keys.get(sid)!));
  const env = { ...base, RECPROXY_RETENTION_DAYS: '30', RECPROXY_RETENTION_DAYS_BY_ORG: 'org_keep=0,org_short=2' };

  const dry = await runCli(['retention', '--dry-run'], { env });
  t.equal(dry.code, 0, dry.stderr);
  t.same(dry.stdout.trim().split('\n'), [
    'call_s1\torg_short\t' + (await startedOf(base, 'call_s1')),
    'call_old1\torg_a\t2020-01-01T00:00:00.000Z',
    'call_undated\torg_a\t-',
    'call_old2\torg_a\t2021-06-01T00:00:00.000Z',
  ], 'exactly the expired calls, each organization of its own first, then oldest first');
  t.match(dry.stderr, /retention: 4 would be deleted, 0 already deleted, 0 skipped, 0 failed/);
  const onlyA = await runCli(['retention', '--dry-run', '--org', 'org_a'], { env });
  t.same(onlyA.stdout.trim().split('\n').map((l) => l.split('\t')[0]), ['call_old1', 'call_undated', 'call_old2'], '--org: one organization');
  for (const sid of keys.keys()) t.ok(onDisk(sid), `dry run: ${sid} still stored`);

  const none = await runCli(['retention', '--org', 'org_keep'], { env });
  t.equal(none.code, 0);
  t.match(none.stderr, /no retention period applies to org_keep/);
  t.equal((await runCli(['retention', '--org', 'bad org'], { env })).code, 2, 'a bad --org is a usage error');

  const run = await runCli(['retention'], { env });
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, '', 'a real pass lists nothing on stdout');
  t.match(run.stderr, /retention: 4 deleted, 0 already deleted, 0 skipped, 0 failed/);
  const gone = ['call_s1', 'call_old1', 'call_undated', 'call_old2'];
  const kept = ['call_held', 'call_new', 'call_k1', 'call_s2'];
  for (const sid of gone) t.notOk(onDisk(sid), `${sid}: bytes deleted`);
  for (const sid of kept) t.ok(onDisk(sid), `${sid}: kept`);

  const after = await createContext(loadConfig(base));
  t.teardown(() => after.close());
  for (const sid of gone) t.ok((await after.index.get(sid))?.deleted_at, `${sid}: row marked deleted`);
  for (const sid of kept) t.equal((await after.index.get(sid))?.deleted_at, null, `${sid}: row live`);
  const audit = await after.audit.query({ action: 'delete', order: 'asc' });
  t.same(audit.map((a) => [a.call_sid, a.org_id, a.principal]), gone.map((sid) => [sid, sid === 'call_s1' ? 'org_short' : 'org_a', 'retention']), 'one audit row per deletion');

  const again = await runCli(['retention'], { env });
  t.match(again.stderr, /retention: 0 deleted/, 'a second pass has nothing left to do');
  const off = await runCli(['retention'], { env: base });
  t.match(off.stderr, /no retention period applies \(RECPROXY_RETENTION_DAYS/, 'retention off: says so');
});

async function startedOf(env: Record<string, string>, sid: string): Promise<string> {
  const ctx = await createContext(loadConfig(env));
  try {
    return (await ctx.index.get(sid))!.started_at!;
  } finally {
    await ctx.close();
  }
}

t.test('the daemon deletes expired calls in the background, batch after batch, and keeps held and recent ones', async (t) => {
  const d = await startDaemon({
    RECPROXY_RETENTION_DAYS: '30',
    RECPROXY_RETENTION_INTERVAL_SEC: '1',
    RECPROXY_RETENTION_BATCH_SIZE: '2',
    RECPROXY_RETENTION_PAUSE_MS: '10',
  });
  t.teardown(d.stop);
  const old = ['call_b1', 'call_b2', 'call_b3', 'call_b4', 'call_b5'];
  for (const [i, sid] of old.entries()) await d.addCall({ org: 'org_d', sid, to: '+1555', startedAt: `2020-01-0${i + 1}T00:00:00Z`, bytes: wav });
  await d.addCall({ org: 'org_d', sid: 'call_bheld', to: '+1555', startedAt: '2019-01-01T00:00:00Z', bytes: wav });
  await d.addCall({ org: 'org_d', sid: 'call_bnew', to: '+1555', startedAt: daysAgo(2), bytes: wav });
  await d.ctx.index.setHold('call_bheld', true);
  const status = async (sid: string) => (await fetch(`${d.url}/api/calls/${sid}`, { headers: d.headers('org_d') })).status;

  const deadline = Date.now() + 60_000;
  let left = old;
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = (await Promise.all(old.map(async (sid) => ((await status(sid)) === 404 ? undefined : sid)))).filter((s) => s !== undefined);
  }
  t.same(left, [], 'every expired call is gone');
  t.equal(await status('call_bheld'), 200, 'the held call stays');
  t.equal(await status('call_bnew'), 200, 'the recent call stays');
  for (const sid of old) {
    const r = (await d.ctx.index.get(sid))!;
    await t.rejects(d.ctx.storage.stat(r.storage_key), { code: 'OBJECT_NOT_FOUND' }, `${sid}: bytes gone`);
  }
  // Written by the daemon's audit thread, which a loaded machine may start late: wait for the rows.
  let rows = await d.ctx.audit.query({ org: 'org_d', action: 'delete' });
  for (const until = Date.now() + 120_000; rows.length < old.length && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 200));
    rows = await d.ctx.audit.query({ org: 'org_d', action: 'delete' });
  }
  t.same(rows.map((r) => [r.call_sid, r.principal]).sort(), old.map((sid) => [sid, 'retention']), 'each deletion in the audit');
});
