/**
 * `recproxy scan` of a generated Asterisk spool of 10,000 recordings with RECPROXY_LOCAL_ROOT
 * pointed at it, through the real CLI (src/cli-ingest.ts): every call indexed in place (its row
 * points at the file where it lies) with the right to/from/started_at/duration, nothing written
 * into the spool, names outside the grammar skipped, and a second run adds nothing.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './helpers/cli.js';
import { indexRows, makeAsteriskTree, summaryLine, tinyWav, wrongRows, type ExpectedCall } from './helpers/pbx-trees.js';
import type { CallRow } from '../src/stores/types.js';

const COUNT = 10_000;
const ORG = 'org_ast';

const dir = await mkdtemp(join(tmpdir(), 'recproxy-ingest-ast-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const tree = join(dir, 'spool');
const expected = await makeAsteriskTree(tree, COUNT);
// Outside the grammar: a note, a name whose date disagrees with its directories, a file at
// the top, and a symbolic link.
await writeFile(join(tree, '2026/11/28/notes.txt'), 'not a recording');
await mkdir(join(tree, '2026/11/27'), { recursive: true });
await writeFile(join(tree, '2026/11/27/out-15550001111-201-20261128-093012-1764999999.1.wav'), tinyWav(5, 1));
await writeFile(join(tree, 'stray.wav'), tinyWav(5, 2));
await symlink(join(tree, expected[0]!.path), join(tree, 'link.wav'));
const OUTSIDE = 4;

function env(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    RECPROXY_DB_PATH: join(dir, `${name}.db`),
    RECPROXY_LOCAL_ROOT: join(dir, `${name}-store`),
    RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'),
    ...extra,
  };
}

const rows = (name: string): CallRow[] => indexRows(join(dir, `${name}.db`));

/** Every expected call has its row, with the fields its path gives and its file's bytes. */
function checkRows(t: { same(a: unknown, b: unknown, m: string): boolean }, found: CallRow[], calls: ExpectedCall[], org: string): void {
  t.same(wrongRows(found, calls, org).slice(0, 5), [], `all ${calls.length} calls have their path's fields and duration`);
}

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

