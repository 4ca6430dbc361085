import t, { type Test } from 'tap';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { MinioAdapter, type MinioAdapterOptions } from '../adapters/minio.js';
import { adapterContract, backendIgnoresRange, backendOutage, collect, emptyBucket, missingBucket, neverAnswers, stalledBody } from './helpers/adapter-contract.js';
import { S3RVER_CREDENTIALS, startS3Server, startScriptedServer, type ScriptedAction } from './helpers/s3-server.js';
import { signatureIsValid } from './helpers/sigv4.js';

const BUCKET = 'recordings';
/** A few keys a listing page, so the contract's listings page. */
const LIST_PAGE = 3;
const server = await startS3Server({ buckets: [BUCKET] });
t.teardown(() => server.stop());

function adapterFor(t: Test, options: Partial<MinioAdapterOptions> = {}): MinioAdapter {
  const adapter = new MinioAdapter({
    endpoint: server.endpoint,
    bucket: BUCKET,
    region: 'us-east-1',
    accessKey: S3RVER_CREDENTIALS.accessKeyId,
    secretKey: S3RVER_CREDENTIALS.secretAccessKey,
    timeoutMs: 10_000, // only the time-out tests pass a short one: a loaded machine is slow, not down
    ...options,
  });
  t.teardown(() => adapter.close());
  return adapter;
}

adapterContract(t, 'minio', async () => {
  const adapter = adapterFor(t, { listPageSize: LIST_PAGE });
  return {
    adapter, fetchable: true, cleanup: () => adapter.close(), listPageSize: LIST_PAGE,
    incompleteUploads: () => server.incompleteUploads(), connections: () => server.connections(),
  };
});

