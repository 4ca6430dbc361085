/**
 * `recproxy ingest --org-from-domain` on a generated FusionPBX archive of 10,000 recordings
 * (src/cli-ingest.ts, src/calls/layouts.ts), through the real CLI: each domain directory is the
 * organization (one that breaks the organization rule is skipped with that reason), `to` is the
 * documented placeholder, `started_at` the path's date; a second run adds nothing. `scan` of the
 * same kind of archive: test/scan-freeswitch.test.ts; on s3: test/scan-s3.test.ts.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './helpers/cli.js';
import { BAD_DOMAIN_FILE, fusionArchive, indexRows, runEnv, summaryLine, wrongRows } from './helpers/pbx-trees.js';

const COUNT = 10_000;
const DOMAINS = ['pbx1.example.com', 'pbx2.example.com', 'tenant_3'];

const dir = await mkdtemp(join(tmpdir(), 'recproxy-ingest-fs-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const { tree, expected, outside: OUTSIDE } = await fusionArchive(dir, COUNT, DOMAINS);
const badDomain = BAD_DOMAIN_FILE;
const { env } = runEnv(dir);

t.test('ingest --org-from-domain indexes every call under its domain; a second run adds nothing', async (t) => {
  const args = ['ingest', tree, '--layout', 'freeswitch', '--org-from-domain', '--settle-ms', '0'];
  const first = await runCli(args, { env: env('ingest'), timeoutMs: 200_000 });
  t.equal(first.code, 0, first.stderr.slice(-2000));
  t.equal(summaryLine(first.stderr, 'ingest'), `ingest: ${COUNT} indexed, 0 already indexed, ${OUTSIDE} skipped, 0 failed`);
  t.match(first.stderr, `skipped ${badDomain}: the domain directory "bad domain!" is not an organization id`);
  t.match(first.stderr, 'skipped pbx1.example.com/archive/2026/Jan/01/voicemail.wav: not in the freeswitch layout: expected {uuid}.{wav|mp3}');
  const rows = indexRows(join(dir, 'ingest.db'));
  t.equal(rows.length, COUNT);
  t.same(wrongRows(rows, expected).slice(0, 5), [], 'organization, placeholder to, date and duration of every call');
  const one = rows.find((r) => r.call_sid === expected[4]!.sid)!;
  t.match(one.storage_key, new RegExp(`^${expected[4]!.org!.replace(/\./g, '\\.')}/${one.call_sid}-[0-9a-f]{8}\\.wav$`));
  t.same(await readFile(join(dir, 'ingest-store', one.storage_key)), await readFile(join(tree, expected[4]!.path)));

  const again = await runCli(args, { env: env('ingest'), timeoutMs: 200_000 });
  t.equal(again.code, 0, again.stderr.slice(-2000));
  t.equal(summaryLine(again.stderr, 'ingest'), `ingest: 0 indexed, ${COUNT} already indexed, ${OUTSIDE} skipped, 0 failed`);
  t.equal(indexRows(join(dir, 'ingest.db')).length, COUNT);
});
