/**
 * Bytes served through the s3 adapter over HTTP (download, and media in proxy mode), counting
 * the requests that reach the S3 server: a plain or single-range GET is ONE backend request
 * (a GET, its Range passed through), conditional requests look up the metadata only, and the
 * decisions (206, 304, 412, If-Range, 416) stay those of src/bytes/decide.ts.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { byteRoutes, startDaemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';
import { storageEnv } from './helpers/storage-env.js';
import { makeWav } from './helpers/wav.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

const ORG = 'org_s3';
const wav = makeWav(60);
const SIZE = wav.length;

interface Row {
  name: string;
  method?: 'GET' | 'HEAD';
  headers: (m: { etag: string; lastModified: string }) => Record<string, string>;
  status: number;
  /** Bytes [from, to) of the body for 200/206. */
  bytes?: [number, number];
  /** What reaches the S3 server: method and Range of each request. */
  backend: string[];
}

const longRange = `bytes=${'0'.repeat(8200)}1-`;
const rows: Row[] = [
  { name: 'no Range', headers: () => ({}), status: 200, bytes: [0, SIZE], backend: ['GET'] },
  { name: 'a-b', headers: () => ({ range: 'bytes=1000-1999' }), status: 206, bytes: [1000, 2000], backend: ['GET bytes=1000-1999'] },
  { name: 'a-', headers: () => ({ range: 'bytes=500000-' }), status: 206, bytes: [500000, SIZE], backend: ['GET bytes=500000-'] },
  { name: '-n', headers: () => ({ range: 'bytes=-500' }), status: 206, bytes: [SIZE - 500, SIZE], backend: ['GET bytes=-500'] },
  { name: 'end beyond the object', headers: () => ({ range: `bytes=10-${SIZE + 10}` }), status: 206, bytes: [10, SIZE], backend: [`GET bytes=10-${SIZE + 10}`] },
  { name: 'malformed Range', headers: () => ({ range: 'bytes=abc' }), status: 200, bytes: [0, SIZE], backend: ['GET'] },
  { name: 'start at the size: 416', headers: () => ({ range: `bytes=${SIZE}-` }), status: 416, backend: [`GET bytes=${SIZE}-`, 'HEAD'] },
  { name: 'zero suffix: 416', headers: () => ({ range: 'bytes=-0' }), status: 416, backend: ['GET bytes=-0', 'HEAD'] },
  { name: 'If-None-Match: 304', headers: (m) => ({ 'if-none-match': m.etag }), status: 304, backend: ['HEAD'] },
  { name: 'If-Modified-Since: 304', headers: (m) => ({ 'if-modified-since': m.lastModified }), status: 304, backend: ['HEAD'] },
  { name: 'If-Match other: 412', headers: () => ({ 'if-match': '"other"' }), status: 412, backend: ['HEAD'] },
  { name: 'If-Match matches', headers: (m) => ({ 'if-match': m.etag, range: 'bytes=0-9' }), status: 206, bytes: [0, 10], backend: ['HEAD', 'GET bytes=0-9'] },
  { name: 'If-Range fresh', headers: (m) => ({ 'if-range': m.etag, range: 'bytes=0-9' }), status: 206, bytes: [0, 10], backend: ['HEAD', 'GET bytes=0-9'] },
  { name: 'If-Range stale', headers: () => ({ 'if-range': '"old"', range: 'bytes=0-9' }), status: 200, bytes: [0, SIZE], backend: ['HEAD', 'GET'] },
  { name: 'several ranges, combined', headers: () => ({ range: 'bytes=0-9,5-19' }), status: 206, bytes: [0, 20], backend: ['HEAD', 'GET bytes=0-19'] },
  { name: 'HEAD', method: 'HEAD', headers: () => ({}), status: 200, backend: ['HEAD'] },
  // decideBytes ignores a Range this long; the prefetched bytes 1- are dropped and the whole read.
  { name: 'Range too long: ignored', headers: () => ({ range: longRange }), status: 200, bytes: [0, SIZE], backend: ['GET bytes=1-', 'GET'] },
];

t.test('s3 adapter through HTTP: one backend request per download', async (t) => {
  const s3 = await startS3Server({ buckets: ['recordings'] });
  t.teardown(() => s3.stop());
  const d = await startDaemon(storageEnv('s3', 'proxy', s3));
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: 'call_s3', to: '+15550000000', bytes: wav });
  const { routes, meta } = await byteRoutes(d, ORG, 'call_s3');

  for (const [routeName, route] of Object.entries(routes)) {
    for (const row of rows) {
      const label = `${routeName}: ${row.name}`;
      const before = s3.requests().length;
      const started = performance.now();
      const res = await fetch(route.url, { method: row.method ?? 'GET', headers: { ...route.headers, ...row.headers(meta) } });
      const body = Buffer.from(await res.arrayBuffer());
      const ms = performance.now() - started;
      const backend = s3.requests().slice(before).map((r) => [r.method, r.headers.range].filter(Boolean).join(' '));
      t.equal(res.status, row.status, `${label}: status`);
      t.same(backend, row.backend, `${label}: backend requests ${backend.length}`);
      if (row.bytes) {
        const [from, to] = row.bytes;
        t.ok(body.equals(wav.subarray(from, to)), `${label}: exactly bytes ${from}-${to - 1}`);
        t.equal(res.headers.get('content-range'), row.status === 206 ? `bytes ${from}-${to - 1}/${SIZE}` : null, `${label}: Content-Range`);
      } else {
        t.equal(body.length === 0, row.status !== 412 && row.status !== 416, `${label}: body`);
      }
      if (row.status === 416) t.equal(res.headers.get('content-range'), `bytes */${SIZE}`, `${label}: Content-Range */size`);
      if (row.status !== 412 && row.status !== 416) t.equal(res.headers.get('etag'), meta.etag, `${label}: ETag`);
      t.comment(`${label}: ${ms.toFixed(1)} ms`);
    }
  }

  // Prefetched bodies that are not sent are destroyed: no backend socket is left behind. (A
  // leaked one would close only when s3rver's 5 s keep-alive timeout ends it: wait 1 s at most.)
  for (let i = 0; i < 20; i++) {
    await (await fetch(routes.download.url, { headers: { ...routes.download.headers, range: longRange } })).arrayBuffer();
    await (await fetch(routes.download.url, { headers: { ...routes.download.headers, range: `bytes=${SIZE}-` } })).arrayBuffer();
  }
  let open = await s3.connections();
  for (let i = 0; i < 10 && open > 2; i++) {
    await sleep(100);
    open = await s3.connections();
  }
  t.ok(open <= 2, `${open} backend sockets open after 40 responses that dropped a prefetched body`);
});
