import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3Adapter, targetOf, type S3AdapterOptions } from '../adapters/s3.js';
import type { SignOptions } from '../src/core/storage.js';
import { adapterContract, backendIgnoresRange, backendOutage, collect, emptyBucket, missingBucket, neverAnswers, settle, stalledBody } from './helpers/adapter-contract.js';
import { S3RVER_CREDENTIALS, startBlackhole, startS3Server, startScriptedServer, type ScriptedAction } from './helpers/s3-server.js';

const BUCKET = 'recordings';
/** A few keys a listing page, so the contract's listings page. */
const LIST_PAGE = 3;
const server = await startS3Server({ buckets: [BUCKET] });
t.teardown(() => server.stop());

function adapterFor(t: Test, options: Partial<S3AdapterOptions> = {}): S3Adapter {
  const adapter = new S3Adapter({
    bucket: BUCKET,
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    timeoutMs: 10_000, // only the time-out tests pass a short one: a loaded machine is slow, not down
    ...options,
  });
  t.teardown(() => adapter.close());
  return adapter;
}

adapterContract(t, 's3', async () => {
  const adapter = adapterFor(t, { listPageSize: LIST_PAGE });
  return {
    adapter, fetchable: true, cleanup: () => adapter.close(), listPageSize: LIST_PAGE,
    incompleteUploads: () => server.incompleteUploads(), connections: () => server.connections(),
  };
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

t.test('a backend that never answers times out', (t) =>
  neverAnswers(t, (options) => adapterFor(t, options)));

t.test('a backend that stalls mid-body fails the body, a slow consumer does not', (t) =>
  stalledBody(t, (options) => adapterFor(t, options)));

t.test('a missing bucket is StorageUnavailable, not ObjectNotFound', (t) =>
  missingBucket(t, (options) => adapterFor(t, options)));

t.test('an empty bucket lists nothing', (t) =>
  emptyBucket(t, (options) => adapterFor(t, options)));

const OBJECT = randomBytes(64 * 1024);

/** A scripted backend and an adapter on it; `plan` as in startScriptedServer. */
async function scripted(t: Test, plan?: (n: number, reused: boolean) => ScriptedAction, body = OBJECT, options: Partial<S3AdapterOptions> = {}) {
  const backend = await startScriptedServer(body, plan);
  t.teardown(() => backend.stop());
  return { backend, adapter: adapterFor(t, { endpoint: backend.endpoint, timeoutMs: 1000, ...options }) };
}

t.test('GETs bypass the SDK: same host and path as GetObject, signed, with the session token', async (t) => {
  const credentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG', sessionToken: 'tok/en+=' };
  for (const [label, forcePathStyle, host] of [['IP endpoint', false, '127.0.0.1'], ['forced path style', true, 'localhost']] as const) {
    const backend = await startScriptedServer(OBJECT);
    t.teardown(() => backend.stop());
    const endpoint = backend.endpoint.replace('127.0.0.1', host);
    const adapter = adapterFor(t, { endpoint, forcePathStyle, credentials, region: 'eu-west-1' });
    const opened = await adapter.open(KEY, { hint: { start: 0, end: 9 } });
    opened.close();
    const sdk = new S3Client({ region: 'eu-west-1', endpoint, credentials, forcePathStyle });
    t.teardown(() => sdk.destroy());
    const out = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY, Range: 'bytes=0-9' }));
    await out.Body?.transformToByteArray();
    const [mine, theirs] = backend.requests;
    t.equal(mine?.url, theirs?.url.replace('?x-id=GetObject', ''), `${label}: the SDK's path (${theirs?.url})`);
    t.equal(mine?.headers.host, theirs?.headers.host, `${label}: the SDK's Host (${theirs?.headers.host})`);
    t.equal(mine?.headers.range, 'bytes=0-9', `${label}: Range passed through`);
    t.equal(mine?.headers['x-amz-security-token'], credentials.sessionToken, `${label}: session token`);

    // Verify the signature as S3 would: re-sign what arrived, with the headers it names.
    const auth = mine?.headers.authorization ?? '';
    const names = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
    t.ok(names.includes('host') && names.includes('range') && names.includes('x-amz-security-token'), `${label}: signs ${names.join(';')}`);
    const headers = Object.fromEntries(names.map((name) => [name, String(mine?.headers[name])]));
    const date = headers['x-amz-date'] ?? '';
    const signingDate = new Date(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`);
    const verifier = new SignatureV4({ service: 's3', region: 'eu-west-1', credentials, sha256: Sha256, uriEscapePath: false });
    const url = new URL(mine?.url ?? '/', 'http://x');
    const expected = await verifier.sign(new HttpRequest({ method: 'GET', hostname: 'x', path: url.pathname, headers }), { signingDate });
    t.equal(auth, expected.headers.authorization, `${label}: the signature verifies`);
  }

  // Virtual-hosted style for a host name: both resolve <bucket>.localhost (not in DNS here).
  const hole = await startBlackhole();
  t.teardown(() => hole.stop());
  const endpoint = hole.endpoint.replace('127.0.0.1', 'localhost');
  const virtual = adapterFor(t, { endpoint, forcePathStyle: false, timeoutMs: 1000 });
  const err = (await virtual.open('k.wav', { hint: 'whole' }).catch((e: unknown) => e)) as { code?: string; cause?: Error };
  const sdk = new S3Client({ region: 'us-east-1', endpoint, credentials: S3RVER_CREDENTIALS, maxAttempts: 1 });
  t.teardown(() => sdk.destroy());
  const sdkErr = (await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k.wav' })).catch((e: unknown) => e)) as Error;
  t.equal(err.code, 'STORAGE_UNAVAILABLE');
  t.match(err.cause?.message, `${BUCKET}.localhost`, 'virtual-hosted: the bucket is in the host name');
  t.match(sdkErr.message, `${BUCKET}.localhost`, 'as the SDK does');
});

t.test('the bucket\'s host and path follow the SDK\'s endpoint rules', async (t) => {
  const sdk = new S3Client({ region: 'us-east-1' });
  t.teardown(() => sdk.destroy());
  const endpoints = ['http://localhost:9000', 'https://s3.example.com', 'http://127.0.0.1:9000', 'https://[::1]:9000', 'http://minio:9000/base/', undefined];
  const buckets = ['recordings', 'rec.ordings', 'Recordings', 'ab', 'a-b-', 'my_bucket', '1.2.3.4', 'a..b', 'ab.-cd', 'abc.de'];
  let compared = 0;
  for (const Endpoint of endpoints) {
    for (const Bucket of buckets) {
      for (const ForcePathStyle of [false, true]) {
        // The SDK itself fails on a dotted bucket with an IP endpoint (it builds rec.ordings.127.0.0.1).
        if (Bucket.includes('.') && Endpoint?.includes('127.0.0.1')) continue;
        const sdkUrl = sdk.config.endpointProvider({ Bucket, Endpoint, ForcePathStyle, Region: 'us-east-1', UseFIPS: false, UseDualStack: false }).url;
        const target = targetOf(Endpoint, { bucket: Bucket, region: 'us-east-1', forcePathStyle: ForcePathStyle });
        // The SDK's URL holds the bucket in the host or at the end of the path.
        t.equal(`${target.protocol}//${target.host}${target.pathPrefix}`, `${sdkUrl.protocol}//${sdkUrl.host}${sdkUrl.pathname.replace(/\/+$/, '')}`, `${Endpoint ?? 'AWS'}, ${Bucket}, forcePathStyle ${ForcePathStyle}`);
        compared++;
      }
    }
  }
  t.ok(compared > 100, `${compared} cases`);
});

