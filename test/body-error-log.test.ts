/**
 * A response body cut after its headers is in the log at the default level
 * (src/log-controller.ts): here the download's internal lifetime (RECPROXY_DOWNLOAD_TTL) running
 * out under a stalled reader, served from a real s3rver. A client that goes away is not logged.
 */
import t from 'tap';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { loggerOptions } from '../src/redact.js';
import { startDaemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';
import { storageEnv } from './helpers/storage-env.js';
import { makeWav } from './helpers/wav.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

const ORG = 'org_l';
const CUT = 'response terminated with an error with headers already sent';

/** GETs `url`, pauses after the first chunk for `stallMs` (or goes away at once when `abort`), reads on; resolves when it is over. */
function download(url: string, headers: Record<string, string>, { stallMs = 0, abort = false }): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    const req = request(url, { headers }, (res) => {
      res.once('data', () => {
        if (abort) return void req.destroy();
        res.pause();
        setTimeout(() => res.resume(), stallMs);
      });
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('error', () => undefined);
      res.on('close', () => resolve(bytes));
    });
    req.on('error', () => undefined);
    req.on('close', () => resolve(bytes));
    req.end();
  });
}

t.test('a body cut after its headers is logged at warn at the default level; a client going away is not', async (t) => {
  const s3 = await startS3Server({ buckets: ['recordings'] });
  t.teardown(() => s3.stop());
  const lines: string[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
  const d = await startDaemon(storageEnv('s3', 'presigned', s3, { RECPROXY_DOWNLOAD_TTL: '1' }), { logger: { ...loggerOptions('info'), stream } });
  t.teardown(d.stop);
  const big = makeWav(1300); // ~20 MB: more than the socket buffers hold
  await d.addCall({ org: ORG, sid: 'call_cut', to: '+1555', bytes: big });
  const url = `${d.url}/api/calls/call_cut/recording/download`;
  const cutLines = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } }).filter((l) => l.msg === CUT);

  const gone = await download(url, d.headers(ORG), { abort: true });
  t.ok(gone < big.length, 'the client went away mid-body');
  await sleep(300);
  t.same(cutLines(), [], 'a client going away is not a warning');

  const got = await download(url, d.headers(ORG), { stallMs: 2500 }); // past the 1 s lifetime
  t.ok(got < big.length, `cut off after ${got} of ${big.length} bytes`);
  for (let i = 0; i < 20 && cutLines().length === 0; i++) await sleep(100);
  const cut = cutLines();
  t.equal(cut.length, 1, 'the cut body is in the log');
  t.equal(cut[0]?.level, 40, 'at warn');
  t.match(cut[0]?.err?.message, /download lifetime over/, 'with why');
});

t.test("with per-request lines on, Fastify's own lines: the cut at warn, a premature close at info", async (t) => {
  const { BodyErrorLogController } = await import('../src/log-controller.js');
  const logged: string[] = [];
  const log = { warn: (_o: unknown, msg: string) => logged.push(`warn ${msg}`), info: (_o: unknown, msg: string) => logged.push(`info ${msg}`) };
  const reply = { log } as never;
  const on = new BodyErrorLogController({ disableRequestLogging: false });
  on.streamError(new Error('read failed'), {} as never, reply);
  on.streamError(Object.assign(new Error('closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }), {} as never, reply);
  t.same(logged, [`warn ${CUT}`, 'info stream closed prematurely']);
  logged.length = 0;
  const off = new BodyErrorLogController({ disableRequestLogging: true });
  off.streamError(Object.assign(new Error('closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }), {} as never, reply);
  off.streamError(new Error('read failed'), {} as never, reply);
  t.same(logged, [`warn ${CUT}`], 'per-request lines off: the cut only');
});
