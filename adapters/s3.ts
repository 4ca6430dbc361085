/**
 * StorageAdapter for AWS S3 and S3-compatible servers, on @aws-sdk/client-s3.
 *
 * - Timeouts: `timeoutMs` is the budget of a lookup (stat, read, open) until the response
 *   headers, both attempts included: a second attempt (after a quick network error or a 5xx)
 *   gets what the first left, so a dead backend is StorageUnavailable after about timeoutMs.
 *   Each PUT / UploadPart (≤ 5 MiB) of a write must finish within timeoutMs, 2 attempts each
 *   (SDK `requestTimeout` only warns unless `throwOnRequestTimeout`). Bodies: see guardBody
 *   (stall = error, slow consumer = fine).
 * - signedUrl signs locally (adapters/sigv4.ts): no request, and byte-identical to
 *   `getSignedUrl` for the same GetObject input and date.
 * - Bytes (read, open) bypass the SDK: one GET signed by the same signer (headers,
 *   session token included) and sent over plain http by the project's own HTTP/1.1 reader on
 *   pooled sockets read at the body consumer's pace (adapters/raw-get.ts), over https with node's
 *   client on a keep-alive Agent,
 *   to the host and path the SDK would use. The SDK's GetObject middleware stack was a quarter of
 *   the daemon's CPU per download. Same rules as the SDK: connect + response headers within
 *   timeoutMs, 2 attempts (network errors before the headers, 5xx), error codes from the
 *   XML body (`<Code>NoSuchBucket</Code>` vs `NoSuchKey`). `open` with a hint is that one GET
 *   (Range passed through): metadata from its headers, its body kept for `read`; a 416 falls
 *   back to HeadObject for the real size. The SDK stays for HEAD, PUT/multipart, DELETE.
 * - A missing bucket is StorageUnavailable (misconfiguration), never ObjectNotFound. Without
 *   s3:ListBucket S3 answers 403 for a missing key (StorageUnavailable): grant it.
 * - Checksums only `WHEN_REQUIRED`, so older S3-compatible servers keep working.
 */