t.test('a keep-alive socket the server closed is retried on a new one', async (t) => {
  let dropped = 0;
  const { backend, adapter } = await scripted(t, (_n, reused) => (reused && dropped++ < 2 ? 'drop' : 'serve'));
  t.ok((await collect((await adapter.open('a.wav', { hint: 'whole' })).read())).equals(OBJECT), 'first GET');
  t.ok((await collect((await adapter.open('a.wav', { hint: 'whole' })).read())).equals(OBJECT), 'open on a socket the server drops');
  t.ok((await collect((await adapter.read('a.wav')).body)).equals(OBJECT), 'read on a socket the server drops');
  t.same(backend.requests.map((r) => r.reused), [false, true, false, true, false], 'each dropped request was sent again on a new socket');
});

t.test('5xx answers get a second attempt; error codes come from the XML body', async (t) => {
  const once = await scripted(t, (n) => (n === 0 ? { status: 503, code: 'SlowDown' } : 'serve'));
  t.ok((await collect((await once.adapter.open('a.wav', { hint: 'whole' })).read())).equals(OBJECT), 'served after a 503');
  t.equal(once.backend.requests.length, 2);

  const cases: [{ status: number; code?: string; contentRange?: string }, { code: string; message?: RegExp }][] = [
    [{ status: 500, code: 'InternalError' }, { code: 'STORAGE_UNAVAILABLE', message: /InternalError/ }],
    [{ status: 403, code: 'AccessDenied' }, { code: 'STORAGE_UNAVAILABLE', message: /AccessDenied: HTTP 403: scripted 403/ }],
    [{ status: 400, code: 'KeyTooLongError' }, { code: 'INVALID_STORAGE_KEY' }],
    [{ status: 404, code: 'NoSuchKey' }, { code: 'OBJECT_NOT_FOUND' }],
    [{ status: 404 }, { code: 'OBJECT_NOT_FOUND' }],
    [{ status: 404, code: 'NoSuchBucket' }, { code: 'STORAGE_UNAVAILABLE', message: /recordings does not exist/ }],
    [{ status: 206, contentRange: 'bytes 0-9/10' }, { code: 'STORAGE_UNAVAILABLE', message: /206 with Content-Range bytes 0-9\/10/ }],
    [{ status: 206 }, { code: 'STORAGE_UNAVAILABLE', message: /206 with no Content-Range/ }],
    [{ status: 200 }, { code: 'STORAGE_UNAVAILABLE', message: /lacks Content-Length, ETag or Last-Modified/ }],
  ];
  for (const [action, expected] of cases) {
    const { backend, adapter } = await scripted(t, () => action);
    await t.rejects(adapter.open('a.wav', { hint: { start: 0 } }), expected, `open: ${JSON.stringify(action)}`);
    await t.rejects(adapter.read('a.wav'), expected, `read: ${JSON.stringify(action)}`);
    t.equal(backend.requests.length, action.status >= 500 ? 4 : 2, 'attempts: 2 for a 5xx, else 1');
  }
});

