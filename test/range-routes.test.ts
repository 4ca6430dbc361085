/**
 * Range and conditional requests through the real routes (download and media), over HTTP.
 * Each row runs against both byte-serving routes.
 */
import t from 'tap';
import { byteRoutes, startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const ORG = 'org_r';
const wav = makeWav(0.625); // 10,044 bytes
const SIZE = wav.length;

interface Row {
  name: string;
  method?: 'GET' | 'HEAD';
  headers: (m: { etag: string; lastModified: string }) => Record<string, string>;
  status: number;
  range?: [number, number];
  contentRange?: string;
  code?: string;
}

const past = new Date(Date.now() - 86_400_000).toUTCString();
const future = new Date(Date.now() + 86_400_000).toUTCString();

const rows: Row[] = [
  { name: 'no Range', headers: () => ({}), status: 200 },
  { name: 'prefix 0-99', headers: () => ({ range: 'bytes=0-99' }), status: 206, range: [0, 99] },
  { name: 'middle 1000-1999', headers: () => ({ range: 'bytes=1000-1999' }), status: 206, range: [1000, 1999] },
  { name: 'single byte', headers: () => ({ range: 'bytes=5-5' }), status: 206, range: [5, 5] },
  { name: 'open-ended', headers: () => ({ range: 'bytes=9000-' }), status: 206, range: [9000, SIZE - 1] },
  { name: 'suffix', headers: () => ({ range: 'bytes=-500' }), status: 206, range: [SIZE - 500, SIZE - 1] },
  { name: 'suffix longer than object', headers: () => ({ range: 'bytes=-999999' }), status: 206, range: [0, SIZE - 1] },
  { name: 'end clamped', headers: () => ({ range: 'bytes=10000-20000' }), status: 206, range: [10000, SIZE - 1] },
  { name: 'last byte', headers: () => ({ range: `bytes=${SIZE - 1}-` }), status: 206, range: [SIZE - 1, SIZE - 1] },
  { name: 'start at size', headers: () => ({ range: `bytes=${SIZE}-` }), status: 416, contentRange: `bytes */${SIZE}`, code: 'RANGE_NOT_SATISFIABLE' },
  { name: 'start past size', headers: () => ({ range: 'bytes=50000-60000' }), status: 416, contentRange: `bytes */${SIZE}`, code: 'RANGE_NOT_SATISFIABLE' },
  { name: 'zero suffix', headers: () => ({ range: 'bytes=-0' }), status: 416, contentRange: `bytes */${SIZE}`, code: 'RANGE_NOT_SATISFIABLE' },
  { name: 'absurd start', headers: () => ({ range: 'bytes=99999999999999999999-' }), status: 416, contentRange: `bytes */${SIZE}`, code: 'RANGE_NOT_SATISFIABLE' },
  { name: 'malformed: no unit', headers: () => ({ range: '0-99' }), status: 200 },
  { name: 'malformed: other unit', headers: () => ({ range: 'items=0-99' }), status: 200 },
  { name: 'malformed: letters', headers: () => ({ range: 'bytes=abc' }), status: 200 },
  { name: 'malformed: reversed', headers: () => ({ range: 'bytes=500-100' }), status: 200 },
  { name: 'malformed: double dash', headers: () => ({ range: 'bytes=--5' }), status: 200 },
  { name: 'overlapping ranges combine', headers: () => ({ range: 'bytes=0-99,50-199' }), status: 206, range: [0, 199] },
  { name: 'disjoint ranges: full 200', headers: () => ({ range: 'bytes=0-9,100-109' }), status: 200 },
  { name: '1000 ranges', headers: () => ({ range: 'bytes=' + Array.from({ length: 1000 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',') }), status: 200 },
  { name: 'If-Range fresh etag', headers: (m) => ({ range: 'bytes=0-9', 'if-range': m.etag }), status: 206, range: [0, 9] },
  { name: 'If-Range stale etag', headers: () => ({ range: 'bytes=0-9', 'if-range': '"old"' }), status: 200 },
  { name: 'If-Range weak etag', headers: (m) => ({ range: 'bytes=0-9', 'if-range': `W/${m.etag}` }), status: 200 },
  { name: 'If-Range fresh date', headers: (m) => ({ range: 'bytes=0-9', 'if-range': m.lastModified }), status: 206, range: [0, 9] },
  { name: 'If-Range stale date', headers: () => ({ range: 'bytes=0-9', 'if-range': past }), status: 200 },
  { name: 'If-None-Match matches', headers: (m) => ({ 'if-none-match': m.etag }), status: 304 },
  { name: 'If-None-Match star', headers: () => ({ 'if-none-match': '*' }), status: 304 },
  { name: 'If-None-Match in list', headers: (m) => ({ 'if-none-match': `"x", ${m.etag}` }), status: 304 },
  { name: 'If-None-Match other', headers: () => ({ 'if-none-match': '"other"' }), status: 200 },
  { name: 'If-None-Match beats Range', headers: (m) => ({ 'if-none-match': m.etag, range: 'bytes=0-9' }), status: 304 },
  { name: 'If-Modified-Since later', headers: () => ({ 'if-modified-since': future }), status: 304 },
  { name: 'If-Modified-Since earlier', headers: () => ({ 'if-modified-since': past }), status: 200 },
  { name: 'If-Modified-Since garbage', headers: () => ({ 'if-modified-since': 'yesterday' }), status: 200 },
  { name: 'If-Match matches', headers: (m) => ({ 'if-match': m.etag, range: 'bytes=0-9' }), status: 206, range: [0, 9] },
  { name: 'If-Match star', headers: () => ({ 'if-match': '*' }), status: 200 },
  { name: 'If-Match other', headers: () => ({ 'if-match': '"other"' }), status: 412, code: 'PRECONDITION_FAILED' },
  { name: 'If-Match weak', headers: (m) => ({ 'if-match': `W/${m.etag}` }), status: 412, code: 'PRECONDITION_FAILED' },
  { name: 'If-Match failing beats Range', headers: () => ({ 'if-match': '"other"', range: 'bytes=0-9' }), status: 412, code: 'PRECONDITION_FAILED' },
  { name: 'If-Unmodified-Since earlier', headers: () => ({ 'if-unmodified-since': past }), status: 412, code: 'PRECONDITION_FAILED' },
  { name: 'If-Unmodified-Since later', headers: () => ({ 'if-unmodified-since': future }), status: 200 },
  { name: 'HEAD', method: 'HEAD', headers: () => ({}), status: 200 },
  { name: 'HEAD ignores Range', method: 'HEAD', headers: () => ({ range: 'bytes=0-9' }), status: 200 },
  { name: 'HEAD conditional', method: 'HEAD', headers: (m) => ({ 'if-none-match': m.etag }), status: 304 },
];

t.test('Range and conditional requests through download and media', async (t) => {
  t.ok(rows.length >= 30, `${rows.length} cases`);
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: 'call_range', to: '+15550000000', bytes: wav });
  const { routes, meta } = await byteRoutes(d, ORG, 'call_range');
  t.match(meta.etag, /^"[^"]+"$/);

  for (const [routeName, route] of Object.entries(routes)) {
    for (const row of rows) {
      const method = row.method ?? 'GET';
      const res = await fetch(route.url, { method, headers: { ...route.headers, ...row.headers(meta) } });
      const body = Buffer.from(await res.arrayBuffer());
      const label = `${routeName}: ${row.name}`;
      t.equal(res.status, row.status, `${label}: status`);
      if (row.status !== 412 && row.status !== 416) {
        t.equal(res.headers.get('etag'), meta.etag, `${label}: ETag`);
        t.equal(res.headers.get('last-modified'), meta.lastModified, `${label}: Last-Modified`);
        t.equal(res.headers.get('accept-ranges'), 'bytes', `${label}: Accept-Ranges`);
      }
      if (row.status === 206) {
        const [a, b] = row.range!;
        t.equal(res.headers.get('content-range'), `bytes ${a}-${b}/${SIZE}`, `${label}: Content-Range`);
        t.equal(res.headers.get('content-length'), String(b - a + 1), `${label}: Content-Length`);
        t.ok(body.equals(wav.subarray(a, b + 1)), `${label}: exactly those bytes`);
      } else if (row.status === 200) {
        t.equal(res.headers.get('content-length'), String(SIZE), `${label}: Content-Length`);
        t.equal(res.headers.get('content-range'), null, `${label}: no Content-Range`);
        t.ok(method === 'HEAD' ? body.length === 0 : body.equals(wav), `${label}: body`);
      } else if (row.status === 304) {
        t.equal(body.length, 0, `${label}: no body`);
      } else {
        const err = JSON.parse(body.toString()) as { success: boolean; error: { code: string } };
        t.same([err.success, err.error.code], [false, row.code], `${label}: JSON error`);
        if (row.contentRange) t.equal(res.headers.get('content-range'), row.contentRange, `${label}: Content-Range`);
      }
    }
  }
  t.equal((await fetch(`${d.url}/healthz`)).status, 200, 'healthy afterwards');
});
