/**
 * StorageAdapter for MinIO (and other S3-protocol servers) on the `minio` client (v8).
 *
 * - Two clients, both with `region` set so presigning never asks for the bucket's region
 *   (minio-js #791): the internal one does I/O, the public one only signs (its transport
 *   refuses to send anything).
 * - Timeouts: minio-js has none; setRequestOptions drops `timeout` and an Agent `timeout` only
 *   emits an unhandled event. Our `transport` gives every request a socket timeout (connect
 *   included) that destroys it. For object bodies it is lifted once headers arrive and
 *   guardBody takes over. minio's retry (5xx only, console warnings) is disabled.
 * - Abort: the caller's signal reaches `http.request` (AsyncLocalStorage) and the body guard.
 * - Bytes (read, open) are one GET through the client's own request path (signing, transport,
 *   error parsing), with the Range header of src/core/byte-range.ts: getPartialObject cannot
 *   ask for a suffix. `open` with a hint is that one GET: metadata from its headers, its body
 *   kept for `read`; a 416 falls back to statObject for the real size.
 * - Writes avoid `putObject` for streams. What minio-js 8.0.7 does there: an unknown size
 *   means parts of ~528 MiB buffered in memory; it first lists the bucket's incomplete
 *   uploads and RESUMES one left for the same key (even another writer's); a failed
 *   multipart upload is never aborted, so its parts stay on the server (invisible, counted
 *   as storage) until a lifecycle rule removes them; a body that errors crashes the process
 *   if nobody listens for its 'error', else leaves putObject pending forever (tried). Here:
 *   5 MiB parts, one uploading and one read ahead, abort on any failure. A body ≤ 5 MiB is
 *   one putObject of a Buffer.
 * - A missing bucket is StorageUnavailable (misconfiguration), never ObjectNotFound.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import http, { IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { Client, InvalidObjectNameError, type ClientOptions } from 'minio';
import { bodySpan, rangeHeader, sameRange, type ContentRange } from '../src/core/byte-range.js';
import { dispositionHeader } from '../src/core/disposition.js';
import { InvalidKey, ObjectNotFound, StorageUnavailable, hasCode } from '../src/core/errors.js';
import { normalizePrefix } from '../src/core/keys.js';
import type {
  ListedObject, ObjectMeta, OpenOptions, OpenedObject, ReadOptions, ReadResult, SignOptions, SignedUrl, StorageAdapter, WriteOptions,
} from '../src/core/storage.js';
import { guardBody } from './body-guard.js';
import { ReadBudget } from './file-body.js';
import { PacedAgent, S3_READ_BUDGET, pacerOf } from './paced-agent.js';
import { heldObject } from './held-body.js';

export interface MinioAdapterOptions {
  /** Internal endpoint URL, e.g. `http://minio:9000`. */
  endpoint: string;
  /** Endpoint URL browsers reach (signing only); defaults to `endpoint`. */
  publicEndpoint?: string;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
  timeoutMs: number;
  /** Keys per ListObjectsV2 page (1-1000, S3's maximum and the default); the tests page with a few. */
  listPageSize?: number;
}

type Transport = NonNullable<ClientOptions['transport']>;
interface CallContext { signal?: AbortSignal; streaming?: boolean }

const PART_SIZE = 5 * 1024 * 1024;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const calls = new AsyncLocalStorage<CallContext>();
/** What a GET may answer: read asks for bytes that exist; open's hint may lie beyond the end (416). */
const READ_CODES = [200, 206];
const OPEN_CODES = [200, 206, 416];

export class MinioAdapter implements StorageAdapter {
  readonly name = 'minio';
  readonly recordingsPrefix = 'recordings/';
  readonly presignedUrls = true;
  private readonly client: Client;
  private readonly signer: Client;
  private readonly agent: http.Agent;
  private readonly bucket: string;
  private readonly timeoutMs: number;
  private readonly listPageSize: number;

  constructor(options: MinioAdapterOptions) {
    this.bucket = options.bucket;
    this.timeoutMs = options.timeoutMs;
    this.listPageSize = Math.min(Math.max(1, Math.floor(options.listPageSize ?? 1000)), 1000);
    const internal = endpointOf(options.endpoint);
    // Over plain http each socket's reads follow its body's consumer (adapters/paced-agent.ts, as in s3.ts).
    const agentOptions = { keepAlive: true, maxSockets: 50 };
    this.agent = internal.useSSL ? new https.Agent(agentOptions) : new PacedAgent(agentOptions, new ReadBudget(S3_READ_BUDGET));
    const keys = { accessKey: options.accessKey, secretKey: options.secretKey, region: options.region };
    this.client = new Client({
      ...internal, ...keys,
      transport: timedTransport(internal.useSSL ? https : http, options.timeoutMs),
      transportAgent: this.agent,
      retryOptions: { disableRetry: true },
    });
    const refuse = (() => {
      throw new Error('the MinIO signing client never sends requests');
    }) as Transport['request'];
    this.signer = new Client({ ...endpointOf(options.publicEndpoint ?? options.endpoint), ...keys, transport: { request: refuse } });
  }

