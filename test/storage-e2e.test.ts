/**
 * The same end-to-end journey over every storage backend and both stream modes:
 * register, stream URL, Range 206 on that URL, byte-exact download, download with Range.
 * S3 and MinIO run against a real S3-protocol server on a loopback port.
 */
import t, { type Test } from 'tap';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from './helpers/s3-server.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';
import { makeWav } from './helpers/wav.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

const ORG = 'org_e2e';
const wav = makeWav(60);

async function journey(t: Test, d: Daemon, storage: string, mode: string, s3?: S3Server) {
  const sid = `call_${storage}${mode}`;
  await d.addCall({ org: ORG, sid, to: '+15559876543', bytes: wav });
  const headers = d.headers(ORG);
  const res = await fetch(`${d.url}/api/calls/${sid}/recording/stream`, { headers });
  t.equal(res.status, 200);
  const { data } = (await res.json()) as { data: { url: string; expires_in: number; content_type: string; filename: string } };
  t.equal(data.content_type, 'audio/wav');
  t.equal(data.filename, 'recording_+15559876543.wav');
  t.equal(data.expires_in, 3600, 'a fresh URL lives the whole stream TTL');
  const url = new URL(data.url);
  if (storage !== 'local' && mode === 'presigned') {
    const publicEndpoint = new URL(s3!.endpoint.replace('127.0.0.1', 'localhost'));
    t.equal(url.host, publicEndpoint.host, 'signed for the public endpoint');
    t.equal(Number(url.searchParams.get('X-Amz-Expires')), data.expires_in, 'X-Amz-Expires equals expires_in');
    t.equal(url.searchParams.get('response-content-type'), 'audio/wav');
    t.match(url.searchParams.get('response-content-disposition'), /^inline; filename="recording_\+15559876543\.wav"/);
  } else {
    t.equal(url.origin, d.url, 'served through the daemon');
    t.match(url.pathname, /^\/media\//);
  }
  // The browser reaches "localhost"; this machine resolves it to loopback too.
  const ranged = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
  t.equal(ranged.status, 206, 'Range on the stream URL');
  t.equal(ranged.headers.get('content-range'), `bytes 1000-1999/${wav.length}`);
  t.ok(Buffer.from(await ranged.arrayBuffer()).equals(wav.subarray(1000, 2000)), 'exactly bytes 1000-1999');

  const dl = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers });
  t.equal(dl.status, 200);
  t.equal(dl.headers.get('content-length'), String(wav.length));
  t.equal(dl.headers.get('content-disposition'), 'attachment; filename="recording_+15559876543.wav"');
  t.ok(Buffer.from(await dl.arrayBuffer()).equals(wav), 'download byte-exact');

  const part = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers: { ...headers, Range: 'bytes=500000-' } });
  t.equal(part.status, 206, 'download with Range');
  t.equal(part.headers.get('content-range'), `bytes 500000-${wav.length - 1}/${wav.length}`);
  t.ok(Buffer.from(await part.arrayBuffer()).equals(wav.subarray(500000)));
}

for (const storage of ['local', 's3', 'minio']) {
  for (const mode of ['presigned', 'proxy']) {
    t.test(`${storage}, ${mode}`, async (t) => {
      let s3: S3Server | undefined;
      if (storage !== 'local') {
        s3 = await startS3Server({ buckets: [BUCKET] });
        t.teardown(() => s3!.stop());
      }
      const d = await startDaemon(storageEnv(storage, mode, s3));
      t.teardown(d.stop);
      t.equal(d.ctx.storage.name, storage);
      await journey(t, d, storage, mode, s3);
    });
  }
}