t.test('signed URLs: public endpoint, shape, and a valid SigV4 signature', async (t) => {
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY';
  const adapter = adapterFor(t, {
    publicEndpoint: 'http://media.example.test:9000',
    region: 'eu-central-1',
    accessKey: 'AKIDEXAMPLE',
    secretKey: secret,
  });
  const key = 'calls/2024/Anruf Müller (1).wav';
  const before = Date.now();
  const signed = await adapter.signedUrl(key, {
    expiresIn: 900, disposition: 'attachment', filename: 'Müller.wav', contentType: 'audio/wav',
  });
  const url = new URL(signed.url);
  t.equal(url.host, 'media.example.test:9000', 'signed for the public endpoint (never contacted)');
  t.equal(url.pathname, `/${BUCKET}/calls/2024/Anruf%20M%C3%BCller%20%281%29.wav`);
  t.equal(url.searchParams.get('X-Amz-Expires'), '900');
  t.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
  t.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'host');
  const date = url.searchParams.get('X-Amz-Date') ?? '';
  t.equal(url.searchParams.get('X-Amz-Credential'), `AKIDEXAMPLE/${date.slice(0, 8)}/eu-central-1/s3/aws4_request`);
  t.equal(url.searchParams.get('response-content-type'), 'audio/wav');
  t.equal(url.searchParams.get('response-content-disposition'), `attachment; filename="M_ller.wav"; filename*=UTF-8''M%C3%BCller.wav`);
  const signedAt = Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15));
  t.equal(signed.expiresAt.getTime(), signedAt + 900_000, 'expiresAt = X-Amz-Date + expiresIn');
  t.ok(signed.expiresAt.getTime() >= before + 899_000);

  t.ok(signatureIsValid(signed.url, secret, 'eu-central-1'), 'the signature verifies independently');
  const tampered = signed.url.replace('response-content-type=audio%2Fwav', 'response-content-type=text%2Fhtml');
  t.not(tampered, signed.url);
  t.notOk(signatureIsValid(tampered, secret, 'eu-central-1'), 'negative control: a changed parameter fails');
  t.notOk(signatureIsValid(signed.url, 'wrong', 'eu-central-1'), 'negative control: a wrong secret fails');

  // Positive control for the checker: the AWS SDK's own presigner, same endpoint and date.
  const sdk = new S3Client({
    region: 'eu-central-1', endpoint: 'http://media.example.test:9000', forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.teardown(() => sdk.destroy());
  const sdkSigned = await getSignedUrl(sdk, new GetObjectCommand({
    Bucket: BUCKET, Key: key, ResponseContentType: 'audio/wav',
    ResponseContentDisposition: url.searchParams.get('response-content-disposition') ?? '',
  }), { expiresIn: 900, signingDate: new Date(signedAt) });
  t.ok(signatureIsValid(sdkSigned, secret, 'eu-central-1'), 'the checker accepts the AWS SDK presigner’s URL');
  t.equal(new URL(sdkSigned).searchParams.get('X-Amz-Credential'), url.searchParams.get('X-Amz-Credential'));

  const capped = new URL((await adapter.signedUrl(key, { expiresIn: 30 * 86400, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav' })).url);
  t.equal(capped.searchParams.get('X-Amz-Expires'), '604800', 'capped at 7 days');
});

t.test('backend down, then back on the same port', (t) =>
  backendOutage(t, 'recproxy-minio-down-', BUCKET, (endpoint, timeoutMs) => adapterFor(t, { endpoint, timeoutMs })));

t.test('a backend that never answers times out', (t) =>
  neverAnswers(t, (options) => adapterFor(t, options)));

t.test('a backend that stalls mid-body fails the body, a slow consumer does not', (t) =>
  stalledBody(t, (options) => adapterFor(t, options)));

t.test('a missing bucket is StorageUnavailable, not ObjectNotFound', (t) =>
  missingBucket(t, (options) => adapterFor(t, options)));

t.test('an empty bucket lists nothing', (t) =>
  emptyBucket(t, (options) => adapterFor(t, options)));

t.test('an endpoint with a path is refused at construction', async (t) => {
  t.throws(() => new MinioAdapter({
    endpoint: 'http://minio:9000/prefix', bucket: BUCKET, region: 'us-east-1', accessKey: 'a', secretKey: 'b', timeoutMs: 1000,
  }), { code: 'STORAGE_UNAVAILABLE' });
});

const OBJECT = Buffer.from('0123456789'.repeat(100));

/** A scripted backend (test/helpers/s3-server.ts) and an adapter on it. */
async function scripted(t: Test, plan?: (n: number, reused: boolean) => ScriptedAction, body = OBJECT) {
  const backend = await startScriptedServer(body, plan);
  t.teardown(() => backend.stop());
  return { backend, adapter: adapterFor(t, { endpoint: backend.endpoint, timeoutMs: 1000 }) };
}

t.test('open is one GET: the Range of the hint passed through, metadata from its headers', async (t) => {
  const { backend, adapter } = await scripted(t, () => ({ status: 206, contentRange: `bytes 0-${OBJECT.length - 1}/${OBJECT.length * 3}` }));
  const opened = await adapter.open('a.wav', { hint: { suffix: OBJECT.length } });
  t.same(backend.requests.map((r) => [r.method, r.headers.range]), [['GET', `bytes=-${OBJECT.length}`]], 'one GET, a suffix Range');
  t.same([opened.meta.size, opened.meta.etag], [OBJECT.length * 3, '"0123456789abcdef0123456789abcdef"'], 'the whole size, from Content-Range');
  t.equal(opened.serves?.({ start: 0, end: OBJECT.length - 1 }), true);
  t.ok((await collect(opened.read({ range: { start: 0, end: OBJECT.length - 1 } }))).equals(OBJECT));
});

t.test('a backend that ignores Range: the handle holds the whole object, read() refuses other bytes', (t) =>
  backendIgnoresRange(t, OBJECT, (plan, body) => scripted(t, plan, body ?? OBJECT)));

t.test('open: a 416 falls back to statObject for the real size; without a hint it is statObject', async (t) => {
  const { backend, adapter } = await scripted(t, (n) => (n === 0 ? { status: 416, code: 'InvalidRange' } : 'serve'));
  const opened = await adapter.open('a.wav', { hint: { start: OBJECT.length } });
  t.same(backend.requests.map((r) => r.method), ['GET', 'HEAD'], 'the GET, then a HEAD');
  t.equal(opened.meta.size, OBJECT.length, 'the real size');
  t.equal(opened.serves?.(), false, 'holds no bytes');
  opened.close();
  const head = await adapter.open('a.wav');
  t.equal(backend.requests.at(-1)?.method, 'HEAD', 'no hint: a HEAD');
  t.equal(head.serves?.(), false);
  t.throws(() => head.read(), /does not hold those bytes/);

  const pre = new AbortController();
  pre.abort();
  await t.rejects(adapter.open('a.wav', { hint: 'whole', signal: pre.signal }), { name: 'AbortError' }, 'an aborted signal rejects at once');
  await t.rejects(adapter.open('k'.repeat(1025), { hint: 'whole' }), { code: 'INVALID_STORAGE_KEY' }, 'a key MinIO cannot name');
  await t.rejects(adapter.read('k'.repeat(1025)), { code: 'INVALID_STORAGE_KEY' });
});

t.test('open and read: answers that are refused', async (t) => {
  const cases: [ScriptedAction, { code: string; message?: RegExp }][] = [
    [{ status: 403, code: 'AccessDenied' }, { code: 'STORAGE_UNAVAILABLE', message: /AccessDenied/ }],
    [{ status: 404, code: 'NoSuchKey' }, { code: 'OBJECT_NOT_FOUND' }],
    [{ status: 404, code: 'NoSuchBucket' }, { code: 'STORAGE_UNAVAILABLE', message: /recordings does not exist/ }],
    [{ status: 206, contentRange: 'bytes 0-9/10' }, { code: 'STORAGE_UNAVAILABLE', message: /206 with Content-Range bytes 0-9\/10/ }],
    [{ status: 206 }, { code: 'STORAGE_UNAVAILABLE', message: /206 with no Content-Range/ }],
    [{ status: 200 }, { code: 'STORAGE_UNAVAILABLE', message: /lacks Content-Length or Last-Modified/ }],
  ];
  for (const [action, expected] of cases) {
    const { backend, adapter } = await scripted(t, () => action);
    await t.rejects(adapter.open('a.wav', { hint: { start: 0 } }), expected, `open: ${JSON.stringify(action)}`);
    await t.rejects(adapter.read('a.wav'), expected, `read: ${JSON.stringify(action)}`);
    t.equal(backend.requests.length, 2, 'one request each');
  }
});
