import t from 'tap';
import type { ByteRange, ObjectMeta } from '../src/core/storage.js';
import { decideBytes, MAX_RANGE_HEADER, type ConditionalHeaders } from '../src/bytes/index.js';

// 1000 bytes, last modified half a second into 12:00:00 so second precision matters.
const ETAG = '"abc123"';
const LM = 'Wed, 01 May 2024 12:00:00 GMT';
const BEFORE = 'Wed, 01 May 2024 11:59:59 GMT';
const AFTER = 'Wed, 01 May 2024 12:00:01 GMT';
const META: ObjectMeta = { size: 1000, etag: ETAG, lastModified: new Date('2024-05-01T12:00:00.500Z') };

interface Row {
  name: string;
  method?: string;
  headers?: ConditionalHeaders;
  meta?: Partial<ObjectMeta>;
  status: 200 | 206 | 304 | 412 | 416;
  range?: ByteRange;
  /** Expected Content-Range; absent when undefined. */
  cr?: string;
  /** Expected Content-Length; absent when undefined. */
  cl?: string;
}

const full = (size = 1000) => ({ status: 200 as const, cl: String(size) });
const part = (start: number, end: number, size = 1000) => ({
  status: 206 as const,
  range: { start, end },
  cr: `bytes ${start}-${end}/${size}`,
  cl: String(end - start + 1),
});
const unsat = (size = 1000) => ({ status: 416 as const, cr: `bytes */${size}` });
const r = (range: string, extra: ConditionalHeaders = {}): ConditionalHeaders => ({ range, ...extra });

