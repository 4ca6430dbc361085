/**
 * `recproxy backup DEST` (src/stores/sqlite/backup.ts): an online copy of the index and the
 * audit while the daemon serves 50 concurrent readers and `calls add` writes: no reader sees an
 * error, and the copy passes its integrity check and answers the same lookups.
 */
import t from 'tap';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import { runCli } from './helpers/cli.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

t.test('a backup taken under load: readers unharmed, the copy checks and answers the same lookups', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '0' });
  t.teardown(d.stop);
  const sids = Array.from({ length: 20 }, (_, i) => `call_bk${i}`);
  for (const [i, sid] of sids.entries()) await d.addCall({ org: 'org_b', sid, to: `+1555000${i}`, bytes: makeWav(0.2 + i / 100) });
  const before = await Promise.all(sids.map((sid) => d.ctx.index.get(sid)));
  const env = {
    RECPROXY_DB_PATH: join(d.dir, 'index.db'),
    RECPROXY_LOCAL_ROOT: join(d.dir, 'recordings'),
    RECPROXY_SIGNING_KEY_FILE: join(d.dir, 'signing.key'),
  };
  const h = d.headers('org_b');

  let stop = false;
  const problems: string[] = [];
  let reads = 0;
  const reader = async (n: number) => {
    for (let i = n; !stop; i++) {
      const sid = sids[i % sids.length]!;
      const res = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers: h });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200 || body.length !== before[i % sids.length]!.size_bytes) problems.push(`${sid}: ${res.status} ${body.length}`);
      reads++;
    }
  };
  const readers = Array.from({ length: 50 }, (_, n) => reader(n));
  const writer = (async () => {
    const added: number[] = [];
    for (let i = 0; i < 3; i++) {
      const file = join(d.dir, `new${i}.wav`);
      await writeFile(file, makeWav(0.3, 8000 + i));
      added.push((await runCli(['calls', 'add', '--org', 'org_b', '--sid', `call_new${i}`, '--to', '+1666', '--file', file], { env, timeoutMs: 120_000 })).code ?? -1);
    }
    return added;
  })();

  const dest = await mkdtemp(join(tmpdir(), 'recproxy-backup-'));
  t.teardown(() => rm(dest, { recursive: true, force: true }));
  const backup = await runCli(['backup', join(dest, 'copy')], { env, timeoutMs: 120_000 });
  const writes = await writer;
  stop = true;
  await Promise.all(readers);

  t.equal(backup.code, 0, backup.stderr);
  t.match(backup.stdout, /^index: .*index\.db → .*copy\/index\.db \(\d+ bytes, \d+ calls, integrity ok\)\naudit: .*index\.audit\.db → .*copy\/index\.audit\.db \(\d+ bytes, \d+ audit rows, integrity ok\)\n$/);
  t.same(writes, [0, 0, 0], 'calls add wrote meanwhile');
  t.ok(reads >= 50, `${reads} downloads ran meanwhile`);
  t.same(problems, [], 'no reader saw an error');
  t.same((await readdir(join(dest, 'copy'))).sort(), ['index.audit.db', 'index.db'], 'the two files, and no journal beside them');

  const copy = new SqliteCallIndex(join(dest, 'copy', 'index.db'));
  t.teardown(() => copy.close());
  t.same(await Promise.all(sids.map((sid) => copy.get(sid))), before, 'the copy answers the same lookups');
  const audit = new Database(join(dest, 'copy', 'index.audit.db'), { readonly: true });
  t.equal(audit.pragma('integrity_check', { simple: true }), 'ok');
  audit.close();

  const again = await runCli(['backup', join(dest, 'copy')], { env });
  t.equal(again.code, 1);
  t.match(again.stderr, /copy\/index\.db already exists: back up into an empty folder/);
  t.equal((await runCli(['backup'], { env })).code, 2, 'no destination: a usage error');
});