import https from 'node:https';
import { Readable } from 'node:stream';
import { isIP } from 'node:net';
import {
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { extendedEncodeURIComponent } from '@smithy/core/protocols';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { bodySpan, rangeHeader, sameRange } from '../src/core/byte-range.js';
import { dispositionHeader } from '../src/core/disposition.js';
import { InvalidKey, ObjectNotFound, StorageUnavailable, hasCode } from '../src/core/errors.js';
import { normalizePrefix } from '../src/core/keys.js';
import type {
  ListedObject, ObjectMeta, OpenOptions, OpenedObject, ReadOptions, ReadResult, SignOptions, SignedUrl, StorageAdapter, WriteOptions,
} from '../src/core/storage.js';
import { guardBody } from './body-guard.js';
import { ReadBudget } from './file-body.js';
import { S3_READ_BUDGET } from './paced-agent.js';
import { RawGetPool } from './raw-get.js';
import { SigV4 } from './sigv4.js';
import { heldObject, type HeldBody } from './held-body.js';

export interface S3AdapterOptions {
  bucket: string;
  region: string;
  /** Internal endpoint the daemon talks to; omitted = AWS. */
  endpoint?: string;
  /** Endpoint browsers reach, used only for signing; defaults to `endpoint`, then AWS. */
  publicEndpoint?: string;
  forcePathStyle?: boolean;
  /** Omitted = the SDK's default credential chain (env, profile, SSO, IMDS, ...). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  timeoutMs: number;
  /** Keys per ListObjectsV2 page (1-1000, S3's maximum and the default); the tests page with a few. */
  listPageSize?: number;
  /** The read budget of the bodies' sockets over plain http (adapters/paced-agent.ts); default S3_READ_BUDGET's. */
  readBudget?: ReadBudget;
}

interface Identity { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }
/** Where requests for the bucket go: `hostname` as in URLs (IPv6 in brackets), `host` with the port. */
interface Target { protocol: string; hostname: string; port?: number; host: string; pathPrefix: string }
/** A signed GET as `send` sends it. */
interface SignedRequest { protocol: string; hostname: string; port?: number; path: string; headers: Record<string, string> }
/** A GET's answer (any status) with its guarded body. */
interface GetResponse { statusCode: number; headers: Record<string, string | undefined>; body: Readable }
/** A 2xx GET: metadata, which bytes of the object its body holds (null: none), the body. */
interface Fetched extends HeldBody { meta: ObjectMeta }

const PART_SIZE = 5 * 1024 * 1024; // S3 minimum; bounds write memory to queueSize × PART_SIZE
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const CREDENTIAL_REFRESH_MARGIN_MS = 5 * 60 * 1000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ATTEMPTS = 2;

export class S3Adapter implements StorageAdapter {
  readonly name = 's3';
  readonly recordingsPrefix = 'recordings/';
  readonly presignedUrls = true;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly timeoutMs: number;
  private readonly listPageSize: number;
  private readonly signer: SigV4;
  private readonly target: Target;
  private readonly internal: Target;
  /** The GETs over https: node's client on a keep-alive agent. */
  private readonly agent?: https.Agent;
  /** The GETs over plain http: the project's own reader on paced sockets (adapters/raw-get.ts). */
  private readonly pool?: RawGetPool;
  private identityValue?: Identity;
  private identityPending?: Promise<Identity>;

  constructor(options: S3AdapterOptions) {
    this.bucket = options.bucket;
    this.timeoutMs = options.timeoutMs;
    this.listPageSize = Math.min(Math.max(1, Math.floor(options.listPageSize ?? 1000)), 1000);
    const { region, endpoint, credentials, timeoutMs } = options;
    this.client = new S3Client({
      region, endpoint, credentials, forcePathStyle: options.forcePathStyle ?? false, maxAttempts: 2,
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({ connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true }),
    });
    this.signer = new SigV4(region, 's3');
    this.target = targetOf(options.publicEndpoint ?? options.endpoint, options);
    this.internal = targetOf(options.endpoint, options);
    // The bytes' GETs: keep-alive, and no cap on sockets: a listener holds its GET open for as
    // long as it plays (16 KB/s: an hour for a 57 MB recording), so a cap of 50 (the SDK's) made
    // the 51st listener wait for the first to finish. At most 256 idle sockets are kept. Over plain
    // http each socket's reads follow its body's consumer, without node's http client (adapters/raw-get.ts).
    if (this.internal.protocol === 'https:') this.agent = new https.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
    else this.pool = new RawGetPool(options.readBudget ?? new ReadBudget(S3_READ_BUDGET), { maxFree: 256 });
  }

  /**
   * Metadata via HeadObject.
   * @throws ObjectNotFound when the key is missing; StorageUnavailable on backend failure or
   *         when the bucket itself is missing (checked with HeadBucket after a 404).
   */
  async stat(key: string): Promise<ObjectMeta> {
    const budget = AbortSignal.timeout(this.timeoutMs);
    try {
      return toMeta(await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: budget }));
    } catch (err) {
      const mapped = budget.aborted ? this.timedOut(err) : this.fail(err, key);
      if (hasCode(mapped, 'OBJECT_NOT_FOUND')) await this.assertBucket(budget);
      throw mapped;
    }
  }

  /**
   * One GET, with `range` passed through as `Range: bytes=a-b` (meta.size is the whole
   * object's size, from Content-Range).
   * @throws ObjectNotFound, StorageUnavailable (also when the backend answers other bytes than
   *         `range`); the caller's abort is rethrown as is. The body errors with
   *         StorageUnavailable if the backend fails or stalls mid-way.
   */
  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    const { range, signal } = options;
    const res = await this.get(key, rangeHeader(range), signal);
    const { meta, span, body } = await this.accept(res, key, signal);
    if (range && !sameRange(span, range)) {
      body.destroy();
      throw new StorageUnavailable(`S3 answered ${res.headers['content-range'] ?? `${res.statusCode} without Content-Range`} for bytes ${range.start}-${range.end}`);
    }
    return { meta, body };
  }

  /**
   * With `options.hint`: one GET of the hinted bytes; the metadata comes from its headers and
   * `read` serves exactly the bytes it fetched (`serves`). A hint S3 cannot satisfy (416)
   * falls back to HeadObject, so the caller still learns the real size (an empty object is
   * then served without a request). Without a hint: HeadObject, and `serves` is always false.
   * @throws ObjectNotFound, StorageUnavailable (also for a missing bucket); the caller's abort
   *         is rethrown as is.
   */
  async open(key: string, options: OpenOptions = {}): Promise<OpenedObject> {
    const { hint, signal } = options;
    if (hint === undefined) return heldObject(await this.stat(key));
    const res = await this.get(key, rangeHeader(hint), signal);
    if (res.statusCode === 416) {
      res.body.resume();
      const meta = await this.stat(key);
      return heldObject(meta, meta.size === 0 ? { span: null, body: Readable.from([]) } : undefined);
    }
    const fetched = await this.accept(res, key, signal);
    return heldObject(fetched.meta, fetched, signal);
  }

  /**
   * Streamed upload with @aws-sdk/lib-storage: bodies up to 5 MiB are one PutObject, larger
   * ones a multipart upload (5 MiB parts, 2 in flight) that is aborted on failure, so nothing
   * becomes visible and no parts are kept. `options.size` is not needed.
   * @throws InvalidKey (key rejected by the backend), StorageUnavailable; if `body` itself
   *         errors, that error is rethrown as is (nothing is stored).
   */
  async write(key: string, body: Readable | Buffer, options: WriteOptions): Promise<ObjectMeta> {
    let bodyError: unknown;
    if (!Buffer.isBuffer(body)) body.once('error', (err) => (bodyError = err));
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType },
      partSize: PART_SIZE,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      if (bodyError !== undefined) throw bodyError;
      throw this.fail(err, key, undefined, false);
    }
    return this.stat(key);
  }

  /**
   * DeleteObject; a missing key succeeds.
   * @throws StorageUnavailable (also for a missing bucket)
   */
  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      const mapped = this.fail(err, key);
      if (!hasCode(mapped, 'OBJECT_NOT_FOUND')) throw mapped;
    }
  }

  /**
   * ListObjectsV2, one page (`listPageSize` keys) per request, the next asked for only when the
   * caller has taken the last key of this one; each page within `timeoutMs`, 2 attempts. The SDK
   * reads each page whole, so a caller that stops early leaves no response open.
   * @throws InvalidKey (prefix), StorageUnavailable (also for a missing bucket)
   */
  async *list(prefix: string): AsyncGenerator<ListedObject> {
    const wanted = normalizePrefix(prefix);
    let token: string | undefined;
    do {
      const budget = AbortSignal.timeout(this.timeoutMs);
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({
          Bucket: this.bucket, Prefix: wanted, MaxKeys: this.listPageSize, ContinuationToken: token,
        }), { abortSignal: budget });
      } catch (err) {
        throw budget.aborted ? this.timedOut(err) : this.fail(err, wanted, undefined, false);
      }
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined || item.Size === undefined || item.LastModified === undefined) {
          throw new StorageUnavailable('S3 listed an object without Key, Size or LastModified');
        }
        yield { key: item.Key, size: item.Size, lastModified: item.LastModified };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token) throw new StorageUnavailable('S3 answered a truncated listing without NextContinuationToken');
    } while (token);
  }

  /**
   * Presigned GET for the public endpoint, with response-content-type and
   * response-content-disposition. No network request. `expiresIn` is clamped to S3's
   * 7-day maximum and to the remaining lifetime of temporary credentials, so `expiresAt`
   * is when the URL really stops working.
   * @throws StorageUnavailable when credentials cannot be resolved or have expired
   */
  async signedUrl(key: string, options: SignOptions): Promise<SignedUrl> {
    const now = Math.floor(Date.now() / 1000) * 1000; // X-Amz-Date has second precision
    let identity: Identity;
    try {
      identity = await this.identity();
    } catch (err) {
      throw new StorageUnavailable('cannot resolve S3 credentials', { cause: err });
    }
    let expiresIn = Math.min(Math.max(1, Math.floor(options.expiresIn)), MAX_PRESIGN_SECONDS);
    if (identity.expiration) {
      expiresIn = Math.min(expiresIn, Math.floor((identity.expiration.getTime() - now) / 1000));
      if (expiresIn < 1) throw new StorageUnavailable('S3 credentials have expired');
    }
    const { protocol, host, pathPrefix } = this.target;
    const path = objectPath(pathPrefix, key);
    const query = this.signer.presignQuery(identity, host, path, {
      'response-content-disposition': dispositionHeader(options.disposition, options.filename),
      'response-content-type': options.contentType,
      'x-id': 'GetObject', // what the SDK adds; keeps URLs identical to getSignedUrl's
    }, expiresIn, now);
    return { url: `${protocol}//${host}${path}?${query}`, expiresAt: new Date(now + expiresIn * 1000) };
  }

  /** Destroys the client, the GET agent and their sockets. */
  async close(): Promise<void> {
    this.client.destroy();
    this.agent?.destroy();
    this.pool?.destroy();
  }

  /**
   * A signed GET of `key` on the internal endpoint; resolves with the response (any status)
   * once its headers arrive. Network errors, a timeout and 5xx answers get a second attempt.
   * @throws StorageUnavailable; the caller's abort (its reason) as is
   */
  private async get(key: string, range: string | undefined, signal?: AbortSignal): Promise<GetResponse> {
    const { protocol, hostname, port, host, pathPrefix } = this.internal;
    const path = objectPath(pathPrefix, key);
    const headers: Record<string, string> = { host, 'x-amz-content-sha256': EMPTY_SHA256 };
    if (range) headers.range = range;
    let signed: SignedRequest;
    try {
      signed = { protocol, hostname, port, path, headers: this.signer.signGet(await this.identity(), path, headers, Date.now()) };
    } catch (err) {
      throw new StorageUnavailable('cannot sign the S3 request', { cause: err });
    }
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const last = () => attempt === ATTEMPTS || Date.now() >= deadline;
      try {
        const res = await this.send(signed, signal, deadline - Date.now());
        if (res.statusCode < 500 || last()) return res;
        res.body.resume();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (last()) throw this.fail(err, key);
      }
    }
  }

  /**
   * One attempt: the response once its headers arrive, within `ms` (connect included); its body
   * guarded (adapters/body-guard.ts): backend failures are StorageUnavailable, a stall of
   * timeoutMs fails it, the caller's abort ends it.
   */
  private send(signed: SignedRequest, signal: AbortSignal | undefined, ms: number): Promise<GetResponse> {
    const hostname = signed.hostname.replace(/^\[|\]$/g, '');
    if (this.pool) {
      return this.pool.get(
        { hostname, port: signed.port ?? 80, path: signed.path, headers: signed.headers },
        { timeoutMs: this.timeoutMs, headMs: ms, backend: 'S3', signal },
      );
    }
    return new Promise((resolve, reject) => {
      const req = https.request({
        method: 'GET',
        hostname,
        port: signed.port,
        path: signed.path,
        headers: signed.headers,
        agent: this.agent,
      });
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`no response from S3 within ${this.timeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
        req.destroy(err);
      }, ms);
      const onAbort = () => req.destroy(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const settled = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.once('response', (res) => {
        settled();
        resolve({
          statusCode: res.statusCode!,
          headers: res.headers as Record<string, string | undefined>,
          body: guardBody(res, 'S3', this.timeoutMs, signal),
        });
      });
      // Not `once`: a socket error after the response is also emitted here (the body guard handles it).
      req.on('error', (err) => {
        settled();
        reject(err);
      });
      req.end();
    });
  }

  /**
   * A 2xx GET's metadata and guarded body; any other status is the error its XML body names.
   * @throws ObjectNotFound, InvalidKey, StorageUnavailable
   */
  private async accept(res: GetResponse, key: string, signal?: AbortSignal): Promise<Fetched> {
    const status = res.statusCode;
    if (status !== 200 && status !== 206) throw this.fail(await errorOf(res, this.timeoutMs), key, signal);
    let fetched;
    try {
      fetched = metaOf(res);
    } catch (err) {
      res.body.destroy();
      throw err;
    }
    return { ...fetched, body: res.body };
  }

  /** Credentials from the client's provider, cached until 5 minutes before they expire. */
  private identity(): Promise<Identity> {
    const cached = this.identityValue;
    if (cached && (!cached.expiration || cached.expiration.getTime() - Date.now() > CREDENTIAL_REFRESH_MARGIN_MS)) {
      return Promise.resolve(cached);
    }
    this.identityPending ??= this.client.config
      .credentials()
      .then((value) => (this.identityValue = value))
      .finally(() => (this.identityPending = undefined));
    return this.identityPending;
  }

  /**
   * HeadBucket within `timeoutMs` (needs s3:ListBucket on the bucket, as `list` does).
   * @throws StorageUnavailable: no answer, the bucket is missing, or access is refused
   */
  async probe(): Promise<void> {
    const budget = AbortSignal.timeout(this.timeoutMs);
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: budget });
    } catch (err) {
      if (budget.aborted) throw this.timedOut(err);
      const status = statusOf(err);
      if (status === 404) throw new StorageUnavailable(`bucket ${this.bucket} does not exist`, { cause: err });
      if (status === 403) throw new StorageUnavailable(`access to bucket ${this.bucket} is refused (HeadBucket needs s3:ListBucket)`, { cause: err });
      throw this.fail(err, '', undefined, false);
    }
  }

  /** After a HEAD 404 (no body, so no error code): is it the bucket that is missing? */
  private async assertBucket(budget: AbortSignal): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: budget });
    } catch (err) {
      // 403 (no s3:ListBucket) tells nothing about the bucket: keep ObjectNotFound.
      if (statusOf(err) === 403) return;
      if (statusOf(err) === 404) throw new StorageUnavailable(`bucket ${this.bucket} does not exist`, { cause: err });
      throw this.fail(err, '');
    }
  }

  /** What a lookup whose budget ran out fails with (the SDK's abort error as cause). */
  private timedOut(err: unknown): Error {
    return new StorageUnavailable(`no response from S3 within ${this.timeoutMs} ms`, { cause: err });
  }

  /** Map an SDK (or GET) error to the project's own; the caller's abort is returned as is. */
  private fail(err: unknown, key: string, signal?: AbortSignal, notFound = true): unknown {
    if (signal?.aborted) return err;
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'NoSuchBucket') return new StorageUnavailable(`bucket ${this.bucket} does not exist`, { cause: err });
    const missing = name === 'NoSuchKey' || name === 'NotFound' || statusOf(err) === 404;
    if (missing && notFound) return new ObjectNotFound(key, { cause: err });
    if (name === 'KeyTooLongError') return new InvalidKey('too long for S3', { cause: err });
    return new StorageUnavailable(err instanceof Error ? `${err.name}: ${err.message}` : String(err), { cause: err });
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

type MetaHeaders = Pick<HeadObjectCommandOutput, 'ContentLength' | 'ETag' | 'LastModified' | 'ContentType'>;

function toMeta(out: MetaHeaders): ObjectMeta {
  if (out.ContentLength === undefined || !out.ETag || !out.LastModified) {
    throw new StorageUnavailable('S3 response lacks Content-Length, ETag or Last-Modified');
  }
  const etag = out.ETag.startsWith('"') ? out.ETag : `"${out.ETag}"`;
  return { size: out.ContentLength, etag, lastModified: out.LastModified, contentType: out.ContentType };
}

/** Metadata from a 200/206 GET's headers, and the bytes of the object its body holds. */
function metaOf(res: GetResponse): Omit<Fetched, 'body'> {
  const h = res.headers;
  const meta = toMeta({
    ContentLength: h['content-length'] === undefined ? undefined : Number(h['content-length']),
    ETag: h.etag,
    LastModified: h['last-modified'] ? new Date(h['last-modified']) : undefined,
    ContentType: h['content-type'],
  });
  const span = bodySpan(res.statusCode, meta.size, h['content-range']);
  if (span === undefined) throw new StorageUnavailable(`S3 answered 206 with ${h['content-range'] ? `Content-Range ${h['content-range']}` : 'no Content-Range'}`);
  if (span !== null) meta.size = span.size; // the whole object's, from Content-Range
  return { meta, span };
}

/** The error a non-2xx answer stands for, named after its XML `<Code>` (read within `ms`). */
function errorOf(res: GetResponse, ms: number): Promise<Error> {
  const { body } = res;
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => body.destroy(), ms);
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      if (text.length < 16_384) text += chunk;
    });
    body.on('error', () => undefined);
    body.once('close', () => {
      clearTimeout(timer);
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
      const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
      const err = new Error(`HTTP ${res.statusCode}${message ? `: ${message}` : ''}`);
      resolve(Object.assign(err, { name: code ?? 'UnknownError', $metadata: { httpStatusCode: res.statusCode } }));
    });
  });
}

/** The path of `key` under the bucket's `pathPrefix`, each segment escaped as the SDK escapes it (and signed as sent). */
function objectPath(pathPrefix: string, key: string): string {
  return `${pathPrefix}/${key.split('/').map(extendedEncodeURIComponent).join('/')}`;
}

const DNS_LABEL = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Host and path prefix of the bucket at `endpoint` (omitted: AWS). Like the SDK's endpoint
 * rules: virtual-hosted style unless forced, the host is an IP, or the bucket is not a DNS
 * label of 3-63 characters; over plain http several such labels (dots) are allowed too,
 * over https not (they would break TLS wildcard certificates). Exported for the tests.
 */
export function targetOf(endpoint: string | undefined, o: Pick<S3AdapterOptions, 'bucket' | 'region' | 'forcePathStyle'>): Target {
  const url = new URL(endpoint ?? `https://s3.${o.region}.amazonaws.com${o.region.startsWith('cn-') ? '.cn' : ''}`);
  const bareHost = url.hostname.replace(/^\[|\]$/g, '');
  const basePath = url.pathname.replace(/\/+$/, '');
  const labels = url.protocol === 'http:' ? o.bucket.split('.') : [o.bucket];
  const virtual = !o.forcePathStyle && isIP(bareHost) === 0 && labels.every((label) => DNS_LABEL.test(label));
  const hostname = virtual ? `${o.bucket}.${url.hostname}` : url.hostname;
  const port = url.port ? Number(url.port) : undefined;
  const host = port === undefined ? hostname : `${hostname}:${port}`;
  return { protocol: url.protocol, hostname, port, host, pathPrefix: virtual ? basePath : `${basePath}/${o.bucket}` };
}
