/**
 * Storage failures seen through the daemon: a stopped S3 server answers 503 within the
 * timeout and recovers without a restart; clients that abort leave no backend sockets open;
 * a download's backend read ends after RECPROXY_DOWNLOAD_TTL.
 */
import t from 'tap';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalAdapter } from '../adapters/local.js';
import { StorageUnavailable } from '../src/core/errors.js';
import { startDaemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from './helpers/s3-server.js';
import { storageEnv } from './helpers/storage-env.js';
import { makeWav } from './helpers/wav.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

const ORG = 'org_f';
const TIMEOUT_MS = 1000;

async function errorCode(res: Response) {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

/** Starts a download and destroys it after the first body chunk; resolves when the socket is gone. */
function abortMidway(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      res.once('data', (chunk: Buffer) => {
        req.destroy();
        resolve(chunk.length);
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

async function settle(s3: S3Server, max: number): Promise<number> {
  let open = await s3.connections();
  for (let i = 0; i < 50 && open > max; i++) {
    await sleep(100);
    open = await s3.connections();
  }
  return open;
}

for (const storage of ['s3', 'minio']) {
  t.test(`${storage}: backend down → 503 within the timeout, then recovery`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'recproxy-s3dir-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    let s3 = await startS3Server({ buckets: ['recordings'], directory: dir });
    const port = s3.port;
    t.teardown(() => s3.stop());
    const d = await startDaemon(storageEnv(storage, 'presigned', s3, { RECPROXY_STORAGE_TIMEOUT_MS: String(TIMEOUT_MS) }));
    t.teardown(d.stop);
    await d.addCall({ org: ORG, sid: 'call_down', to: '+1555', bytes: makeWav(1) });

    await s3.stop();
    for (const ep of ['stream', 'download']) {
      const started = Date.now();
      const res = await fetch(`${d.url}/api/calls/call_down/recording/${ep}`, { headers: d.headers(ORG) });
      const elapsed = Date.now() - started;
      t.equal(res.status, 503, `${ep} with storage down`);
      t.equal(await errorCode(res), 'STORAGE_UNAVAILABLE');
      // A bound against hanging, not a speed target: attempts × timeout plus slack.
      t.ok(elapsed < TIMEOUT_MS * 5, `${ep} answered in ${elapsed} ms, not a hang`);
    }
    t.equal((await fetch(`${d.url}/healthz`)).status, 200, 'the daemon itself stays healthy');

    s3 = await startS3Server({ buckets: ['recordings'], directory: dir, port });
    const again = await fetch(`${d.url}/api/calls/call_down/recording/stream`, { headers: d.headers(ORG) });
    t.equal(again.status, 200, 'stream works again without restarting recproxy');
    await again.arrayBuffer();
    const dl = await fetch(`${d.url}/api/calls/call_down/recording/download`, { headers: d.headers(ORG) });
    t.equal(dl.status, 200, 'download works again');
    t.equal(Buffer.from(await dl.arrayBuffer()).length, makeWav(1).length);
  });

  t.test(`${storage}: 200 client aborts mid-download leave no backend sockets open`, async (t) => {
    const s3 = await startS3Server({ buckets: ['recordings'] });
    t.teardown(() => s3.stop());
    const d = await startDaemon(storageEnv(storage, 'presigned', s3));
    t.teardown(d.stop);
    const big = makeWav(330); // ~5 MB
    await d.addCall({ org: ORG, sid: 'call_big', to: '+1555', bytes: big });
    const url = `${d.url}/api/calls/call_big/recording/download`;
    const baseline = await settle(s3, 0);
    let received = 0;
    for (let i = 0; i < 200; i++) received += await abortMidway(url, d.headers(ORG));
    t.ok(received < 200 * big.length, 'every client left early');
    const open = await settle(s3, baseline + 2);
    t.ok(open <= baseline + 2, `${open} backend sockets open after 200 aborts (baseline ${baseline})`);
    // The last responses may close a moment after the client left: wait for them.
    let rows = await d.ctx.audit.query({ sid: 'call_big', limit: 1000 });
    for (let i = 0; i < 50 && rows.length < 200; i++) {
      await sleep(100);
      rows = await d.ctx.audit.query({ sid: 'call_big', limit: 1000 });
    }
    t.equal(rows.length, 200, 'every aborted download is in the access audit');
    t.ok(rows.every((r) => r.bytes! > 0 && r.bytes! < big.length), 'with the bytes that actually left, not the promised length');
    const full = await fetch(url, { headers: d.headers(ORG) });
    t.ok(Buffer.from(await full.arrayBuffer()).equals(big), 'a whole download still works');
  });
}

t.test('a download whose reader stalls is cut off after RECPROXY_DOWNLOAD_TTL', async (t) => {
  const s3 = await startS3Server({ buckets: ['recordings'] });
  t.teardown(() => s3.stop());
  const d = await startDaemon(storageEnv('s3', 'presigned', s3, { RECPROXY_DOWNLOAD_TTL: '1' }));
  t.teardown(d.stop);
  const big = makeWav(1300); // ~20 MB: more than the socket buffers hold
  await d.addCall({ org: ORG, sid: 'call_slow', to: '+1555', bytes: big });
  const result = await new Promise<{ bytes: number; complete: boolean }>((resolve) => {
    const req = request(`${d.url}/api/calls/call_slow/recording/download`, { headers: d.headers(ORG) }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.pause();
      setTimeout(() => res.resume(), 2500); // stall past the 1 s internal lifetime
      res.on('end', () => resolve({ bytes, complete: res.complete }));
      res.on('error', () => resolve({ bytes, complete: false }));
      res.on('close', () => resolve({ bytes, complete: res.complete }));
    });
    req.on('error', () => undefined);
    req.end();
  });
  t.notOk(result.complete && result.bytes === big.length, `cut off after ${result.bytes} of ${big.length} bytes`);
  t.ok((await settle(s3, 2)) <= 2, 'its backend request was closed');
});

t.test('a Range whose read fails after the lookup is a 503 without the headers of its bytes', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: 'call_eio', to: '+1555', bytes: makeWav(1) });
  const url = `${d.url}/api/calls/call_eio/recording/download`;
  const good = await fetch(url, { headers: { ...d.headers(ORG), Range: 'bytes=0-99' } });
  t.equal(good.status, 206);
  t.ok(good.headers.get('content-disposition'), 'a good Range carries its bytes headers');
  await good.arrayBuffer();

  // The file's read fails once it is open (a disk error): the handle's one read rejects.
  const open = LocalAdapter.prototype.open;
  t.teardown(() => void (LocalAdapter.prototype.open = open));
  LocalAdapter.prototype.open = async function (this: LocalAdapter, key: string) {
    const opened = await open.call(this, key);
    return { ...opened, bytes: () => (opened.close(), Promise.reject(new StorageUnavailable('read failed: EIO'))) };
  };
  const res = await fetch(url, { headers: { ...d.headers(ORG), Range: 'bytes=0-99' } });
  t.equal(res.status, 503);
  t.equal(await errorCode(res), 'STORAGE_UNAVAILABLE');
  t.match(res.headers.get('content-type'), /json/, 'the error envelope, not audio');
  for (const name of ['content-disposition', 'content-range', 'etag', 'last-modified', 'accept-ranges']) {
    t.equal(res.headers.get(name), null, `no ${name}`);
  }
});
