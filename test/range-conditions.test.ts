/**
 * src/bytes/conditions.ts: the request headers parsed once, and the prefetch hint read from
 * that same parse.
 */
import t from 'tap';
import { MAX_RANGE_HEADER, parseConditions, prefetchHint, type ConditionalHeaders } from '../src/bytes/index.js';

const DATE = 'Wed, 01 May 2024 12:00:00 GMT';
const MS = Date.UTC(2024, 4, 1, 12);

t.test('Range: specs in order, or ignored', async (t) => {
  const range = (value: string | undefined, method = 'GET') => parseConditions(method, { range: value }).range;
  t.equal(range(undefined), undefined, 'absent');
  t.equal(range('  '), undefined, 'blank');
  t.equal(range('bytes=0-9', 'HEAD'), undefined, 'not read on HEAD');
  t.equal(range('bytes=0-9', 'POST'), undefined, 'nor on other methods');
  t.same(range('bytes=0-9'), { kind: 'specs', specs: [{ start: 0, end: 9 }] });
  t.same(range(' BYTES = 5- '), { kind: 'specs', specs: [{ start: 5 }] }, 'unit case-insensitive, spaces trimmed');
  t.same(range('bytes=-500'), { kind: 'specs', specs: [{ suffix: 500 }] });
  t.same(range('bytes=0-9, ,-5,'), { kind: 'specs', specs: [{ start: 0, end: 9 }, { suffix: 5 }] }, 'empty elements skipped');
  t.same(range('bytes=007-010'), { kind: 'specs', specs: [{ start: 7, end: 10 }] }, 'leading zeros');
  for (const bad of ['items=0-9', 'bytes', 'bytes=', 'bytes=,', 'bytes=-', 'bytes=9-0', 'bytes=a-b', 'bytes=0-9,x', 'bytes=1 - 2', 'bytes=--1', '=0-9']) {
    t.same(range(bad), { kind: 'ignore' }, `${JSON.stringify(bad)}: ignored`);
  }
  const long = `bytes=${'0'.repeat(MAX_RANGE_HEADER)}1-`;
  t.same(range(long), { kind: 'ignore', single: { start: 1 } }, 'too long: ignored, its lone spec kept for the hint');
  t.same(range(`bytes=0-1${',0-1'.repeat(MAX_RANGE_HEADER / 4)}`), { kind: 'ignore' }, 'a list too long: not split');
  t.same(range(`bytes=${'9'.repeat(MAX_RANGE_HEADER)}-1`), { kind: 'ignore' }, 'too long and last < first');
});

t.test('If-Range: a strong tag, a date, or never', async (t) => {
  const ifRange = (value: string | undefined, headers: ConditionalHeaders = { range: 'bytes=0-9' }, method = 'GET') =>
    parseConditions(method, { ...headers, 'if-range': value }).ifRange;
  t.equal(ifRange(' "abc" '), '"abc"');
  t.equal(ifRange('W/"abc"'), false, 'a weak tag never holds');
  t.equal(ifRange(DATE), MS);
  t.equal(ifRange('yesterday'), false, 'not a date');
  t.equal(ifRange(''), undefined, 'blank');
  t.equal(ifRange('"abc"', {}), undefined, 'without a Range');
  t.equal(ifRange('"abc"', { range: 'bytes=0-9' }, 'HEAD'), undefined, 'on HEAD');
});

