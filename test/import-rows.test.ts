/**
 * The rules of `recproxy import` in-process: rows from CSV/JSON Lines records and Master.csv
 * lines (src/calls/import.ts), times in a time zone, what a row changes of an indexed call, the
 * record readers with their line numbers (src/import-read.ts), and the index's `update` with the
 * calls service's `enrich` on a real SQLite index.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RowProblem, checkHeader, checkTimeZone, enrichment, looksLikeCdr, rowFromCdr, rowFromRecord, toIsoTime,
} from '../src/calls/import.js';
import { CallsService } from '../src/calls/service.js';
import { countLines, csvRecords, fileLines, jsonRecords } from '../src/import-read.js';
import { openSqliteStores } from '../src/stores/sqlite/index.js';
import type { CallRow, NewCall } from '../src/stores/types.js';

const UTC = { timeZone: 'UTC' };

async function* linesOf(text: string): AsyncGenerator<string> {
  yield* text.split('\n');
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A realistic cdr_csv line: loguniqueid and loguserfield on, a quoted field holding commas. */
const CDR_LINE = [
  '""', '"201"', '"15559876543"', '"from-internal"', '"""Alice Smith"" <201>"', '"PJSIP/201-00000012"', '"PJSIP/trunk-00000013"',
  '"Dial"', '"PJSIP/15559876543@trunk,300,Tt"', '"2026-11-28 09:30:12"', '"2026-11-28 09:30:18"', '"2026-11-28 09:32:30"',
  '138', '132', '"ANSWERED"', '"DOCUMENTATION"', '"1764322212.84"', '""',
].join(',');

t.test('times: with an offset as written, without one in the zone, DST edges, impossible dates refused', async (t) => {
  t.equal(toIsoTime('2026-11-28 09:30:12', 'UTC', 'start'), '2026-11-28T09:30:12Z');
  t.equal(toIsoTime('2026-11-28T09:30', 'UTC', 'x'), '2026-11-28T09:30:00Z', 'seconds may be left out');
  t.equal(toIsoTime('2026-11-28T09:30:12.250+0100', 'UTC', 'x'), '2026-11-28T09:30:12.250+01:00', 'an offset is kept (made ISO)');
  t.equal(toIsoTime('2026-11-28T09:30:12Z', 'America/New_York', 'x'), '2026-11-28T09:30:12Z', 'the zone does not touch a time with an offset');
  t.equal(toIsoTime('2026-11-28 09:30:12', 'America/New_York', 'x'), '2026-11-28T09:30:12-05:00');
  t.equal(toIsoTime('2026-07-01 09:30:12', 'America/New_York', 'x'), '2026-07-01T09:30:12-04:00', 'summer time');
  t.equal(toIsoTime('2026-07-01 09:30:12', 'Asia/Kolkata', 'x'), '2026-07-01T09:30:12+05:30', 'half-hour offsets');
  // Repeated hour (autumn): the earlier instant; skipped hour (spring): the offset before the change.
  t.equal(toIsoTime('2026-11-01 01:30:00', 'America/New_York', 'x'), '2026-11-01T01:30:00-04:00');
  t.equal(toIsoTime('2026-10-25 02:30:00', 'Europe/Berlin', 'x'), '2026-10-25T02:30:00+02:00');
  t.equal(toIsoTime('2026-03-08 02:30:00', 'America/New_York', 'x'), '2026-03-08T02:30:00-05:00');
  t.equal(toIsoTime('2026-03-29 02:30:00', 'Europe/Berlin', 'x'), '2026-03-29T02:30:00+01:00');
  for (const bad of ['2026-02-30 10:00:00', '2026-11-28 24:00:00', '2026-11-28 10:60', '28/11/2026 10:00', 'yesterday', '2026-11-28']) {
    t.throws(() => toIsoTime(bad, 'UTC', 'started_at'), new RowProblem(`started_at must be a time such as 2026-11-28 09:30:12 or 2026-11-28T09:30:12Z (got "${bad}")`), bad);
  }
  t.equal(checkTimeZone('Europe/Berlin'), 'Europe/Berlin');
  t.throws(() => checkTimeZone('Mars/Olympus'), /unknown time zone "Mars\/Olympus"/);
});

