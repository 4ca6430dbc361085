/**
 * `recproxy calls list`, `calls delete` and `calls hold` as real processes: the listing of
 * GET /api/calls as a table or JSON Lines, with its filters and across pages; deletion by the
 * same rules as DELETE /api/calls/{sid} (refused while held, idempotent, bytes gone); usage
 * errors exit 2 before anything is opened.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../config/load.js';
import { createContext } from '../src/context.js';
import { registerFile } from '../src/register-file.js';
import { fillSqliteIndex } from '../src/stores/sqlite/index.js';
import { runCli } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

t.test('calls list, calls hold and calls delete', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-cli-calls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = {
    RECPROXY_DB_PATH: join(dir, 'index.db'),
    RECPROXY_LOCAL_ROOT: join(dir, 'recordings'),
    RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'),
  };
  const ctx = await createContext(loadConfig(env));
  const file = join(dir, 'tone.wav');
  await writeFile(file, makeWav(0.5));
  await registerFile(ctx.calls, { org: 'org_a', sid: 'call_c1', to: '+15551110001', from: '201', startedAt: '2026-01-01T10:00:00Z' }, file);
  await registerFile(ctx.calls, { org: 'org_a', sid: 'call_c2', to: '+15552220002', startedAt: '2026-01-02T10:00:00Z' }, file);
  await registerFile(ctx.calls, { org: 'org_a', sid: 'call_c3', to: '+15551110003' }, file);
  await registerFile(ctx.calls, { org: 'org_b', sid: 'call_c4', to: '+15551110004', startedAt: '2026-01-03T10:00:00Z' }, file);
  const key = (await ctx.index.get('call_c1'))!.storage_key;
  const template = { ...(await ctx.index.get('call_c1'))!, call_sid: 'call_t' };
  await ctx.close();
  fillSqliteIndex(env.RECPROXY_DB_PATH, 1005, 'org_g', template);

  const table = await runCli(['calls', 'list', '--org', 'org_a'], { env });
  t.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  t.match(lines[0], /^CALL_SID\s+TO\s+FROM\s+STARTED_AT\s+DURATION_MS\s+SIZE_BYTES\s+HOLD$/, 'a table with a header');
  t.same(lines.slice(1).map((l) => l.split(/\s+/)[0]), ['call_c2', 'call_c1', 'call_c3'], "the organization's calls in the listing order");
  t.match(lines[2], /^call_c1\s+\+15551110001\s+201\s+2026-01-01T10:00:00\.000Z\s+500\s+\d+\s+-$/);

  const json = await runCli(['calls', 'list', '--org', 'org_a', '--to', '+1555111*', '--until', '2026-01-02T00:00:00Z', '--json'], { env });
  t.equal(json.code, 0, json.stderr);
  const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(rows.map((r) => r.call_sid), ['call_c1'], '--to as a prefix and --until; JSON Lines');
  t.match(rows[0], { call_sid: 'call_c1', to: '+15551110001', from: '201', duration_ms: 500, legal_hold: false, legal_hold_at: null });
  t.notOk('storage_key' in rows[0]!, 'the public metadata, never the storage key');


  const many = await runCli(['calls', 'list', '--org', 'org_g', '--limit', '1003', '--json'], { env });
  const sids = many.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { call_sid: string }).call_sid);
  t.equal(sids.length, 1003, '--limit beyond one page: the listing is followed across pages');
  t.equal(new Set(sids).size, 1003, 'no call twice');
  t.equal(sids[0], 'call_g1004', 'newest first');
  const some = await runCli(['calls', 'list', '--org', 'org_g'], { env });
  t.equal(some.stdout.trimEnd().split('\n').length, 101, 'without --limit: 100 calls and the header');

  const hold = await runCli(['calls', 'hold', '--sid', 'call_c1'], { env });
  t.equal(hold.code, 0, hold.stderr);
  t.match(JSON.parse(hold.stdout), { call_sid: 'call_c1', legal_hold: true });
  const refused = await runCli(['calls', 'delete', '--sid', 'call_c1'], { env });
  t.equal(refused.code, 1, 'a held call is not deleted');
  t.match(refused.stderr, /^recproxy: LEGAL_HOLD: call call_c1 is on legal hold/);
  t.ok(existsSync(join(dir, 'recordings', key)), 'its bytes stay');
  t.match(JSON.parse((await runCli(['calls', 'hold', '--sid', 'call_c1', '--release'], { env })).stdout), { legal_hold: false });

  const deleted = await runCli(['calls', 'delete', '--sid', 'call_c1'], { env });
  t.equal(deleted.code, 0, deleted.stderr);
  t.match(deleted.stderr, /call_c1 \(org_a\) deleted/);
  t.notOk(existsSync(join(dir, 'recordings', key)), 'the bytes are gone');
  const again = await runCli(['calls', 'delete', '--sid', 'call_c1'], { env });
  t.equal(again.code, 0, 'deleting again is done');
  t.match(again.stderr, /call_c1 was already deleted; nothing changed/);
  const missing = await runCli(['calls', 'delete', '--sid', 'call_nope'], { env });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /CALL_NOT_FOUND/);

  const audit = await runCli(['audit', '--sid', 'call_c1'], { env });
  t.same(
    (JSON.parse(audit.stdout) as { action: string; principal: string }[]).map((a) => a.action),
    ['delete', 'release', 'hold'],
    'the hold, its release and the deletion are in the audit',
  );
  t.match(audit.stdout, /"principal": "cli/);
});

t.test('usage errors exit 2 before anything is opened', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-cli-calls-usage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases: [string[], RegExp][] = [
    [['calls', 'list'], /calls list needs --org/],
    [['calls', 'list', '--org', 'org_a', '--since', 'yesterday'], /--since must be an ISO 8601 time/],
    [['calls', 'list', '--org', 'org_a', '--limit', '0'], /--limit must be a positive integer/],
    [['calls', 'delete', '--sid', 'nope'], /--sid must be call_/],
    [['retention', '--dry'], /Unknown option '--dry'/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args, { cwd: dir, timeoutMs: 120_000 });
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, message);
  }
  t.notOk(existsSync(join(dir, 'data')), 'nothing was created');
});
