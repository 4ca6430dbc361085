/**
 * `recproxy scan` of a generated Asterisk spool of 10,000 recordings with RECPROXY_LOCAL_ROOT
 * pointed at it, through the real CLI (src/cli-ingest.ts): every call indexed in place (its row
 * points at the file where it lies) with the right to/from/started_at/duration, nothing written
 * into the spool, names outside the grammar skipped, and a second run adds nothing.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './helpers/cli.js';
import { asteriskSpool, checkRows, runEnv, summaryLine } from './helpers/pbx-trees.js';

const COUNT = 10_000;
const ORG = 'org_ast';

const dir = await mkdtemp(join(tmpdir(), 'recproxy-scan-ast-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const { tree, expected, outside: OUTSIDE } = await asteriskSpool(dir, COUNT);
const { env, rows } = runEnv(dir);

t.test('scan indexes the spool in place when the local root is the spool, and a second run adds nothing', async (t) => {
  const e = env('scan', { RECPROXY_LOCAL_ROOT: tree });
  const first = await runCli(['scan', '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: e, timeoutMs: 200_000 });
  t.equal(first.code, 0, first.stderr.slice(-2000));
  t.equal(summaryLine(first.stderr, 'scan'), `scan: ${COUNT} indexed, 0 already indexed, ${OUTSIDE} skipped, 0 failed`);
  t.match(first.stderr, 'skipped 2026/11/28/notes.txt: not in the asterisk layout');
  const found = rows('scan');
  checkRows(t, found, expected, ORG);
  const byPath = new Map(expected.map((x) => [x.sid, x.path]));
  t.ok(found.every((r) => r.storage_key === byPath.get(r.call_sid)), 'each row points at the file where it lies: nothing copied');
  t.notOk(existsSync(join(tree, ORG)), 'nothing written into the spool');

  const again = await runCli(['scan', '--layout', 'asterisk', '--org', ORG, '--settle-ms', '0'], { env: e, timeoutMs: 200_000 });
  t.equal(summaryLine(again.stderr, 'scan'), `scan: 0 indexed, ${COUNT} already indexed, ${OUTSIDE} skipped, 0 failed`);
  t.equal(rows('scan').length, COUNT);
});