const rows: Row[] = [
  // Plain ranges
  { name: 'no Range → full', ...full() },
  { name: 'prefix 0-499', headers: r('bytes=0-499'), ...part(0, 499) },
  { name: 'middle 500-999', headers: r('bytes=500-999'), ...part(500, 999) },
  { name: 'single byte 0-0', headers: r('bytes=0-0'), ...part(0, 0) },
  { name: 'suffix -100', headers: r('bytes=-100'), ...part(900, 999) },
  { name: 'open-ended 900-', headers: r('bytes=900-'), ...part(900, 999) },
  { name: 'end clamped to size-1', headers: r('bytes=990-5000'), ...part(990, 999) },
  { name: 'suffix larger than size → whole object', headers: r('bytes=-5000'), ...part(0, 999) },
  { name: 'suffix equal to size', headers: r('bytes=-1000'), ...part(0, 999) },
  { name: 'unit is case-insensitive', headers: r('Bytes=0-9'), ...part(0, 9) },
  { name: 'whitespace around list elements', headers: r('bytes= 0-4 , 5-9'), ...part(0, 9) },
  { name: 'start = size → 416', headers: r('bytes=1000-'), ...unsat() },
  { name: 'start > size → 416', headers: r('bytes=1000-1001'), ...unsat() },
  { name: 'zero-length suffix bytes=-0 → 416', headers: r('bytes=-0'), ...unsat() },
  { name: 'all ranges unsatisfiable → 416', headers: r('bytes=1000-,2000-3000'), ...unsat() },
  // Malformed → ignored
  { name: 'malformed: no bytes= prefix', headers: r('0-99'), ...full() },
  { name: 'malformed: bytes=abc', headers: r('bytes=abc'), ...full() },
  { name: 'malformed: other unit items=0-1', headers: r('items=0-1'), ...full() },
  { name: 'malformed: other unit even if unsatisfiable', headers: r('items=5000-'), ...full() },
  { name: 'malformed: empty header', headers: r(''), ...full() },
  { name: 'malformed: bytes= with no specs', headers: r('bytes='), ...full() },
  { name: 'malformed: bare dash', headers: r('bytes=-'), ...full() },
  { name: 'malformed: bytes=--5', headers: r('bytes=--5'), ...full() },
  { name: 'invalid: last < first → ignored', headers: r('bytes=5-1'), ...full() },
  { name: 'malformed: decimals', headers: r('bytes=1.5-2'), ...full() },
  { name: 'malformed: negative end', headers: r('bytes=0--5'), ...full() },
  { name: 'malformed: one bad spec spoils the set', headers: r('bytes=0-9,x-y'), ...full() },
  // Several ranges
  { name: 'overlapping ranges combine → 206', headers: r('bytes=0-499,200-699'), ...part(0, 699) },
  { name: 'adjacent ranges combine → 206', headers: r('bytes=0-9,10-19'), ...part(0, 19) },
  { name: 'empty list elements skipped', headers: r('bytes=0-4,,5-9,'), ...part(0, 9) },
  { name: 'disjoint ranges → full 200', headers: r('bytes=0-9,20-29'), ...full() },
  { name: 'disjoint prefix + suffix → full 200', headers: r('bytes=0-9,-10'), ...full() },
  { name: 'unsatisfiable member dropped → 206', headers: r('bytes=0-9,5000-6000'), ...part(0, 9) },
  // Absurd values
  { name: 'absurd start → 416', headers: r('bytes=99999999999999999999-'), ...unsat() },
  { name: 'absurd end → clamped', headers: r('bytes=0-99999999999999999999'), ...part(0, 999) },
  { name: 'absurd suffix → whole object', headers: r('bytes=-99999999999999999999'), ...part(0, 999) },
  { name: '1000 identical ranges → 206', headers: r(`bytes=${Array(1000).fill('0-1').join(',')}`), ...part(0, 1) },
  { name: '1000 ranges, two disjoint → 200', headers: r(`bytes=${Array(500).fill('0-0,2-2').join(',')}`), ...full() },
  { name: 'Range over the length cap → ignored', headers: r(`bytes=0-1${',0-1'.repeat(MAX_RANGE_HEADER / 4)}`), ...full() },
  { name: '1 MiB Range header → ignored', headers: r(`bytes=${'9'.repeat(1 << 20)}-`), ...full() },
  // If-Range
  { name: 'If-Range fresh etag → 206', headers: r('bytes=0-9', { 'if-range': ETAG }), ...part(0, 9) },
  { name: 'If-Range stale etag → 200', headers: r('bytes=0-9', { 'if-range': '"old"' }), ...full() },
  { name: 'If-Range weak etag never matches', headers: r('bytes=0-9', { 'if-range': `W/${ETAG}` }), ...full() },
  { name: 'If-Range fresh date → 206', headers: r('bytes=0-9', { 'if-range': LM }), ...part(0, 9) },
  { name: 'If-Range earlier date → 200', headers: r('bytes=0-9', { 'if-range': BEFORE }), ...full() },
  { name: 'If-Range later date → 200', headers: r('bytes=0-9', { 'if-range': AFTER }), ...full() },
  { name: 'If-Range garbage → 200', headers: r('bytes=0-9', { 'if-range': 'yesterday' }), ...full() },
  { name: 'If-Range without Range is ignored', headers: { 'if-range': '"old"' }, ...full() },
  { name: 'stale If-Range beats unsatisfiable Range', headers: r('bytes=5000-', { 'if-range': '"old"' }), ...full() },
  { name: 'fresh If-Range + unsatisfiable Range → 416', headers: r('bytes=5000-', { 'if-range': ETAG }), ...unsat() },
  // If-None-Match
  { name: 'If-None-Match match → 304', headers: { 'if-none-match': ETAG }, status: 304 },
  { name: 'If-None-Match no match → 200', headers: { 'if-none-match': '"other"' }, ...full() },
  { name: 'If-None-Match * → 304', headers: { 'if-none-match': '*' }, status: 304 },
  { name: 'If-None-Match weak compare → 304', headers: { 'if-none-match': `W/${ETAG}` }, status: 304 },
  { name: 'If-None-Match list → 304', headers: { 'if-none-match': `"x", ${ETAG}, "y"` }, status: 304 },
  { name: 'If-None-Match list without it → 200', headers: { 'if-none-match': '"x", "y"' }, ...full() },
  { name: 'If-None-Match beats Range', headers: r('bytes=0-9', { 'if-none-match': ETAG }), status: 304 },
  { name: 'If-None-Match + no-cache → 304', headers: { 'if-none-match': ETAG, 'cache-control': 'no-cache' }, status: 304 },
  { name: 'HEAD If-None-Match → 304', method: 'HEAD', headers: { 'if-none-match': ETAG }, status: 304 },
  { name: 'POST If-None-Match match → 412', method: 'POST', headers: { 'if-none-match': ETAG }, status: 412 },
  { name: 'PUT If-None-Match * → 412', method: 'PUT', headers: { 'if-none-match': '*' }, status: 412 },
  { name: 'POST If-None-Match no match → 200', method: 'POST', headers: { 'if-none-match': '"x"' }, ...full() },
  { name: 'weak stored etag, If-None-Match strong form → 304', meta: { etag: `W/${ETAG}` }, headers: { 'if-none-match': ETAG }, status: 304 },
  // If-Modified-Since
  { name: 'If-Modified-Since before Last-Modified → 200', headers: { 'if-modified-since': BEFORE }, ...full() },
  { name: 'If-Modified-Since equal (second precision) → 304', headers: { 'if-modified-since': LM }, status: 304 },
  { name: 'If-Modified-Since after → 304', headers: { 'if-modified-since': AFTER }, status: 304 },
  { name: 'If-Modified-Since RFC 850 form → 304', headers: { 'if-modified-since': 'Wednesday, 01-May-24 12:00:01 GMT' }, status: 304 },
  { name: 'If-Modified-Since asctime form → 304', headers: { 'if-modified-since': 'Wed May  1 12:00:01 2024' }, status: 304 },
  { name: 'If-Modified-Since asctime earlier → 200', headers: { 'if-modified-since': 'Wed May  1 11:59:59 2024' }, ...full() },
  { name: 'If-Modified-Since garbage → ignored', headers: { 'if-modified-since': 'not a date' }, ...full() },
  { name: 'If-Modified-Since ISO date is not an HTTP-date', headers: { 'if-modified-since': '2030-01-01' }, ...full() },
  { name: 'If-Modified-Since + no-cache → 304', headers: { 'if-modified-since': AFTER, 'cache-control': 'max-age=0, no-cache' }, status: 304 },
  { name: 'If-None-Match (no match) beats If-Modified-Since', headers: { 'if-none-match': '"x"', 'if-modified-since': AFTER }, ...full() },
  { name: 'If-Modified-Since beats Range', headers: r('bytes=0-9', { 'if-modified-since': AFTER }), status: 304 },
  { name: 'If-Modified-Since ignored for POST', method: 'POST', headers: { 'if-modified-since': AFTER }, ...full() },
  // If-Match
  { name: 'If-Match match → 200', headers: { 'if-match': ETAG }, ...full() },
  { name: 'If-Match match + Range → 206', headers: r('bytes=10-19', { 'if-match': ETAG }), ...part(10, 19) },
  { name: 'If-Match no match → 412', headers: { 'if-match': '"other"' }, status: 412 },
  { name: 'If-Match * → 200', headers: { 'if-match': '*' }, ...full() },
  { name: 'If-Match weak tag → 412 (strong compare)', headers: { 'if-match': `W/${ETAG}` }, status: 412 },
  { name: 'If-Match list containing it → 200', headers: { 'if-match': `"x", ${ETAG}` }, ...full() },
  { name: 'If-Match garbage → 412', headers: { 'if-match': 'abc123' }, status: 412 },
  { name: 'If-Match failing beats Range', headers: r('bytes=0-9', { 'if-match': '"other"' }), status: 412 },
  { name: 'If-Match failing beats If-None-Match', headers: { 'if-match': '"other"', 'if-none-match': ETAG }, status: 412 },
  { name: 'weak stored etag never strongly matches', meta: { etag: `W/${ETAG}` }, headers: { 'if-match': `W/${ETAG}` }, status: 412 },
  { name: 'DELETE If-Match no match → 412', method: 'DELETE', headers: { 'if-match': '"other"' }, status: 412 },
  // If-Unmodified-Since
  { name: 'If-Unmodified-Since before Last-Modified → 412', headers: { 'if-unmodified-since': BEFORE }, status: 412 },
  { name: 'If-Unmodified-Since equal (second precision) → 200', headers: { 'if-unmodified-since': LM }, ...full() },
  { name: 'If-Unmodified-Since after → 200', headers: { 'if-unmodified-since': AFTER }, ...full() },
  { name: 'If-Unmodified-Since garbage → ignored', headers: { 'if-unmodified-since': 'soon' }, ...full() },
  { name: 'If-Unmodified-Since ignored when If-Match present', headers: { 'if-match': ETAG, 'if-unmodified-since': BEFORE }, ...full() },
  { name: 'If-Unmodified-Since failing beats Range', headers: r('bytes=0-9', { 'if-unmodified-since': BEFORE }), status: 412 },
  // Methods
  { name: 'HEAD → 200 with full length', method: 'HEAD', ...full() },
  { name: 'HEAD ignores Range (RFC 9110 §14.2)', method: 'HEAD', headers: r('bytes=0-9'), ...full() },
  { name: 'HEAD ignores unsatisfiable Range', method: 'HEAD', headers: r('bytes=5000-'), ...full() },
  { name: 'POST ignores Range', method: 'POST', headers: r('bytes=0-9'), ...full() },
  // Empty and tiny objects
  { name: 'empty object, no Range → 200', meta: { size: 0 }, ...full(0) },
  { name: 'empty object, bytes=0- → 416', meta: { size: 0 }, headers: r('bytes=0-'), ...unsat(0) },
  { name: 'empty object, bytes=0-0 → 416', meta: { size: 0 }, headers: r('bytes=0-0'), ...unsat(0) },
  { name: 'empty object, bytes=-0 → 416', meta: { size: 0 }, headers: r('bytes=-0'), ...unsat(0) },
  { name: 'empty object, bytes=-5 → 200 (satisfiable, zero bytes)', meta: { size: 0 }, headers: r('bytes=-5'), ...full(0) },
  { name: 'empty object, bytes=0-,-5 → 200', meta: { size: 0 }, headers: r('bytes=0-,-5'), ...full(0) },
  { name: 'one-byte object, bytes=-1', meta: { size: 1 }, headers: r('bytes=-1'), ...part(0, 0, 1) },
  { name: 'one-byte object, bytes=1- → 416', meta: { size: 1 }, headers: r('bytes=1-'), ...unsat(1) },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const meta = { ...META, ...row.meta };
    const d = decideBytes(row.method ?? 'GET', row.headers ?? {}, meta);
    t.equal(d.status, row.status, 'status');
    t.same(d.status === 206 || d.status === 200 ? d.range : undefined, row.range, 'range');
    t.equal(d.headers['Content-Range'], row.cr, 'Content-Range');
    t.equal(d.headers['Content-Length'], row.cl, 'Content-Length');
    t.equal(d.headers['Accept-Ranges'], 'bytes');
    t.equal(d.headers.ETag, meta.etag);
    t.equal(d.headers['Last-Modified'], LM);
    if (d.status === 412) t.equal(d.code, 'PRECONDITION_FAILED');
    if (d.status === 416) t.equal(d.code, 'RANGE_NOT_SATISFIABLE');
    t.ok(Object.keys(d.headers).every((k) => /^[A-Z][a-z]*(?:-[A-Z][a-z]*)*$|^ETag$/.test(k)), 'canonical names');
  });
}

t.test('hostile headers get an answer (the time is printed, not asserted)', async (t) => {
  const headers = [
    `bytes=${Array(1000).fill('0-1').join(',')}`,
    `bytes=${Array(1000).fill(0).map((_, i) => `${i}-${i}`).join(',')}`.slice(0, MAX_RANGE_HEADER),
    `bytes=${'0-1,'.repeat(1 << 18)}`,
  ];
  const started = process.hrtime.bigint();
  const statuses = new Set<number>();
  for (let i = 0; i < 100; i++) for (const range of headers) statuses.add(decideBytes('GET', { range }, META).status);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.same([...statuses].sort(), [200, 206], 'overlapping lists merge to one range; a list past 8 KiB is ignored');
  t.comment(`300 decisions took ${ms.toFixed(1)} ms`);
});

t.test('each decision owns its headers', async (t) => {
  const a = decideBytes('GET', {}, META);
  a.headers['X-Test'] = '1';
  t.equal(decideBytes('GET', {}, META).headers['X-Test'], undefined);
});

t.test('at least 40 table rows', async (t) => {
  t.ok(rows.length >= 40, `${rows.length} rows`);
});
