/**
 * What is measured, against which peer, with which target. Each scenario lists its runs (one
 * server, one URL, one load shape, the answer the URL must give) and its checks. Targets are
 * the issue's; they are not tuned to the figures.
 *
 * A run names its `server` (the row) and the `process` it loads (default: the server), and
 * either a `path` on that process or `url()`, resolved once the process runs; `backend`: a
 * process whose CPU and RSS are sampled too (s3rver behind recproxy-s3).
 * `f` holds the prepared fixtures (see run.mjs):
 *   f.headers   the request headers for recproxy's /api (RECPROXY_HEADERS)
 *   f.call2 / f.call50 / f.s3call   index rows of the registered recordings
 *   f.mediaUrl() the /media/{token} URL recproxy-local hands out; f.s3Direct() a presigned s3rver GET
 *   f.adminHeaders  headers with an admin key (uploads); f.uploadRoot  recproxy-upload's local root
 *   f.auditFileReuse()  audit-prune's file check (bench/lib/audit-prune.mjs)
 *   f.dir  the temp dir; f.localEnv  the CLI's environment for recproxy-local's index and store
 *   f.s3call50()  the 50 MB recording's row in s3rver (put there on first use)
 *   f.mediaUrlOf(server, row)  the /media/{token} URL a running recproxy hands out for `row`
 * A run's `process` names the server process when it is not the row's name (a fresh one per run).
 * A run with `measure(server)` measures itself (one operation, no load generator) and returns its row.
 * A scenario's `after: { server, measure }` is measured once its runs are done (its row's name).
 */
import { LISTENERS, LISTENER_RATE, LISTENER_SECONDS, measureListeners } from './lib/listeners.mjs';
import { measurePeaks } from './lib/peaks.mjs';
import { measureUpload } from './lib/upload.mjs';

export const ORG = 'org_bench';
const MB2 = 2 * 1024 * 1024;
const MB50 = 50 * 1024 * 1024;
const RANGE = { Range: 'bytes=65536-131071' };
const KIB64 = 65536;
const GIB = 1024 ** 3;

const stream = (sid) => `/api/calls/${sid}/recording/stream`;
const download = (sid) => `/api/calls/${sid}/recording/download`;

