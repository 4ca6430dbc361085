/**
 * `recproxy import` of Asterisk's own CDR file, Master.csv, through the real CLI: its uniqueid
 * joins the call registered first, dst/src/start/billsec enrich it (times in --timezone), it is
 * recognised by content or named by --format, bad lines are reported by number, a second run
 * changes nothing, and another organization's call is not touched.
 */import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

/** A cdr_csv line as Asterisk writes it (loguniqueid and loguserfield on). */
function cdr(src: string, dst: string, start: string, billsec: number, disposition: string, uniqueid: string, fields = 18): string {
  const answer = billsec ? start.replace(/:(\d\d)$/, (_, s: string) => `:${String(Math.min(Number(s) + 6, 59)).padStart(2, '0')}`) : '';
  return [
    '""', `"${src}"`, `"${dst}"`, '"from-internal"', `"""Ext ${src}"" <${src}>"`, `"PJSIP/${src}-0000001a"`,
    billsec ? '"PJSIP/trunk-0000001b"' : '""', '"Dial"', `"PJSIP/${dst}@trunk,300,Tt"`, `"${start}"`, answer ? `"${answer}"` : '',
    `"${start}"`, String(billsec + 6), String(billsec), `"${disposition}"`, '"DOCUMENTATION"', `"${uniqueid}"`, '""',
  ].slice(0, fields).join(',');
}

t.test('Master.csv: uniqueid joins the recording; times in --timezone; bad lines by number; a re-run changes nothing', async (t) => {
  const { cwd, cli, rows, row } = await setup(t);
  await writeFile(join(cwd, 'a.wav'), makeWav(2));
  await writeFile(join(cwd, 'b.wav'), makeWav(1));
  // One after the other: the first creates the index.
  let r = await cli('calls', 'add', '--org', 'org_1', '--sid', 'call_176432221284', '--to', 'unknown', '--file', 'a.wav');
  t.equal(r.code, 0, r.stderr);
  r = await cli('calls', 'add', '--org', 'org_2', '--sid', 'call_17644000001', '--to', '+15550002222', '--file', 'b.wav');
  t.equal(r.code, 0, r.stderr);
  const otherBefore = row('call_17644000001');

  const master = [
    cdr('201', '15559876543', '2026-11-28 09:30:12', 132, 'ANSWERED', '1764322212.84'),
    cdr('202', '15551112222', '2026-11-28 10:00:00', 0, 'NO ANSWER', '1764324000.90'),
    cdr('203', '15553334444', '2026-11-28 11:00:00', 40, 'ANSWERED', '1764400000.1'),
    // Written before loguniqueid was turned on: 16 fields.
    cdr('204', '15555556666', '2026-11-28 12:00:00', 10, 'ANSWERED', '', 16),
    cdr('201', '15559999999', '2026-11-28 09:31:00', 50, 'ANSWERED', '1764322212.84'),
  ].join('\n') + '\n';
  await writeFile(join(cwd, 'Master.csv'), master);

  r = await cli('import', 'Master.csv', '--org', 'org_1', '--timezone', 'Europe/Berlin');
  t.equal(r.code, 1, 'a failed line: exit 1');
  t.match(r.stderr, /^import: 1 indexed, 0 already indexed, 3 skipped, 1 failed$/m);
  t.match(r.stderr, /^import: skipped line 2: call_176432400090 is not indexed in org_1 and the row names no file$/m);
  t.match(r.stderr, /^import: skipped line 3: call_17644000001 is not indexed in org_1/m, "another organization's call is not found");
  t.match(r.stderr, /^import: failed line 4: no uniqueid in column 17: Asterisk writes it with loguniqueid=yes/m);
  t.match(r.stderr, /^import: skipped line 5: call_176432221284 was named first by line 1/m);
  t.match(row('call_176432221284'), {
    org_id: 'org_1', to_number: '15559876543', from_number: '201', started_at: '2026-11-28T08:30:12.000Z', duration_ms: 2000,
  }, "dst, src and start (Berlin time); the bytes' duration stays");
  t.same(row('call_17644000001'), otherBefore, "org_2's call is untouched");

  const before = rows();
  r = await cli('import', 'Master.csv', '--org', 'org_1', '--timezone', 'Europe/Berlin');
  t.match(r.stderr, /^import: 0 indexed, 1 already indexed, 3 skipped, 1 failed$/m, 'the second run: already');
  t.same(rows(), before, 'the second run changes no row');

  r = await cli('import', 'Master.csv');
  t.equal(r.code, 1);
  t.match(r.stderr, /INVALID_REQUEST: Master\.csv is an Asterisk Master\.csv .* pass --org/, 'recognised by content; it needs --org');
  await writeFile(join(cwd, 'cdr.log'), master);
  r = await cli('import', 'cdr.log', '--format', 'asterisk-cdr', '--org', 'org_1', '--timezone', 'Europe/Berlin');
  t.match(r.stderr, /^import: 0 indexed, 1 already indexed, 3 skipped, 1 failed$/m, '--format names it whatever the extension');
  t.same(rows(), before);
});
