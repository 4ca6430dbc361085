/**
 * The S3 and MinIO adapters against radosgw (test/helpers/radosgw.ts), an S3 server that
 * checks every signature, beside their runs against s3rver (which checks none): the shared
 * contract, presigned URLs fetched from the server (tampered and expired ones refused), the
 * end-to-end journey in both stream modes, and outages (hung, stopped, restarted). One
 * radosgw for the whole file; the outages come last.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MinioAdapter } from '../adapters/minio.js';
import { S3Adapter } from '../adapters/s3.js';
import type { PresigningAdapter } from '../src/core/storage.js';
import { dispositionHeader } from '../src/core/disposition.js';
import { adapterContract, collect, hungBackend, outage, serveGet } from './helpers/adapter-contract.js';
import { startDaemon } from './helpers/daemon.js';
import { journey } from './helpers/journey.js';
import { startRadosgw } from './helpers/radosgw.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';
import { resign, rfc3986 } from './helpers/sigv4.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';

const REGION = 'us-east-1';
// A cluster start, two contract runs, four daemons and the outages: about 2½ minutes on a busy
// 2-core machine, so more room than the suite's 240 s per file.
t.setTimeout(480_000);
const rgw = await startRadosgw({ buckets: [BUCKET] });
t.teardown(() => rgw.stop());
t.comment(`radosgw answered ${rgw.startSeconds.toFixed(1)} s after the first command`);
process.env.AWS_ACCESS_KEY_ID = rgw.credentials.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = rgw.credentials.secretAccessKey;

type Name = 's3' | 'minio';
interface Target { endpoint?: string; timeoutMs?: number; credentials?: { accessKeyId: string; secretAccessKey: string }; listPageSize?: number }
/** A few keys a listing page, so the contract's listings page against radosgw too. */
const LIST_PAGE = 3;

function adapterFor(t: Test, name: Name, target: Target = {}): PresigningAdapter {
  const endpoint = target.endpoint ?? rgw.endpoint;
  const credentials = target.credentials ?? rgw.credentials;
  const { timeoutMs = 5000, listPageSize } = target;
  const adapter = name === 's3'
    ? new S3Adapter({ bucket: BUCKET, region: REGION, endpoint, forcePathStyle: true, credentials, timeoutMs, listPageSize })
    : new MinioAdapter({ endpoint, bucket: BUCKET, region: REGION, accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey, timeoutMs, listPageSize });
  t.teardown(() => adapter.close());
  return adapter;
}

/** GET `url` with `Range: bytes=0-9`: status, the S3 error code if any, Content-Disposition, body. */
async function fetchSigned(url: string): Promise<{ status: number; code?: string; disposition: string | null; body: Buffer }> {
  const res = await fetch(url, { headers: { Range: 'bytes=0-9' } });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, code: /<Code>([^<]*)<\/Code>/.exec(body.toString('utf8'))?.[1], disposition: res.headers.get('content-disposition'), body };
}

for (const name of ['s3', 'minio'] as const) {
  adapterContract(t, `${name} on radosgw`, async () => {
    const adapter = adapterFor(t, name, { listPageSize: LIST_PAGE });
    return { adapter, fetchable: true, cleanup: async () => adapter.close?.(), listPageSize: LIST_PAGE, incompleteUploads: () => rgw.incompleteUploads(), connections: () => rgw.connections() };
  });
}

