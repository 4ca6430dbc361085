import t, { type Test } from 'tap';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3Adapter, type S3AdapterOptions } from '../adapters/s3.js';
import type { SignOptions } from '../adapters/types.js';
import { adapterContract, backendOutage, missingBucket, stalledBody } from './helpers/adapter-contract.js';
import { S3RVER_CREDENTIALS, startBlackhole, startS3Server } from './helpers/s3-server.js';

const BUCKET = 'recordings';
const server = await startS3Server({ buckets: [BUCKET] });
t.teardown(() => server.stop());

function adapterFor(t: Test, options: Partial<S3AdapterOptions> = {}): S3Adapter {
  const adapter = new S3Adapter({
    bucket: BUCKET,
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    timeoutMs: 2000,
    ...options,
  });
  t.teardown(() => adapter.close());
  return adapter;
}

adapterContract(t, 's3', async () => {
  const adapter = adapterFor(t);
  return { adapter, fetchable: true, incompleteUploads: () => server.incompleteUploads(), cleanup: () => adapter.close() };
});

/** The X-Amz-Date of a presigned URL as a Date. */
function signingDateOf(url: URL): Date {
  const d = url.searchParams.get('X-Amz-Date') ?? '';
  return new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
}

/** What getSignedUrl (the SDK's own presigner) makes for the same GetObject at the same date. */
async function sdkUrl(options: S3AdapterOptions, key: string, ours: URL): Promise<string> {
  const client = new S3Client({
    region: options.region,
    endpoint: options.publicEndpoint ?? options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: options.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const command = new GetObjectCommand({
    Bucket: options.bucket,
    Key: key,
    ResponseContentType: ours.searchParams.get('response-content-type') ?? undefined,
    ResponseContentDisposition: ours.searchParams.get('response-content-disposition') ?? undefined,
  });
  const expiresIn = Number(ours.searchParams.get('X-Amz-Expires'));
  try {
    return await getSignedUrl(client, command, { expiresIn, signingDate: signingDateOf(ours) });
  } finally {
    client.destroy();
  }
}

const KEY = 'calls/2024/Anruf Müller (1).wav';
const SIGN: SignOptions = { expiresIn: 900, disposition: 'attachment', filename: 'recording_+49 30 123.wav', contentType: 'audio/wav' };

t.test('signed URLs: shape, public endpoint, and identical to getSignedUrl', async (t) => {
  // The internal endpoint is a closed port and the public host does not resolve:
  // signing must not contact either.
  const dead = await startBlackhole();
  await dead.stop();
  const cases: [string, S3AdapterOptions][] = [
    ['path style, public endpoint with port', {
      bucket: BUCKET, region: 'eu-central-1', endpoint: dead.endpoint, publicEndpoint: 'http://media.example.test:9000',
      forcePathStyle: true, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' }, timeoutMs: 1000,
    }],
    ['virtual-hosted, https public endpoint, session token', {
      bucket: BUCKET, region: 'eu-west-1', endpoint: dead.endpoint, publicEndpoint: 'https://media.example.test',
      credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 's3cr3t', sessionToken: 'tok/en+=' }, timeoutMs: 1000,
    }],
    ['AWS default endpoint', {
      bucket: BUCKET, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, timeoutMs: 1000,
    }],
  ];
  const hosts: string[] = [];
  for (const [label, options] of cases) {
    const adapter = new S3Adapter(options);
    t.teardown(() => adapter.close());
    const before = Date.now();
    const signed = await adapter.signedUrl(KEY, SIGN);
    const url = new URL(signed.url);
    hosts.push(url.host);
    if (hosts.length === 1) t.equal(url.pathname, `/${BUCKET}/calls/2024/Anruf%20M%C3%BCller%20%281%29.wav`, 'RFC 3986 escaped key');
    t.equal(signed.url, await sdkUrl(options, KEY, url), `${label}: byte-identical to getSignedUrl`);
    t.equal(url.searchParams.get('X-Amz-Expires'), '900', `${label}: X-Amz-Expires`);
    t.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
    t.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'host');
    const day = signingDateOf(url).toISOString().slice(0, 10).replace(/-/g, '');
    t.equal(url.searchParams.get('X-Amz-Credential'), `${options.credentials!.accessKeyId}/${day}/${options.region}/s3/aws4_request`);
    t.equal(url.searchParams.get('X-Amz-Security-Token'), options.credentials!.sessionToken ?? null, `${label}: token`);
    t.equal(url.searchParams.get('response-content-type'), 'audio/wav');
    t.equal(url.searchParams.get('response-content-disposition'), 'attachment; filename="recording_+49 30 123.wav"');
    t.ok(Math.abs(signed.expiresAt.getTime() - (signingDateOf(url).getTime() + 900_000)) < 1, `${label}: expiresAt = X-Amz-Date + expiresIn`);
    t.ok(signed.expiresAt.getTime() >= before + 899_000, `${label}: expiresAt ≈ now + expiresIn`);
  }
  t.same(hosts, ['media.example.test:9000', `${BUCKET}.media.example.test`, `${BUCKET}.s3.us-east-1.amazonaws.com`]);
});

