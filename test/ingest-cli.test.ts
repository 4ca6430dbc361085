/**
 * `recproxy ingest` and `recproxy scan` beyond the happy path, through the real CLI
 * (src/cli-ingest.ts): other bytes under an indexed call_sid fail as a conflict and never
 * overwrite, a deleted call is not ingested again, bytes that are not audio fail, a file still
 * changing is left for later, usage errors exit 2, and SIGINT stops a run cleanly (a re-run
 * completes it).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { BIN, cleanEnv, runCli } from './helpers/cli.js';
import { makeAsteriskTree, runEnv, summaryLine, tinyWav } from './helpers/pbx-trees.js';

const ORG = 'org_ast';
/** runCli's limit: only ends a hang (a busy machine starts a CLI in seconds, not milliseconds). */
const SLOW = 120_000;
const dir = await mkdtemp(join(tmpdir(), 'recproxy-ingest-cli-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const { env, rows } = runEnv(dir);

t.test('other bytes under an indexed call_sid fail as a conflict and never overwrite; a deleted call is not ingested again', async (t) => {
  const name = 'conflict';
  const small = join(dir, 'small');
  const calls = await makeAsteriskTree(small, 3);
  const first = await runCli(['ingest', small, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: env(name), timeoutMs: SLOW });
  t.equal(first.code, 0, first.stderr);
  const before = rows(name);

  // The same uniqueid in another file with other bytes (another day's name, same call).
  const other = join(dir, 'other');
  const clash = `2026/11/05/out-15559990000-777-20261105-101010-${calls[1]!.sid.slice(5, 15)}.${calls[1]!.sid.slice(15)}.wav`;
  await mkdir(join(other, '2026/11/05'), { recursive: true });
  await writeFile(join(other, clash), tinyWav(9, 999));
  const conflict = await runCli(['ingest', other, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: env(name), timeoutMs: SLOW });
  t.equal(conflict.code, 1, 'something failed: exit 1');
  t.equal(summaryLine(conflict.stderr, 'ingest'), 'ingest: 0 indexed, 0 already indexed, 0 skipped, 1 failed');
  t.match(conflict.stderr, new RegExp(`failed ${clash.replace(/\./g, '\\.')}: conflict: ${calls[1]!.sid} is already indexed with other bytes`));
  t.same(rows(name), before, 'the first recording stays, untouched');

  // Another organization's run meets the call_sid of this one.
  const foreign = await runCli(['ingest', small, '--layout', 'asterisk', '--org', 'org_other', '--settle-ms', '0'], { env: env(name), timeoutMs: SLOW });
  t.equal(foreign.code, 1);
  t.match(foreign.stderr, `conflict: ${calls[0]!.sid} is indexed for another organization`);

  // Deleted earlier: a tombstone row is never re-ingested.
  const db = new Database(join(dir, `${name}.db`));
  db.prepare("UPDATE calls SET deleted_at = '2026-11-29T00:00:00.000Z' WHERE call_sid = ?").run(calls[2]!.sid);
  db.close();
  const rerun = await runCli(['ingest', small, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: env(name), timeoutMs: SLOW });
  t.equal(rerun.code, 0, rerun.stderr);
  t.equal(summaryLine(rerun.stderr, 'ingest'), 'ingest: 0 indexed, 2 already indexed, 1 skipped, 0 failed');
  t.match(rerun.stderr, `skipped ${calls[2]!.path}: ${calls[2]!.sid} was deleted on 2026-11-29T00:00:00.000Z; not ingested again`);
  t.equal(rows(name).find((r) => r.call_sid === calls[2]!.sid)!.deleted_at, '2026-11-29T00:00:00.000Z', 'still deleted');

  // A file with an Asterisk name whose bytes are not audio fails with the reason.
  const junk = join(dir, 'junk');
  await mkdir(join(junk, '2026/11/06'), { recursive: true });
  await writeFile(join(junk, '2026/11/06/in-15550000001-200-20261106-000000-1764888888.1.wav'), 'not audio at all');
  const notAudio = await runCli(['ingest', junk, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: env(name), timeoutMs: SLOW });
  t.equal(notAudio.code, 1);
  t.match(notAudio.stderr, /failed 2026\/11\/06\/in-15550000001-200-20261106-000000-1764888888\.1\.wav: UNSUPPORTED_MEDIA_TYPE: .* is not audio/);
});

t.test('a file changed within the settle time is left for a later run', async (t) => {
  const fresh = join(dir, 'fresh');
  const calls = await makeAsteriskTree(fresh, 1);
  const run = await runCli(['ingest', fresh, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '600000'], { env: env('fresh'), timeoutMs: SLOW });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, `skipped ${calls[0]!.path}: changed in the last 600000 ms: may still be being written; run again later`);
  const scan = await runCli(['scan', '--layout', 'asterisk', '--org', ORG, '--settle-ms', '600000'], { env: env('fresh-scan', { RECPROXY_LOCAL_ROOT: fresh }), timeoutMs: SLOW });
  t.equal(scan.code, 0, scan.stderr);
  t.match(scan.stderr, `skipped ${calls[0]!.path}: changed in the last 600000 ms`);
  t.equal(rows('fresh').length + rows('fresh-scan').length, 0, 'nothing indexed');
});

t.test('usage errors exit 2 before anything is opened', async (t) => {
  const e = env('usage');
  const cases: [string[], RegExp][] = [
    [['ingest', dir, '--layout', 'cisco', '--org', ORG], /unknown layout "cisco": --layout must be asterisk, freeswitch, flat/],
    [['scan', '--layout', 'nope', '--org', ORG], /unknown layout "nope"/],
    [['ingest', dir, '--layout', 'asterisk', '--org', ORG, '--org-from-domain'], /exactly one of --org ORG and --org-from-domain/],
    [['ingest', dir, '--layout', 'asterisk', '--org-from-domain', '--utc-offset', '2h'], /--org-from-domain needs --layout freeswitch/],
  ];
  // Independent runs, side by side.
  const [help, ...answers] = await Promise.all([['ingest', '--help'], ...cases.map(([args]) => args)].map((args) => runCli(args, { env: e, timeoutMs: SLOW })));
  cases.forEach(([args, message], i) => {
    t.equal(answers[i]!.code, 2, args.join(' '));
    t.match(answers[i]!.stderr, message, args.join(' '));
  });
  t.notOk(existsSync(join(dir, 'usage.db')), 'no index was created');
  const missing = await runCli(['ingest', join(dir, 'no-such-dir'), '--layout', 'flat', '--org', ORG], { env: e, timeoutMs: SLOW });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /INVALID_REQUEST: .*no-such-dir is not a folder/);
  t.equal(help!.code, 0);
  t.match(help!.stdout, 'recproxy ingest DIR --layout asterisk|freeswitch|flat');
});