  /**
   * statObject (HEAD).
   * @throws ObjectNotFound when the key is missing; StorageUnavailable on backend failure or
   *         when the bucket itself is missing (checked after a 404, which has no error code).
   */
  async stat(key: string): Promise<ObjectMeta> {
    try {
      const s = await calls.run({}, () => this.client.statObject(this.bucket, key));
      return { size: s.size, etag: quote(s.etag), lastModified: s.lastModified, contentType: contentTypeOf(s.metaData) };
    } catch (err) {
      const mapped = this.fail(err, key);
      if (hasCode(mapped, 'OBJECT_NOT_FOUND')) await this.assertBucket();
      throw mapped;
    }
  }

  /**
   * One GET, with `range` passed through as `Range: bytes=a-b`. Metadata comes from the GET's
   * own headers (meta.size from Content-Range), so there is one round trip.
   * @throws ObjectNotFound, StorageUnavailable (also when MinIO answers other bytes than
   *         `range`); the caller's abort is rethrown as is. The body errors with
   *         StorageUnavailable if the backend fails or stalls mid-way.
   */
  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    const { range, signal } = options;
    const res = await this.get(key, rangeHeader(range), signal, READ_CODES);
    try {
      const { meta, span } = fetchedOf(res);
      if (range && !sameRange(span, range)) {
        throw new StorageUnavailable(`MinIO answered ${res.headers['content-range'] ?? `${res.statusCode} without Content-Range`} for bytes ${range.start}-${range.end}`);
      }
      return { meta, body: guardBody(res, 'MinIO', this.timeoutMs, signal, pacerOf(res)?.track(res)) };
    } catch (err) {
      res.destroy();
      throw err;
    }
  }

  /**
   * With `options.hint`: one GET of the hinted bytes; the metadata comes from its headers and
   * `read` serves exactly the bytes it fetched (`serves`). A hint MinIO cannot satisfy (416)
   * falls back to statObject, so the caller still learns the real size (an empty object is
   * then served without a request). Without a hint: statObject, and `serves` is always false.
   * @throws ObjectNotFound, StorageUnavailable (also for a missing bucket); the caller's abort
   *         is rethrown as is.
   */
  async open(key: string, options: OpenOptions = {}): Promise<OpenedObject> {
    const { hint, signal } = options;
    if (hint === undefined) return heldObject(await this.stat(key));
    const res = await this.get(key, rangeHeader(hint), signal, OPEN_CODES);
    if (res.statusCode === 416) {
      res.resume();
      const meta = await this.stat(key);
      return heldObject(meta, meta.size === 0 ? { span: null, body: Readable.from([]) } : undefined);
    }
    let fetched;
    try {
      fetched = fetchedOf(res);
    } catch (err) {
      res.destroy();
      throw err;
    }
    return heldObject(fetched.meta, { span: fetched.span, body: guardBody(res, 'MinIO', this.timeoutMs, signal, pacerOf(res)?.track(res)) }, signal);
  }

  /**
   * Up to 5 MiB: one PUT. Larger or unknown: a multipart upload (5 MiB parts) that is aborted
   * on any failure, so nothing becomes visible. Memory: at most two parts.
   * @throws InvalidKey, StorageUnavailable; if `body` itself errors, that error is rethrown
   *         as is (nothing is stored).
   */
  async write(key: string, body: Readable | Buffer, options: WriteOptions): Promise<ObjectMeta> {
    const headers = { 'Content-Type': options.contentType };
    const parts = partsOf(body, PART_SIZE)[Symbol.asyncIterator]();
    let bodyError: unknown;
    const nextPart = () => {
      const read = parts.next().catch((err: unknown) => {
        bodyError = err;
        throw err;
      });
      read.catch(() => undefined); // handled where awaited; never an unhandled rejection
      return read;
    };
    let uploadId: string | undefined;
    let inflight: Promise<unknown> | undefined; // a part upload to let finish before aborting
    try {
      await calls.run({}, async () => {
        let current = await nextPart();
        let following = nextPart();
        if ((await following).done) {
          const buf: Buffer = current.value ?? Buffer.alloc(0);
          await this.client.putObject(this.bucket, key, buf, buf.length, headers);
          return;
        }
        const id = (uploadId = await this.client.initiateNewMultipartUpload(this.bucket, key, headers));
        const etags: { part: number; etag: string }[] = [];
        for (let part = 1; !current.done; part++) {
          const config = { bucketName: this.bucket, objectName: key, uploadID: id, partNumber: part, headers: {} };
          // One part uploads while the next one is read: at most two parts in memory.
          const uploading = this.client.uploadPart(config, current.value);
          inflight = uploading.catch(() => undefined);
          const [{ etag }, next] = await Promise.all([uploading, following]);
          etags.push({ part, etag });
          current = next;
          if (!next.done) following = nextPart();
        }
        await this.client.completeMultipartUpload(this.bucket, key, id, etags);
      });
    } catch (err) {
      void parts.return?.(undefined).catch(() => undefined);
      const id = uploadId;
      await inflight;
      if (id) await calls.run({}, () => this.client.abortMultipartUpload(this.bucket, key, id)).catch(() => undefined);
      if (bodyError !== undefined) throw bodyError;
      throw this.fail(err, key, undefined, false);
    }
    return this.stat(key);
  }

  /**
   * removeObject; a missing key succeeds.
   * @throws StorageUnavailable (also for a missing bucket)
   */
  async delete(key: string): Promise<void> {
    try {
      await calls.run({}, () => this.client.removeObject(this.bucket, key));
    } catch (err) {
      const mapped = this.fail(err, key);
      if (!hasCode(mapped, 'OBJECT_NOT_FOUND')) throw mapped;
    }
  }

  /**
   * ListObjectsV2 one page at a time, through `listObjectsV2Query`: the page the client's
   * `listObjectsV2` stream fetches, without its fixed 1000 keys a page (so `listPageSize`
   * holds) and without a stream to destroy when the caller stops early. Each page is read
   * whole before its keys are handed out, so stopping early leaves no response open.
   * @throws InvalidKey (prefix), StorageUnavailable (also for a missing bucket)
   */
  async *list(prefix: string): AsyncGenerator<ListedObject> {
    const wanted = normalizePrefix(prefix);
    let token = '';
    do {
      let page;
      try {
        page = await calls.run({}, () => this.client.listObjectsV2Query(this.bucket, wanted, token, '', this.listPageSize, ''));
      } catch (err) {
        throw this.fail(err, wanted, undefined, false);
      }
      for (const item of page.objects) {
        if (item.name === undefined) continue; // a common prefix: none without a delimiter
        const size = Number(item.size);
        if (!Number.isSafeInteger(size) || !(item.lastModified instanceof Date) || Number.isNaN(item.lastModified.getTime())) {
          throw new StorageUnavailable(`MinIO listed ${item.name} without a size or LastModified`);
        }
        yield { key: item.name, size, lastModified: item.lastModified };
      }
      token = page.isTruncated ? String(page.nextContinuationToken ?? '') : '';
      if (page.isTruncated && !token) throw new StorageUnavailable('MinIO answered a truncated listing without NextContinuationToken');
    } while (token);
  }

  /**
   * presignedGetObject on the public-endpoint client, with response-content-type and
   * response-content-disposition. No network request. `expiresIn` is clamped to 7 days.
   * @throws StorageUnavailable if signing fails
   */
  async signedUrl(key: string, options: SignOptions): Promise<SignedUrl> {
    const now = Math.floor(Date.now() / 1000) * 1000; // X-Amz-Date has second precision
    const expiresIn = Math.min(Math.max(1, Math.floor(options.expiresIn)), MAX_PRESIGN_SECONDS);
    try {
      const url = await this.signer.presignedGetObject(this.bucket, key, expiresIn, {
        'response-content-type': options.contentType,
        'response-content-disposition': dispositionHeader(options.disposition, options.filename),
      }, new Date(now));
      return { url, expiresAt: new Date(now + expiresIn * 1000) };
    } catch (err) {
      throw new StorageUnavailable('cannot sign the URL', { cause: err });
    }
  }

  /** Closes the backend sockets. */
  async close(): Promise<void> {
    this.agent.destroy();
  }

  /**
   * A GET of `key` (with `range`, a Range header); resolves with the response once its headers
   * arrive, if its status is one of `codes`, else fails with the error its XML body names.
   * @throws ObjectNotFound, InvalidKey, StorageUnavailable; the caller's abort as is
   */
  private async get(key: string, range: string | undefined, signal: AbortSignal | undefined, codes: number[]): Promise<IncomingMessage> {
    signal?.throwIfAborted();
    let res: unknown;
    try {
      // getPartialObject's check, which makeRequestAsync leaves to its callers.
      if (key.length === 0 || key.length > 1024) throw new InvalidObjectNameError(`Invalid object name: ${key}`);
      const request = { method: 'GET', bucketName: this.bucket, objectName: key, headers: range ? { range } : {}, query: '' };
      res = await calls.run({ signal, streaming: true }, () => this.client.makeRequestAsync(request, '', codes));
    } catch (err) {
      throw this.fail(err, key, signal);
    }
    if (!(res instanceof IncomingMessage)) throw new StorageUnavailable('MinIO returned no HTTP response');
    return res;
  }

  /**
   * A HEAD of the bucket (bucketExists), within the transport's timeout.
   * @throws StorageUnavailable: no answer, the bucket is missing, or access is refused
   */
  async probe(): Promise<void> {
    let exists: boolean;
    try {
      exists = await calls.run({}, () => this.client.bucketExists(this.bucket));
    } catch (err) {
      throw this.fail(err, '', undefined, false);
    }
    if (!exists) throw new StorageUnavailable(`bucket ${this.bucket} does not exist`);
  }

  /** After a HEAD 404: is it the bucket that is missing? */
  private async assertBucket(): Promise<void> {
    let exists: boolean;
    try {
      exists = await calls.run({}, () => this.client.bucketExists(this.bucket));
    } catch (err) {
      if ((err as { code?: unknown }).code === 'AccessDenied') return; // cannot tell: keep ObjectNotFound
      throw this.fail(err, '');
    }
    if (!exists) throw new StorageUnavailable(`bucket ${this.bucket} does not exist`);
  }

  /** Map a minio/network error to the project's own; the caller's abort is returned as is. */
  private fail(err: unknown, key: string, signal?: AbortSignal, notFound = true): unknown {
    if (signal?.aborted) return err;
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'NoSuchBucket') return new StorageUnavailable(`bucket ${this.bucket} does not exist`, { cause: err });
    if (notFound && (code === 'NoSuchKey' || code === 'NotFound')) return new ObjectNotFound(key, { cause: err });
    if (err instanceof InvalidObjectNameError || code === 'KeyTooLongError') return new InvalidKey(key, { cause: err });
    const text = err instanceof Error ? `${String(code ?? err.name)}: ${err.message}` : String(err);
    return new StorageUnavailable(text, { cause: err });
  }
}

