/**
 * `recproxy import FILE` end to end, through the real CLI on real files: a CSV with a header and
 * JSON Lines enrich calls registered first, rows naming a file register new calls, bad rows are
 * reported by line and the rest go in, a second run changes nothing, another organization's call
 * is never touched, and usage errors exit 2 (test/import-usage.test.ts). Asterisk's Master.csv: test/import-cdr.test.ts.
 */
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

async function setup(t: Test) {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-import-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  // A generous timeout: a loaded machine can take many seconds to start the CLI.
  const cli = (...args: string[]) => runCli(args, { cwd, timeoutMs: 120_000 });
  const rows = (): Record<string, unknown>[] => {
    const db = new Database(join(cwd, 'data/index.db'), { readonly: true });
    try {
      return db.prepare('SELECT * FROM calls ORDER BY call_sid').all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  };
  const row = (sid: string) => rows().find((r) => r.call_sid === sid);
  return { cwd, cli, rows, row };
}

t.test('CSV with a header and JSON Lines: enrich, register from files, bad rows by line, a re-run changes nothing', async (t) => {
  const { cwd, cli, rows, row } = await setup(t);
  await mkdir(join(cwd, 'imports/rec'), { recursive: true });
  await writeFile(join(cwd, 'first.wav'), makeWav(2));
  await writeFile(join(cwd, 'imports/rec/new1.wav'), makeWav(3));
  await writeFile(join(cwd, 'abs.wav'), makeWav(1));
  await writeFile(join(cwd, 'imports/rec/j1.wav'), makeWav(1.5));
  await writeFile(join(cwd, 'imports/notes.txt'), 'not audio at all, just words');
  await writeFile(join(cwd, 'other.wav'), makeWav(4));
  // One after the other: the first creates the index.
  let r = await cli('calls', 'add', '--org', 'org_1', '--sid', 'call_c1', '--to', 'unknown', '--file', 'first.wav');
  t.equal(r.code, 0, r.stderr);
  r = await cli('calls', 'add', '--org', 'org_2', '--sid', 'call_o1', '--to', '+15550002222', '--file', 'other.wav');
  t.equal(r.code, 0, r.stderr);
  const otherBefore = row('call_o1');

  const csv = [
    'call_sid,to,from,started_at,duration_ms,org,file',
    'call_c1,+15559876543,+15550001111,2026-11-28T09:30:12Z,99000,,',
    `call_n1,+15551230000,,2026-11-28 10:00:00,,,rec/new1.wav`,
    `call_n2,+15551230001,"Front desk, 2nd floor",,,,${join(cwd, 'abs.wav')}`,
    'call_n3,+15551230002,,,abc,,rec/new1.wav',
    'call_n4,+15551230003,,,,,rec/missing.wav',
    'call_n5,+15551230004,,,,,notes.txt',
    'call_n6,+15551230005,,,,,rec/new1.wav,extra',
    'call_o1,+15550009999,,,,,',
    'call_o1,+15550009999,,,,org_1,../other.wav',
    'call_n7,,,,,,rec/new1.wav',
    'call_n8,+15551230006,,,,,',
  ].join('\n');
  await writeFile(join(cwd, 'imports/calls.csv'), csv);
  r = await cli('import', 'imports/calls.csv', '--org', 'org_1');
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /^import: 3 indexed, 0 already indexed, 3 skipped, 5 failed$/m);
  t.match(r.stderr, /^import: 1 indexed calls enriched, 2 registered from their files$/m);
  t.match(r.stderr, /^import: failed line 5: duration_ms must be a whole number of milliseconds \(got "abc"\)$/m);
  t.match(r.stderr, /^import: failed line 6: call_n4: INVALID_REQUEST: cannot read .*rec\/missing\.wav: ENOENT$/m);
  t.match(r.stderr, /^import: failed line 7: call_n5: UNSUPPORTED_MEDIA_TYPE: .*notes\.txt is not audio/m);
  t.match(r.stderr, /^import: failed line 8: 8 fields for 7 columns$/m);
  t.match(r.stderr, /^import: skipped line 9: call_o1 is not indexed in org_1 and the row names no file$/m);
  t.match(r.stderr, /^import: skipped line 10: call_o1 was named first by line 9/m);
  t.match(r.stderr, /^import: failed line 11: call_n7 is not indexed and registering rec\/new1\.wav needs a to number$/m);
  t.match(r.stderr, /^import: skipped line 12: call_n8 is not indexed in org_1 and the row names no file$/m);
  t.match(row('call_c1'), { to_number: '+15559876543', from_number: '+15550001111', started_at: '2026-11-28T09:30:12.000Z', duration_ms: 2000 });
  t.match(row('call_n1'), { org_id: 'org_1', to_number: '+15551230000', from_number: null, started_at: '2026-11-28T10:00:00.000Z', duration_ms: 3000, size_bytes: makeWav(3).length });
  t.match(row('call_n2'), { from_number: 'Front desk, 2nd floor', duration_ms: 1000 }, 'an absolute path; a quoted comma');
  t.equal(row('call_n3'), undefined, 'a bad row goes in with nothing');
  t.same(row('call_o1'), otherBefore, "org_2's call is untouched");

  const jsonl = [
    JSON.stringify({ pbx_id: 'c1', to: '+15559876543', started_at: '2026-11-28T10:30:12+01:00', org: 'org_1' }),
    JSON.stringify({ call_sid: 'call_j1', to: '+15557770000', from: '+15557770001', duration_ms: 1234, file: 'rec/j1.wav', org: 'org_1' }),
    '{"call_sid": "call_j2", "to": ',
    JSON.stringify({ call_sid: 'call_j3', to: '1', colour: 'red', org: 'org_1' }),
    '',
    JSON.stringify({ call_sid: 'call_o1', from: 'intruder', org: 'org_1' }),
  ].join('\n') + '\n';
  await writeFile(join(cwd, 'imports/more.jsonl'), jsonl);
  r = await cli('import', 'imports/more.jsonl');
  t.equal(r.code, 1);
  t.match(r.stderr, /^import: 1 indexed, 1 already indexed, 1 skipped, 2 failed$/m, 'c1 again, same instant: already');
  t.match(r.stderr, /^import: failed line 3: not JSON: /m);
  t.match(r.stderr, /^import: failed line 4: unknown field "colour"$/m);
  t.match(r.stderr, /^import: skipped line 6: call_o1 is not indexed in org_1/m);
  t.match(row('call_j1'), { from_number: '+15557770001', duration_ms: 1500 }, "the bytes' duration, not the row's");

  const before = rows();
  r = await cli('import', 'imports/calls.csv', '--org', 'org_1');
  t.match(r.stderr, /^import: 0 indexed, 3 already indexed, 3 skipped, 5 failed$/m);
  r = await cli('import', 'imports/more.jsonl');
  t.match(r.stderr, /^import: 0 indexed, 2 already indexed, 1 skipped, 2 failed$/m);
  t.same(rows(), before, 'second runs change no row');
  t.equal(rows().length, 5, 'c1, j1, n1, n2, o1');
});