t.test('entity-tag lists and dates', async (t) => {
  const p = (headers: ConditionalHeaders, method = 'GET') => parseConditions(method, headers);
  t.same(p({ 'if-match': ' * ' }).ifMatch, '*');
  t.same(p({ 'if-match': '"a", W/"b" junk"c"' }).ifMatch, ['"a"', 'W/"b"', '"c"'], 'If-Match: the quoted tags');
  t.same(p({ 'if-match': 'nothing quoted' }).ifMatch, []);
  t.equal(p({ 'if-match': ' ' }).ifMatch, undefined, 'blank');
  t.same(p({ 'if-none-match': '*' }).ifNoneMatch, '*');
  t.same(p({ 'if-none-match': ' *' }).ifNoneMatch, ['*'], 'GET: only exactly `*` is the wildcard (as fresh)');
  t.same(p({ 'if-none-match': ' "a" ,W/"b",  "c d" ' }).ifNoneMatch, ['"a"', 'W/"b"', '"c d"'], 'GET: comma-separated tokens');
  t.same(p({ 'if-none-match': ' * ' }, 'DELETE').ifNoneMatch, '*', 'other methods: `*` trimmed');
  t.same(p({ 'if-none-match': '"a" "b"' }, 'DELETE').ifNoneMatch, ['"a"', '"b"'], 'other methods: the quoted tags');
  t.equal(p({ 'if-modified-since': DATE }).ifModifiedSince, MS);
  t.equal(p({ 'if-modified-since': DATE }, 'PUT').ifModifiedSince, undefined, 'If-Modified-Since only on GET/HEAD');
  t.equal(p({ 'if-unmodified-since': 'Wednesday, 01-May-24 12:00:00 GMT' }).ifUnmodifiedSince, MS, 'RFC 850');
  t.equal(p({ 'if-unmodified-since': 'Wed May  1 12:00:00 2024' }).ifUnmodifiedSince, MS, 'asctime is GMT');
  for (const bad of ['2024-05-01T12:00:00Z', 'Wed, 01 May 2024 12:00:00 UTC', `${DATE}${' '.repeat(60)}x`, 'Wed, 31 Foo 2024 12:00:00 GMT']) {
    t.equal(p({ 'if-unmodified-since': bad }).ifUnmodifiedSince, undefined, `${JSON.stringify(bad.slice(0, 40))}: not an HTTP-date`);
  }
  t.equal(p({}).conditional, false);
  for (const name of ['if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const) {
    t.equal(p({ [name]: '' }).conditional, true, `${name}, even blank, makes the request conditional`);
  }
});

t.test('the prefetch hint follows the same parse', async (t) => {
  const hint = (headers: ConditionalHeaders, method = 'GET') => prefetchHint(parseConditions(method, headers));
  t.equal(hint({}), 'whole');
  t.equal(hint({ range: ' ' }), 'whole');
  t.equal(hint({}, 'HEAD'), undefined, 'HEAD: metadata only');
  t.same(hint({ range: 'bytes=10-19' }), { start: 10, end: 19 });
  t.same(hint({ range: 'bytes=10-' }), { start: 10 });
  t.same(hint({ range: 'bytes=-10' }), { suffix: 10 });
  t.same(hint({ range: 'bytes=10-19,' }), { start: 10, end: 19 }, 'one spec after empty elements');
  t.equal(hint({ range: 'bytes=0-9,20-29' }), undefined, 'several ranges: metadata only');
  t.equal(hint({ range: 'bytes=abc' }), 'whole', 'an ignored Range serves the whole object');
  t.equal(hint({ range: 'bytes=9-0' }), 'whole');
  t.same(hint({ range: `bytes=${'0'.repeat(MAX_RANGE_HEADER)}1-` }), { start: 1 }, 'too long: the lone spec');
  t.equal(hint({ range: `bytes=0-1${',0-1'.repeat(MAX_RANGE_HEADER / 4)}` }), 'whole', 'a list too long is ignored: the whole object');
  t.equal(hint({ range: 'bytes=99999999999999999999-' }), undefined, 'past 2^53: metadata only');
  t.equal(hint({ range: 'bytes=0-99999999999999999999' }), undefined);
  t.equal(hint({ range: 'bytes=-99999999999999999999' }), undefined);
  t.equal(hint({ range: 'bytes=0-9', 'if-range': '"a"' }), undefined, 'conditional: metadata only');
  t.equal(hint({ 'if-none-match': '"a"' }), undefined);
});