function endpointOf(raw: string): { endPoint: string; port?: number; useSSL: boolean } {
  const url = new URL(raw);
  if (url.pathname !== '/' || url.search) throw new StorageUnavailable(`MinIO endpoint must be scheme://host[:port]: ${raw}`);
  return { endPoint: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : undefined, useSSL: url.protocol === 'https:' };
}

/** http(s).request with a socket timeout (connect included) that destroys the request. */
function timedTransport(base: typeof http | typeof https, timeoutMs: number): Transport {
  const request = (options: http.RequestOptions, callback?: (res: IncomingMessage) => void) => {
    const call = calls.getStore();
    const req = base.request({ ...options, timeout: timeoutMs, signal: call?.signal }, callback);
    req.on('timeout', () => {
      req.destroy(Object.assign(new Error(`no answer from MinIO within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    });
    if (call?.streaming) req.once('response', () => req.setTimeout(0));
    return req;
  };
  return { request: request as Transport['request'] };
}

/** The body cut into `size`-byte Buffers (the last may be shorter; an empty body is one empty part). */
async function* partsOf(body: Readable | Buffer, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let at = 0; at === 0 || at < body.length; at += size) yield body.subarray(at, at + size);
    return;
  }
  let pending: Buffer[] = [];
  let length = 0;
  let yielded = false;
  for await (const chunk of body) {
    let buf: Buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    while (length + buf.length >= size) {
      pending.push(buf.subarray(0, size - length));
      buf = buf.subarray(size - length);
      yield Buffer.concat(pending);
      yielded = true;
      pending = [];
      length = 0;
    }
    if (buf.length > 0) {
      pending.push(buf);
      length += buf.length;
    }
  }
  if (length > 0 || !yielded) yield Buffer.concat(pending);
}

function quote(etag: string): string {
  if (!etag) throw new StorageUnavailable('MinIO response lacks an ETag');
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

function contentTypeOf(meta: Record<string, unknown>): string | undefined {
  const value = meta['content-type'] ?? meta['Content-Type'];
  return typeof value === 'string' ? value : undefined;
}

/** ObjectMeta from a 200/206 GET's headers (the whole size from Content-Range), and the bytes its body holds. */
function fetchedOf(res: IncomingMessage): { meta: ObjectMeta; span: ContentRange | null } {
  const h = res.headers;
  const length = Number(h['content-length']);
  const lastModified = new Date(h['last-modified'] ?? NaN);
  if (!Number.isSafeInteger(length) || Number.isNaN(lastModified.getTime())) throw new StorageUnavailable('MinIO response lacks Content-Length or Last-Modified');
  const meta = { size: length, etag: quote(h.etag ?? ''), lastModified, contentType: h['content-type'] };
  const span = bodySpan(res.statusCode!, length, h['content-range']);
  if (span === undefined) throw new StorageUnavailable(`MinIO answered 206 with ${h['content-range'] ? `Content-Range ${h['content-range']}` : 'no Content-Range'}`);
  if (span !== null) meta.size = span.size;
  return { meta, span };
}