t.test('a backend that ignores Range: the handle holds the whole object, read() refuses other bytes', (t) =>
  backendIgnoresRange(t, OBJECT, (plan, body) => scripted(t, plan, body ?? OBJECT)));

t.test('open: without a hint it is HeadObject; aborts; a second signal given to read', async (t) => {
  const adapter = adapterFor(t);
  await adapter.write('h/a.wav', OBJECT, { contentType: 'audio/wav' });
  const before = server.requests().length;
  const head = await adapter.open('h/a.wav');
  t.same(server.requests().slice(before).map((r) => r.method), ['HEAD'], 'one HEAD, no body started');
  t.equal(head.meta.size, OBJECT.length);
  t.equal(head.serves?.(), false, 'holds no bytes');
  t.throws(() => head.read(), /does not hold those bytes/);
  head.close();

  const pre = new AbortController();
  pre.abort();
  await t.rejects(adapter.open('h/a.wav', { hint: 'whole', signal: pre.signal }), { name: 'AbortError' }, 'an aborted signal rejects at once');

  const hole = await startBlackhole();
  t.teardown(() => hole.stop());
  const stuck = adapterFor(t, { endpoint: hole.endpoint, timeoutMs: 5000 });
  const ac = new AbortController();
  const reason = new Error('client went away');
  setTimeout(() => ac.abort(reason), 50);
  const started = Date.now();
  await t.rejects(stuck.open('x.wav', { hint: 'whole', signal: ac.signal }), reason, 'an abort before the headers rejects with its reason');
  t.comment(`aborted after ${Date.now() - started} ms (timeout 5000 ms)`);

  await adapter.write('h/big.wav', randomBytes(4 * 1024 * 1024), { contentType: 'audio/wav' });
  for (const already of [false, true]) {
    const opened = await adapter.open('h/big.wav', { hint: 'whole' });
    const other = new AbortController();
    if (already) other.abort(new Error('gone'));
    const body = opened.read({ signal: other.signal });
    body.once('data', () => other.abort(new Error('gone')));
    await t.rejects(collect(body), /gone/, `read's own signal aborts the body (${already ? 'already aborted' : 'later'})`);
  }
});

t.test('no credentials, or an https endpoint that refuses: StorageUnavailable', async (t) => {
  // The SDK's default chain with nothing to find: no env keys, no files, no instance metadata.
  const saved = { ...process.env };
  t.teardown(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  });
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) {
    delete process.env[name];
  }
  Object.assign(process.env, { AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent/recproxy/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/recproxy/credentials' });
  const anonymous = new S3Adapter({ bucket: BUCKET, region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true, timeoutMs: 2000 });
  t.teardown(() => anonymous.close());
  await t.rejects(anonymous.open('a.wav', { hint: 'whole' }), { code: 'STORAGE_UNAVAILABLE', message: /cannot sign the S3 request/ });
  await t.rejects(anonymous.signedUrl('a.wav', SIGN), { code: 'STORAGE_UNAVAILABLE', message: /cannot resolve S3 credentials/ });

  const dead = await startBlackhole();
  await dead.stop();
  const tls = adapterFor(t, { endpoint: dead.endpoint.replace('http:', 'https:'), timeoutMs: 1000 });
  await t.rejects(tls.open('a.wav', { hint: 'whole' }), { code: 'STORAGE_UNAVAILABLE', message: /ECONNREFUSED/ }, 'https endpoint');
});

t.test('a connection reset mid-body: the body fails with StorageUnavailable, the request\'s late error is not thrown', async (t) => {
  // The reset reaches the GET's request as an 'error' after its response (node's http client):
  // without a listener left on the request that error would be thrown, crashing the daemon.
  const backend: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-length': 1_000_000, etag: '"e"', 'last-modified': new Date().toUTCString(), 'content-type': 'audio/wav' });
    res.write(Buffer.alloc(4096), () => setTimeout(() => req.socket.resetAndDestroy(), 20));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => backend.close(resolve)));
  const { port } = backend.address() as { port: number };
  const adapter = adapterFor(t, { endpoint: `http://127.0.0.1:${port}` });
  const { meta, body } = await adapter.read('reset.wav');
  t.equal(meta.size, 1_000_000);
  body.resume();
  const { outcome, error } = await settle(body, 10_000);
  t.equal(outcome, 'error');
  t.match(error, { code: 'STORAGE_UNAVAILABLE', message: /read failed/ });
});