export function scenarios(f) {
  const file = (row) => `/${row.storage_key}`; // the peers serve recproxy's local root as is
  return [
    {
      id: 'stream',
      title: 'Stream endpoint (JSON with a fresh URL)',
      runs: [
        { server: 'recproxy-local', path: stream(f.call2.call_sid), headers: f.headers, expect: { status: 200, json: true } },
        { server: 'recproxy-s3', path: stream(f.s3call.call_sid), headers: f.headers, expect: { status: 200, json: true }, backend: 's3rver' },
        { server: 'bare-fastify', path: stream(f.call2.call_sid), expect: { status: 200, json: true } },
      ],
      checks: [
        { server: 'recproxy-local', peer: 'bare-fastify', metric: 'rps', min: 0.7 },
        { server: 'recproxy-s3', peer: 'bare-fastify', metric: 'rps', min: 0.6 },
      ],
    },
    {
      id: 'download-2mb',
      title: 'Download of the whole 2 MB recording',
      runs: [
        { server: 'recproxy-local', path: download(f.call2.call_sid), headers: f.headers, expect: { status: 200, length: MB2 } },
        { server: 'bare-node', path: file(f.call2), expect: { status: 200, length: MB2 } },
        { server: 'fastify-static', path: file(f.call2), expect: { status: 200, length: MB2 } },
        { server: 'nginx', path: file(f.call2), expect: { status: 200, length: MB2 }, optional: true },
      ],
      checks: [
        { server: 'recproxy-local', peer: 'bare-node', metric: 'mbps', min: 0.8 },
        { server: 'recproxy-local', peer: 'fastify-static', metric: 'mbps', min: 5 },
      ],
    },
    {
      id: 'range-64k',
      title: '64 KiB Range request (bytes=65536-131071), as a seeking player sends',
      runs: [
        { server: 'recproxy-local', path: download(f.call2.call_sid), headers: { ...f.headers, ...RANGE }, expect: { status: 206, length: KIB64 } },
        { server: 'recproxy-local-media', url: f.mediaUrl, headers: RANGE, expect: { status: 206, length: KIB64 }, process: 'recproxy-local' },
        { server: 'bare-node', path: file(f.call2), headers: RANGE, expect: { status: 206, length: KIB64 } },
        { server: 'nginx', path: file(f.call2), headers: RANGE, expect: { status: 206, length: KIB64 }, optional: true },
      ],
      checks: [
        { server: 'recproxy-local', peer: 'bare-node', metric: 'rps', min: 0.8 },
        { server: 'recproxy-local-media', peer: 'bare-node', metric: 'rps', min: 0.8 },
      ],
    },
    {
      id: 's3-download-2mb',
      title: 'Download of the 2 MB recording through the s3 adapter',
      runs: [
        { server: 'recproxy-s3', path: download(f.s3call.call_sid), headers: f.headers, expect: { status: 200, length: MB2 }, backend: 's3rver' },
        { server: 's3rver-direct', url: f.s3Direct, expect: { status: 200, length: MB2 }, process: 's3rver' },
      ],
      checks: [{ server: 'recproxy-s3', peer: 's3rver-direct', metric: 'mbps', min: 0.8 }],
    },
    {
      id: 'memory-50mb-c200',
      title: '200 concurrent downloads of the 50 MB recording',
      repeat: 1,
      runs: [
        {
          server: 'recproxy-local-fresh',
          path: download(f.call50.call_sid),
          headers: f.headers,
          expect: { status: 200, length: MB50 },
          connections: 200,
          seconds: 10,
          warmup: 0,
          timeoutSec: 60,
        },
        {
          server: 'bare-node-fresh',
          path: file(f.call50),
          expect: { status: 200, length: MB50 },
          connections: 200,
          seconds: 10,
          warmup: 0,
          timeoutSec: 60,
        },
      ],
      checks: [{ server: 'recproxy-local-fresh', metric: 'peakRssMiB', max: 200, unit: ' MiB' }],
    },
    {
      id: 'listeners',
      title: `${LISTENERS} listeners, each reading the 50 MB recording at ${LISTENER_RATE / 1000} KB/s (a 128 kbit/s player) for ${LISTENER_SECONDS} s`,
      // Each run on a freshly started server: RSS above idle is its peak minus its RSS just before.
      runs: [
        {
          server: 'recproxy-local-media',
          process: 'recproxy-listen-media',
          measure: async (server) => measureListeners({ server, url: await f.mediaUrlOf(server, f.call50) }),
        },
        {
          server: 'recproxy-local-download',
          process: 'recproxy-listen-download',
          measure: (server) => measureListeners({ server, url: server.url + download(f.call50.call_sid), headers: f.headers }),
        },
        {
          server: 'recproxy-s3-media',
          process: 'recproxy-s3-listen',
          measure: async (server) => measureListeners({ server, url: await f.mediaUrlOf(server, await f.s3call50()) }),
        },
        { server: 'bare-node', process: 'bare-node-listen', measure: (server) => measureListeners({ server, url: server.url + file(f.call50) }) },
        { server: 'nginx', process: 'nginx-listen', measure: (server) => measureListeners({ server, url: server.url + file(f.call50) }) },
      ],
      checks: [
        { server: 'recproxy-local-media', peer: 'bare-node', metric: 'rssAboveIdleMiB', max: 0.6 },
        { server: 'recproxy-local-media', metric: 'slowestFraction', min: 0.9 },
        { server: 'recproxy-local-download', metric: 'slowestFraction', min: 0.9 },
        { server: 'recproxy-s3-media', peer: 'recproxy-local-media', metric: 'rssAboveIdleMiB', max: 1.0 },
        { server: 'recproxy-s3-media', metric: 'slowestFraction', min: 0.9 },
      ],
    },
    {
      id: 'growth',
      title: 'Stream endpoint on random existing calls: 1,000,000 indexed calls vs 1,000',
      // p99 is what is compared: of 3 repetitions each, the one with the lowest p99 counts.
      repeat: 3,
      pick: 'p99ms',
      runs: [
        { server: 'recproxy-1k', path: stream('call_g0'), headers: f.headers, expect: { status: 200, json: true }, random: { prefix: '/api/calls/call_g', count: 1000, suffix: '/recording/stream' } },
        { server: 'recproxy-1m', path: stream('call_g0'), headers: f.headers, expect: { status: 200, json: true }, random: { prefix: '/api/calls/call_g', count: 1_000_000, suffix: '/recording/stream' } },
      ],
      checks: [{ server: 'recproxy-1m', peer: 'recproxy-1k', metric: 'p99ms', max: 1.5 }],
    },
    {
      id: 'audit-prune',
      title: 'Stream endpoint while the daemon prunes 1,000,000 expired audit rows, vs the same audit with no pruning',
      // p99 is what is compared, as in growth. Then, the pruning done, 5 s more traffic: the
      // audit file's page count before and after (freed pages reused: no growth).
      repeat: 3,
      pick: 'p99ms',
      runs: [
        { server: 'recproxy-audit-idle', path: stream(f.call2.call_sid), headers: f.headers, expect: { status: 200, json: true } },
        { server: 'recproxy-audit-pruning', path: stream(f.call2.call_sid), headers: f.headers, expect: { status: 200, json: true } },
      ],
      after: { server: 'audit-file', measure: () => f.auditFileReuse() },
      checks: [
        { server: 'recproxy-audit-pruning', peer: 'recproxy-audit-idle', metric: 'p99ms', max: 1.5 },
        { server: 'audit-file', metric: 'oldRowsAtEnd', min: 1, unit: ' rows' },
        { server: 'audit-file', metric: 'pageGrowth', max: 1 },
      ],
    },
    {
      id: 'ingest',
      title: 'recproxy ingest (copy into local storage) and scan (index in place) of a 10,000-file Asterisk spool, files/s',
      // No server under load: bench/lib/ingest.mjs runs the CLI; the rate column holds files/s.
      task: 'ingest',
      runs: [],
      checks: [
        { server: 'ingest-local', metric: 'filesPerSec', min: 300, unit: ' files/s' },
        { server: 'scan-local', metric: 'filesPerSec', min: 1000, unit: ' files/s' },
      ],
    },
    {
      id: 'upload',
      title: 'A 1 GiB WAV streamed through POST /api/calls (multipart), made on the fly by the client',
      runs: [
        {
          server: 'recproxy-upload',
          measure: (server) => measureUpload({ server, headers: f.adminHeaders, root: f.uploadRoot, org: ORG, sid: 'call_benchupload', bytes: GIB }),
        },
      ],
      checks: [
        { server: 'recproxy-upload', metric: 'peakRssMiB', max: 150, unit: ' MiB' },
        { server: 'recproxy-upload', metric: 'sha256Match', min: 1 },
      ],
    },
    {
      id: 'peaks',
      title: 'Waveform peaks of a 2-hour 16-bit stereo 16 kHz WAV (460 MB): the first request, which reads and reduces it all',
      runs: [
        {
          server: 'recproxy-peaks',
          measure: (server) => measurePeaks({ server, headers: f.headers, env: f.localEnv, dir: f.dir, org: ORG, sid: 'call_benchpeaks' }),
        },
      ],
      checks: [
        { server: 'recproxy-peaks', metric: 'peakRssMiB', max: 150, unit: ' MiB' },
        { server: 'recproxy-peaks', metric: 'peaksMatch', min: 1 },
      ],
    },
  ];
}