t.test('keys that need escaping: every call is signed as radosgw rebuilds it', async (t) => {
  const keys = ["calls/2024/Anruf Müller (1) O'Brien!*~+&=.wav", 'calls/a b/c%20d;e,f$g@h:i.wav', 'calls/日本語/録音 1.wav'];
  for (const name of ['s3', 'minio'] as const) {
    const adapter = adapterFor(t, name);
    for (const key of keys) {
      const label = `${name}, ${key}`;
      const bytes = randomBytes(1000);
      await adapter.write(key, bytes, { contentType: 'audio/wav' });
      t.equal((await adapter.stat(key)).size, bytes.length, `${label}: stat`);
      t.ok((await collect((await adapter.read(key, { range: { start: 10, end: 19 } })).body)).equals(bytes.subarray(10, 20)), `${label}: ranged read`);
      t.ok((await serveGet(adapter, key, { range: 'bytes=-5' })).bytes?.equals(bytes.subarray(-5)), `${label}: open with a hint`);
      const { url } = await adapter.signedUrl(key, { expiresIn: 600, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav' });
      t.equal((await fetchSigned(url)).status, 206, `${label}: presigned URL`);
      await adapter.delete(key);
      await t.rejects(adapter.stat(key), { code: 'OBJECT_NOT_FOUND' }, `${label}: deleted`);
    }
  }
});

const FILENAMES = ["O'Brien (1)!.wav", 'Anruf Müller.wav', '日本語 録音.wav', 'recording_+49 30 123.wav', 'a;b,c=d&e%20f.wav'];

t.test('presigned URLs fetched from radosgw: served as signed; tampered and expired ones refused', async (t) => {
  for (const name of ['s3', 'minio'] as const) {
    const adapter = adapterFor(t, name);
    const key = `signed/${name}/Anruf Müller (1) O'Brien!*~+&=.wav`;
    const bytes = randomBytes(1000);
    await adapter.write(key, bytes, { contentType: 'audio/wav' });
    for (const filename of FILENAMES) {
      for (const disposition of ['inline', 'attachment'] as const) {
        const label = `${name}, ${disposition}, ${filename}`;
        const signed = await adapter.signedUrl(key, { expiresIn: 600, disposition, filename, contentType: 'audio/wave' });
        const got = await fetchSigned(signed.url);
        t.equal(got.status, 206, `${label}: served (${got.code ?? 'no error'})`);
        t.equal(got.disposition, dispositionHeader(disposition, filename), `${label}: Content-Disposition as signed`);
        t.ok(got.body.equals(bytes.subarray(0, 10)), `${label}: bytes 0-9`);
      }
    }

    const { url } = await adapter.signedUrl(key, { expiresIn: 600, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav' });
    const otherType = url.replace('response-content-type=audio%2Fwav', 'response-content-type=text%2Fhtml');
    t.not(otherType, url);
    t.match(await fetchSigned(otherType), { status: 403, code: 'SignatureDoesNotMatch' }, `${name}: a changed parameter is refused`);
    const signature = /X-Amz-Signature=([0-9a-f]{64})/.exec(url)?.[1] ?? '';
    const flipped = url.replace(signature, signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0'));
    t.not(flipped, url);
    t.match(await fetchSigned(flipped), { status: 403, code: 'SignatureDoesNotMatch' }, `${name}: a changed signature is refused`);

    const short = await adapter.signedUrl(key, { expiresIn: 1, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav' });
    await sleep(short.expiresAt.getTime() + 1500 - Date.now());
    t.match(await fetchSigned(short.url), { status: 403, code: 'AccessDenied' }, `${name}: an expired URL is refused`);
  }
});

t.test('a signature over a mis-encoded response-content-disposition: s3rver serves it, radosgw refuses it', async (t) => {
  const s3rver = await startS3Server({ buckets: [BUCKET] });
  t.teardown(() => s3rver.stop());
  const bytes = randomBytes(1000);
  const servers = [['s3rver', s3rver.endpoint, S3RVER_CREDENTIALS, 206], ['radosgw', rgw.endpoint, rgw.credentials, 403]] as const;
  for (const [server, endpoint, credentials, misEncodedStatus] of servers) {
    const adapter = adapterFor(t, 's3', { endpoint, credentials });
    await adapter.write('bug/a.wav', bytes, { contentType: 'audio/wav' });
    const { url } = await adapter.signedUrl('bug/a.wav', { expiresIn: 600, disposition: 'attachment', filename: "O'Brien (1)!.wav", contentType: 'audio/wav' });
    // SigV4 escapes the canonical query as RFC 3986 does; encodeURIComponent leaves ' ( ) ! as
    // they are, so a signer that uses it signs another string than the server rebuilds.
    const misEncoded = resign(url, credentials.secretAccessKey, REGION, encodeURIComponent);
    t.not(misEncoded, url, 'the mis-encoded signature differs');
    const reSigned = resign(url, credentials.secretAccessKey, REGION, rfc3986);
    t.equal(reSigned, url, 'control: the spec-written signer gives the adapter\'s signature');
    t.equal((await fetchSigned(url)).status, 206, `${server}: the adapter's URL is served`);
    const got = await fetchSigned(misEncoded);
    t.equal(got.status, misEncodedStatus, `${server}: the mis-encoded signature is ${misEncodedStatus === 206 ? 'served' : 'refused'}`);
    if (misEncodedStatus === 403) t.equal(got.code, 'SignatureDoesNotMatch');
  }
});

for (const storage of ['s3', 'minio'] as const) {
  for (const mode of ['presigned', 'proxy']) {
    t.test(`journey on radosgw: ${storage}, ${mode}`, async (t) => {
      const d = await startDaemon(storageEnv(storage, mode, rgw));
      t.teardown(d.stop);
      t.equal(d.ctx.storage.name, storage);
      await journey(t, d, storage, mode, rgw);
    });
  }
}

for (const name of ['s3', 'minio'] as const) {
  const make = (t: Test) => (endpoint: string, timeoutMs: number) => adapterFor(t, name, { endpoint, timeoutMs });
  t.test(`${name}: radosgw hung (SIGSTOP), then running again`, (t) => hungBackend(t, rgw, make(t)));
  t.test(`${name}: radosgw stopped, then restarted on the same port`, (t) =>
    outage(t, { endpoint: rgw.endpoint, stop: () => rgw.stopGateway(), restart: () => rgw.startGateway() }, make(t)));
}
