/**
 * `recproxy scan --org ORG` of a generated FusionPBX archive of 10,000 recordings with
 * RECPROXY_LOCAL_ROOT pointed at it, through the real CLI (src/cli-ingest.ts): every call
 * indexed in place under the one organization (the domain directory is then only part of the
 * path), with the placeholder `to` and the path's date; a second run adds nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './helpers/cli.js';
import { BAD_DOMAIN_FILE, fusionArchive, indexRows, runEnv, summaryLine, wrongRows } from './helpers/pbx-trees.js';

const COUNT = 10_000;
const DOMAINS = ['pbx1.example.com', 'pbx2.example.com', 'tenant_3'];

const dir = await mkdtemp(join(tmpdir(), 'recproxy-scan-fs-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const { tree, expected } = await fusionArchive(dir, COUNT, DOMAINS);
const badDomain = BAD_DOMAIN_FILE;
const { env } = runEnv(dir);

t.test('scan indexes the archive in place under one --org; a second run adds nothing', async (t) => {
  const e = env('scan', { RECPROXY_LOCAL_ROOT: tree });
  const run = await runCli(['scan', '--layout', 'freeswitch', '--org', 'org_fs', '--settle-ms', '0'], { env: e, timeoutMs: 200_000 });
  t.equal(run.code, 0, run.stderr.slice(-2000));
  // Without --org-from-domain the domain directory is only part of the path: "bad domain!" is read too.
  t.equal(summaryLine(run.stderr, 'scan'), `scan: ${COUNT + 1} indexed, 0 already indexed, 1 skipped, 0 failed`);
  const rows = indexRows(join(dir, 'scan.db'));
  t.same(wrongRows(rows, expected.map((x) => ({ ...x, org: 'org_fs' }))).slice(0, 5), []);
  const byPath = new Map(expected.map((x) => [x.sid, x.path]));
  t.ok(rows.every((r) => r.storage_key === (byPath.get(r.call_sid) ?? badDomain)), 'every row points at the file where it lies');

  const again = await runCli(['scan', '--layout', 'freeswitch', '--org', 'org_fs', '--settle-ms', '0'], { env: e, timeoutMs: 200_000 });
  t.equal(again.code, 0, again.stderr.slice(-2000));
  t.equal(summaryLine(again.stderr, 'scan'), `scan: 0 indexed, ${COUNT + 1} already indexed, 1 skipped, 0 failed`);
  t.equal(indexRows(join(dir, 'scan.db')).length, COUNT + 1);
});