t.test('SIGINT finishes the files in flight, prints the summary and exits 130; a re-run completes the spool', async (t) => {
  const COUNT = 4000;
  const OUTSIDE = 0;
  const tree = join(dir, 'spool');
  await makeAsteriskTree(tree, COUNT);
  const e = env('interrupted');
  const child = spawn(process.execPath, [BIN, 'ingest', tree, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: cleanEnv(e), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let signalled = false;
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    // The first progress line (every 1,000 files): most of the spool is still to go.
    if (!signalled && /ingest: 1000\/\d+ done/.test(stderr)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.ok(signalled, 'the run reported progress');
  t.equal(code, 130, stderr.slice(-1000));
  const m = /ingest: interrupted after (\d+) items: (\d+) indexed, 0 already indexed, (\d+) skipped, 0 failed/.exec(stderr);
  t.ok(m, stderr.slice(-1000));
  const indexed = Number(m![2]);
  t.ok(indexed >= 1000 - OUTSIDE && indexed < COUNT, `stopped part-way (${indexed} indexed)`);
  t.equal(rows('interrupted').length, indexed, 'every counted call has its row, and no other');

  const rerun = await runCli(['ingest', tree, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: e, timeoutMs: 200_000 });
  t.equal(rerun.code, 0, rerun.stderr.slice(-1000));
  t.equal(summaryLine(rerun.stderr, 'ingest'), `ingest: ${COUNT - indexed} indexed, ${indexed} already indexed, ${OUTSIDE} skipped, 0 failed`);
  t.equal(rows('interrupted').length, COUNT);
});