t.test('CSV and JSON Lines rows: the documented columns, each checked', async (t) => {
  t.same(
    rowFromRecord({ call_sid: 'call_a1', to: ' +15559876543 ', from: '', started_at: '2026-11-28 09:30:12', duration_ms: '61000', org: 'org_1', file: 'a.wav' }, UTC),
    { sid: 'call_a1', org: 'org_1', to: '+15559876543', startedAt: '2026-11-28T09:30:12Z', durationMs: 61000, file: 'a.wav' },
    'trimmed; empty is absent',
  );
  t.same(rowFromRecord({ pbx_id: '1764322212.84', duration_ms: 5 }, { org: 'org_d', timeZone: 'UTC' }), { sid: 'call_176432221284', org: 'org_d', durationMs: 5 }, 'a PBX id, --org');
  t.same(rowFromRecord({ uniqueid: 'a1b2-c3', org: 'org_r', to: null }, { org: 'org_d', timeZone: 'UTC' }), { sid: 'call_a1b2c3', org: 'org_r' }, "the row's org wins");
  const problems: [Record<string, unknown>, RegExp][] = [
    [{ call_sid: 'call_1', org: 'o', color: 'red' }, /^unknown field "color"$/],
    [{ call_sid: 'nope', org: 'o' }, /^call_sid must be call_ followed by/],
    [{ pbx_id: '...', org: 'o' }, /^pbx_id "\.\.\." gives no call_sid/],
    [{ org: 'o', to: '1' }, /^no call: give call_sid, pbx_id or uniqueid$/],
    [{ call_sid: 'call_1', org: 'o', duration_ms: '1.5' }, /^duration_ms must be a whole number of milliseconds \(got "1\.5"\)$/],
    [{ call_sid: 'call_1', org: 'o', duration_ms: -3 }, /^duration_ms must be a whole number/],
    [{ call_sid: 'call_1', org: 'o', started_at: 'soon' }, /^started_at must be a time/],
    [{ call_sid: 'call_1' }, /^no organization: give an org column or --org$/],
    [{ call_sid: 'call_1', org: 'bad org' }, /^org must be 1-128 letters/],
    [{ call_sid: 'call_1', org: 'o', to: 'x'.repeat(65) }, /^to must be at most 64 characters$/],
    [{ call_sid: 'call_1', org: 'o', from: 'x'.repeat(65) }, /^from must be at most 64 characters$/],
    [{ call_sid: 'call_1', org: 'o', to: 15559876543 }, /^to must be a string \(got 15559876543\)$/],
  ];
  for (const [record, message] of problems) t.throws(() => rowFromRecord(record, UTC), message, JSON.stringify(record));
});

