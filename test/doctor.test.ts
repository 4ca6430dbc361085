/**
 * `recproxy doctor` (src/calls/doctor.ts): an index with 3 rows whose files were removed and a
 * store with 2 objects no row points to is reported exactly so, with a non-zero exit; `--fix`
 * marks those 3 rows deleted and touches no file.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

t.test('3 rows without bytes and 2 orphans: reported exactly, exit 1; --fix marks the rows and keeps every file', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const sids = ['call_d1', 'call_d2', 'call_d3', 'call_d4', 'call_d5', 'call_d6'];
  for (const [i, sid] of sids.entries()) await d.addCall({ org: 'org_d', sid, to: '+1555', bytes: makeWav(0.1 + i / 100) });
  const root = d.ctx.config.localRoot;
  const env = { RECPROXY_DB_PATH: join(d.dir, 'index.db'), RECPROXY_LOCAL_ROOT: root, RECPROXY_SIGNING_KEY_FILE: join(d.dir, 'signing.key') };

  const clean = await runCli(['doctor'], { env, timeoutMs: 60_000 });
  t.equal(clean.code, 0, clean.stderr);
  t.match(clean.stdout, /^index: integrity ok\nstorage \(local\): answers\nchecked 6 calls and 6 stored objects\nhealthy\n$/);

  const gone = ['call_d2', 'call_d4', 'call_d6'];
  const keys = new Map<string, string>();
  for (const sid of sids) keys.set(sid, (await d.ctx.index.get(sid))!.storage_key);
  for (const sid of gone) await unlink(join(root, keys.get(sid)!));
  await mkdir(join(root, 'org_x'), { recursive: true });
  await writeFile(join(root, 'org_x', 'stray.wav'), makeWav(0.1));
  await writeFile(join(root, 'notes.txt'), 'left by hand');

  const sick = await runCli(['doctor', '--json'], { env, timeoutMs: 60_000 });
  t.equal(sick.code, 1, 'problems: exit 1');
  const report = JSON.parse(sick.stdout) as {
    healthy: boolean;
    index: string[];
    missing: { call_sid: string }[];
    sizeMismatch: unknown[];
    orphans: { key: string; size: number }[];
    checked: { rows: number; objects: number };
  };
  t.equal(report.healthy, false);
  t.same(report.index, []);
  t.same(report.missing.map((m) => m.call_sid).sort(), gone, 'exactly the 3 rows whose files were removed');
  t.same(report.sizeMismatch, []);
  t.same(report.orphans.map((o) => o.key).sort(), ['notes.txt', 'org_x/stray.wav'], 'exactly the 2 orphans');
  t.same(report.checked, { rows: 6, objects: 5 });

  const words = await runCli(['doctor'], { env, timeoutMs: 60_000 });
  t.equal(words.code, 1);
  t.match(words.stdout, /missing: call_d2 \(org_d\): nothing at org_d\/call_d2-[0-9a-f]{8}\.wav\n/);
  t.match(words.stdout, /orphan: notes\.txt \(12 bytes\): no call points to it\n/);
  t.match(words.stdout, /problems found\n$/);

  const fixed = await runCli(['doctor', '--fix', '--json'], { env, timeoutMs: 60_000 });
  t.equal(fixed.code, 1, 'the problems were there when it looked');
  t.same((JSON.parse(fixed.stdout) as { fixed: string[] }).fixed.sort(), gone);
  for (const sid of gone) t.not((await d.ctx.index.get(sid))!.deleted_at, null, `${sid} marked deleted`);
  t.ok(existsSync(join(root, 'org_x', 'stray.wav')) && existsSync(join(root, 'notes.txt')), 'no file deleted');
  const after = JSON.parse((await runCli(['doctor', '--json'], { env, timeoutMs: 60_000 })).stdout) as { missing: unknown[]; orphans: unknown[] };
  t.same([after.missing.length, after.orphans.length], [0, 2], 'after --fix: only the orphans are left to an operator');

  await rm(root, { recursive: true, force: true });
  await writeFile(root, 'not a folder');
  const down = await runCli(['doctor'], { env, timeoutMs: 60_000 });
  t.equal(down.code, 1);
  t.match(down.stdout, /storage \(local\): storage is unavailable: local root .* is not a readable, writable directory/);
});
