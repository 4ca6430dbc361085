/**
 * `recproxy ingest` on a generated Asterisk spool of 10,000 recordings, through the real CLI
 * (src/cli-ingest.ts, layouts: src/calls/layouts.ts): every call copied into the store and
 * indexed with the right to/from/started_at/duration, a second run adds nothing, names outside
 * the grammar are skipped with their reason. `scan` of the same kind of spool:
 * test/scan-asterisk.test.ts; conflicts, deleted calls, interruption, usage: test/ingest-cli.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './helpers/cli.js';
import { asteriskSpool, checkRows, runEnv, summaryLine } from './helpers/pbx-trees.js';

const COUNT = 10_000;
const ORG = 'org_ast';

const dir = await mkdtemp(join(tmpdir(), 'recproxy-ingest-ast-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const { tree, expected, outside: OUTSIDE } = await asteriskSpool(dir, COUNT);
const { env, rows } = runEnv(dir);

t.test('ingest indexes the whole spool, skips what is outside the grammar, and a second run adds nothing', async (t) => {
  const first = await runCli(['ingest', tree, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: env('ingest'), timeoutMs: 200_000 });
  t.equal(first.code, 0, first.stderr.slice(-2000));
  t.equal(summaryLine(first.stderr, 'ingest'), `ingest: ${COUNT} indexed, 0 already indexed, ${OUTSIDE} skipped, 0 failed`);
  t.match(first.stderr, 'skipped 2026/11/28/notes.txt: not in the asterisk layout');
  t.match(first.stderr, "skipped 2026/11/27/out-15550001111-201-20261128-093012-1764999999.1.wav: the date directories 2026/11/27 disagree with the name's date 20261128");
  t.match(first.stderr, 'skipped stray.wav: not in the asterisk layout: expected YYYY/MM/DD/{file}');
  t.match(first.stderr, 'skipped link.wav: a symbolic link (not followed)');

  const found = rows('ingest');
  t.equal(found.length, COUNT, 'one row per recording, nothing guessed');
  checkRows(t, found, expected, ORG);
  const sample = found.find((r) => r.call_sid === expected[123]!.sid)!;
  t.match(sample.storage_key, new RegExp(`^${ORG}/${sample.call_sid}-[0-9a-f]{8}\\.wav$`), 'copied into the store under the organization');
  const stored = await readFile(join(dir, 'ingest-store', sample.storage_key));
  t.same(stored, await readFile(join(tree, expected[123]!.path)), 'the stored bytes are the file');
  t.equal(createHash('sha256').update(stored).digest('hex'), sample.sha256);

  const again = await runCli(['ingest', tree, '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: env('ingest'), timeoutMs: 200_000 });
  t.equal(again.code, 0, again.stderr.slice(-2000));
  t.equal(summaryLine(again.stderr, 'ingest'), `ingest: 0 indexed, ${COUNT} already indexed, ${OUTSIDE} skipped, 0 failed`);
  t.equal(rows('ingest').length, COUNT, 'the second run added no row');
  const days = await readdir(join(dir, 'ingest-store', ORG));
  t.equal(days.length, COUNT, 'and no object');
});