t.test('signed URLs: non-ASCII filenames, 7-day cap, speed', async (t) => {
  const adapter = adapterFor(t, { publicEndpoint: 'http://media.example.test:9000' });
  const signed = await adapter.signedUrl(KEY, { ...SIGN, disposition: 'inline', filename: 'Müller "quote"\r\n.wav', expiresIn: 30 * 86400 });
  const url = new URL(signed.url);
  t.equal(url.searchParams.get('response-content-disposition'),
    `inline; filename="M_ller _quote___.wav"; filename*=UTF-8''M%C3%BCller%20_quote___.wav`);
  t.equal(url.searchParams.get('X-Amz-Expires'), '604800', 'capped at S3’s 7 days');
  t.ok(signed.expiresAt.getTime() - Date.now() <= 604800_000, 'expiresAt follows the cap');

  const sdk = new S3Client({ region: 'us-east-1', endpoint: 'http://media.example.test:9000', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  t.teardown(() => sdk.destroy());
  const time = async (fn: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < 100; i++) await fn(i);
    const start = performance.now();
    for (let i = 0; i < 500; i++) await fn(i);
    return performance.now() - start;
  };
  const ours = await time((i) => adapter.signedUrl(`k/${i}.wav`, SIGN));
  const theirs = await time((i) => getSignedUrl(sdk, new GetObjectCommand({ Bucket: BUCKET, Key: `k/${i}.wav` }), { expiresIn: 900 }));
  // A figure for the reader, not an assertion: speed lives in `npm run bench`.
  t.comment(`signedUrl ${(ours / 500).toFixed(3)} ms per call; getSignedUrl ${(theirs / 500).toFixed(3)} ms`);
});

t.test('backend down, then back on the same port', (t) =>
  backendOutage(t, 'recproxy-s3-down-', BUCKET, (endpoint, timeoutMs) => adapterFor(t, { endpoint, timeoutMs })));

t.test('a backend that never answers times out', async (t) => {
  const hole = await startBlackhole();
  t.teardown(() => hole.stop());
  const timeoutMs = 500;
  const adapter = adapterFor(t, { endpoint: hole.endpoint, timeoutMs });
  for (const [label, op] of [
    ['stat', () => adapter.stat('x.wav')],
    ['read', () => adapter.read('x.wav')],
  ] as const) {
    const start = Date.now();
    const err = (await op().catch((e: unknown) => e)) as { code?: string; cause?: unknown };
    const elapsed = Date.now() - start;
    t.equal(err.code, 'STORAGE_UNAVAILABLE', `${label}: StorageUnavailable`);
    t.ok(err.cause, `${label}: with the SDK error as cause`);
    t.ok(elapsed >= timeoutMs * 0.9 && elapsed < 5 * timeoutMs, `${label}: after the timeout (${elapsed} ms)`);
  }
});

t.test('a backend that stalls mid-body fails the body, a slow consumer does not', (t) =>
  stalledBody(t, (options) => adapterFor(t, options)));

t.test('a missing bucket is StorageUnavailable, not ObjectNotFound', (t) =>
  missingBucket(t, (options) => adapterFor(t, options)));