t.test('headers and Master.csv lines', async (t) => {
  t.same(checkHeader(['call_sid', ' to ', 'file']), ['call_sid', 'to', 'file']);
  t.throws(() => checkHeader(['call_sid', 'color']), /^unknown column "color" in the header \(the columns: call_sid, pbx_id,/);
  t.throws(() => checkHeader(['call_sid', 'to', 'to']), /^column "to" appears twice/);
  t.throws(() => checkHeader(['to', 'from']), /^the header names no call column/);

  const [cdr] = (await collect(csvRecords(linesOf(CDR_LINE)))) as { fields: string[] }[];
  t.equal(cdr!.fields.length, 18);
  t.equal(cdr!.fields[8], 'PJSIP/15559876543@trunk,300,Tt', 'a quoted field keeps its commas');
  t.equal(cdr!.fields[4], '"Alice Smith" <201>', 'and its doubled quotes');
  t.ok(looksLikeCdr(cdr!.fields));
  t.notOk(looksLikeCdr(['call_sid', 'to']), 'a header is not a CDR');
  t.same(rowFromCdr(cdr!.fields, { org: 'org_1', timeZone: 'Europe/Berlin' }), {
    sid: 'call_176432221284', org: 'org_1', to: '15559876543', from: '201', startedAt: '2026-11-28T09:30:12+01:00', durationMs: 132_000,
  });
  const withNewColumns = [...cdr!.fields, 'peer', '1764322212.80', '3'];
  t.equal(rowFromCdr(withNewColumns, { org: 'o', timeZone: 'UTC' }).sid, 'call_176432221284', 'newcdrcolumns: 21 fields');
  const unanswered = cdr!.fields.map((f, i) => (i === 13 ? '0' : i === 10 ? '' : f));
  t.notOk('durationMs' in rowFromCdr(unanswered, { org: 'o', timeZone: 'UTC' }), 'billsec 0: no duration');
  t.throws(() => rowFromCdr(cdr!.fields.slice(0, 16), { org: 'o', timeZone: 'UTC' }), /^no uniqueid in column 17: Asterisk writes it with loguniqueid=yes/);
  t.throws(() => rowFromCdr([...cdr!.fields.slice(0, 16), 'a note'], { org: 'o', timeZone: 'UTC' }), /^no uniqueid in column 17 \("a note" is not one\)/);
  t.throws(() => rowFromCdr(cdr!.fields.slice(0, 12), { org: 'o', timeZone: 'UTC' }), /^a Master\.csv line has 16 to 21 fields; this one has 12$/);
  t.throws(() => rowFromCdr(cdr!.fields.map((f, i) => (i === 16 ? `1${'2'.repeat(70)}.1` : f)), { org: 'o', timeZone: 'UTC' }), /gives no call_sid/);
  t.throws(() => rowFromCdr(cdr!.fields.map((f, i) => (i === 13 ? 'x' : f)), { org: 'o', timeZone: 'UTC' }), /^billsec must be a whole number/);
  t.throws(() => rowFromCdr(cdr!.fields.map((f, i) => (i === 9 ? '2026-13-01 00:00:00' : f)), { org: 'o', timeZone: 'UTC' }), /^start must be a time/);
});

t.test('readers: records with the line each starts on; a bad one does not spoil the next', async (t) => {
  const csv = ['call_sid,to', 'call_1,"+1 555, ext. 2"', '', 'call_2,"two', 'lines"', 'call_3,"bad"q', 'call_4,4', 'call_5,"never closed', 'call_6,6'].join('\n');
  t.same(await collect(csvRecords(linesOf(csv))), [
    { line: 1, fields: ['call_sid', 'to'] },
    { line: 2, fields: ['call_1', '+1 555, ext. 2'] },
    { line: 4, fields: ['call_2', 'two\nlines'] },
    { line: 6, problem: 'not CSV: Invalid Closing Quote: got "q" instead of delimiter, record delimiter, trimable character (if activated) or comment' },
    { line: 7, fields: ['call_4', '4'] },
    { line: 8, problem: 'a quoted field is never closed' },
    { line: 9, fields: ['call_6', '6'] },
  ]);
  const long = ['"open', ...Array.from({ length: 150 }, (_, i) => `call_${i},x`)].join('\n');
  const records = await collect(csvRecords(linesOf(long)));
  t.same(records[0], { line: 1, problem: 'a quoted field is never closed' }, 'a quote open for 100 lines is a stray one');
  t.equal(records.length, 151, 'and every line after it is read');
  t.same(records[150], { line: 151, fields: ['call_149', 'x'] });

  const jsonl = ['{"call_sid":"call_1"}', '', '{"call_sid":', '[1,2]', '"text"', '{"call_sid":"call_2"}'].join('\n');
  t.same(await collect(jsonRecords(linesOf(jsonl))), [
    { line: 1, value: { call_sid: 'call_1' } },
    { line: 3, problem: `not JSON: ${errorOf(() => JSON.parse('{"call_sid":'))}` },
    { line: 4, problem: 'not a JSON object' },
    { line: 5, problem: 'not a JSON object' },
    { line: 6, value: { call_sid: 'call_2' } },
  ]);

  const dir = await mkdtemp(join(tmpdir(), 'recproxy-import-read-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'a.csv'), '\uFEFFcall_sid,to\r\ncall_1,1\r\n');
  t.same(await collect(fileLines(join(dir, 'a.csv'))), ['call_sid,to', 'call_1,1'], 'CRLF and a byte order mark');
  t.equal(await countLines(join(dir, 'a.csv')), 2, 'two lines, the last one ended');
  await writeFile(join(dir, 'b.jsonl'), '{}\n{}\n{}');
  t.equal(await countLines(join(dir, 'b.jsonl')), 3, 'a last line without its end counts');
  await writeFile(join(dir, 'empty.csv'), '');
  t.equal(await countLines(join(dir, 'empty.csv')), 0);
});

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

t.test('enrichment: what differs, the same instant is no change, a duration only where none', async (t) => {
  const call = { to_number: '1', from_number: null, started_at: '2026-11-28T10:30:12+01:00', duration_ms: 5000 } as CallRow;
  t.same(enrichment(call, { to: '1', startedAt: '2026-11-28T09:30:12Z', durationMs: 7000 }), {}, 'nothing changes');
  t.same(enrichment(call, { to: '2', from: '3', startedAt: '2026-11-28T09:30:13Z' }), { to_number: '2', from_number: '3', started_at: '2026-11-28T09:30:13.000Z' });
  t.same(enrichment({ ...call, started_at: null, duration_ms: null }, { startedAt: '2026-11-28T09:30:12Z', durationMs: 7000 }), {
    started_at: '2026-11-28T09:30:12.000Z', duration_ms: 7000,
  });
});

t.test('the index updates only within the organization; the service counts a no-op as unchanged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-import-index-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stores = await openSqliteStores({ dbPath: join(dir, 'index.db') });
  t.teardown(() => stores.close());
  const row = (sid: string, org: string, duration: number | null): NewCall => ({
    call_sid: sid, org_id: org, to_number: '100', from_number: null, started_at: null, duration_ms: duration,
    storage_key: `${org}/${sid}.wav`, content_type: 'audio/wav', size_bytes: 44, sha256: 'x'.repeat(64),
  });
  await stores.index.insert(row('call_u1', 'org_a', 3000));
  await stores.index.insert(row('call_u2', 'org_a', null));
  t.equal(await stores.index.update('org_b', 'call_u1', { to_number: '999' }), undefined, 'another organization: nothing');
  t.equal((await stores.index.get('call_u1'))!.to_number, '100', 'and the row is as it was');
  const updated = await stores.index.update('org_a', 'call_u1', { to_number: '200', started_at: '2026-11-28T09:30:12Z', duration_ms: 9000 });
  t.match(updated, { to_number: '200', from_number: null, started_at: '2026-11-28T09:30:12Z', duration_ms: 3000 }, "the bytes' duration stays");
  t.equal((await stores.index.find('org_a', 'call_u1'))!.to_number, '200', 'find sees the change at once');
  t.match(await stores.index.update('org_a', 'call_u2', { duration_ms: 9000, from_number: '7' }), { duration_ms: 9000, from_number: '7', to_number: '100' });
  t.same((await stores.index.list('org_a', { since: new Date('2026-11-28T00:00:00Z') }, undefined, 10)).map((l) => l.call.call_sid), ['call_u1'], 'the listing sees the new start');
  await stores.index.markDeleted('call_u2');
  t.equal(await stores.index.update('org_a', 'call_u2', { to_number: '1' }), undefined, 'a deleted call: nothing');

  const calls = new CallsService({
    index: stores.index, storage: undefined as never, mediaUrls: { url: () => { throw new Error('unused'); } }, streamTtl: 60, streamMode: 'proxy', streamUrlReuseSec: 0,
  });
  t.equal(await calls.enrich('org_b', 'call_u1', { to: '5' }), undefined, 'the service: not found in another organization');
  t.match(await calls.enrich('org_a', 'call_u1', { to: '200', startedAt: '2026-11-28T10:30:12+01:00' }), { changed: false }, 'same values: unchanged');
  t.match(await calls.enrich('org_a', 'call_u1', { from: '42' }), { changed: true, call: { from_number: '42' } });
});
