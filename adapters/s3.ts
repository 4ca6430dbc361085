/**
 * StorageAdapter for AWS S3 and S3-compatible servers, on @aws-sdk/client-s3.
 *
 * - Timeouts: connect within `timeoutMs`, response headers within `timeoutMs` (SDK
 *   `requestTimeout` only warns unless `throwOnRequestTimeout`), 2 attempts: a dead backend
 *   is StorageUnavailable after about 2 × timeoutMs. A PUT / UploadPart (≤ 5 MiB) must
 *   finish within timeoutMs. Bodies: see guardBody (stall = error, slow consumer = fine).
 * - signedUrl signs locally with one SignatureV4: no request, ~0.04 ms, and byte-identical
 *   to `getSignedUrl` for the same GetObject input and date.
 * - A missing bucket is StorageUnavailable (misconfiguration), never ObjectNotFound. Without
 *   s3:ListBucket S3 answers 403 for a missing key (StorageUnavailable): grant it.
 * - Checksums only `WHEN_REQUIRED`, so older S3-compatible servers keep working.
 */
import { Readable } from 'node:stream';
import { isIP } from 'node:net';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest, buildQueryString, extendedEncodeURIComponent } from '@smithy/core/protocols';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import { dispositionHeader } from '../src/disposition.js';
import { InvalidKey, ObjectNotFound, StorageUnavailable, hasCode } from '../src/errors.js';
import type { ObjectMeta, ReadOptions, ReadResult, SignOptions, SignedUrl, StorageAdapter, WriteOptions } from './types.js';
import { guardBody } from './body-guard.js';

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
}

interface Identity { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }
interface PublicTarget { protocol: string; hostname: string; port?: number; host: string; pathPrefix: string }

const PART_SIZE = 5 * 1024 * 1024; // S3 minimum; bounds write memory to queueSize × PART_SIZE
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const CREDENTIAL_REFRESH_MARGIN_MS = 5 * 60 * 1000;

export class S3Adapter implements StorageAdapter {
  readonly name = 's3';
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly timeoutMs: number;
  private readonly signer: SignatureV4;
  private readonly target: PublicTarget;
  private identityValue?: Identity;
  private identityPending?: Promise<Identity>;

  constructor(options: S3AdapterOptions) {
    this.bucket = options.bucket;
    this.timeoutMs = options.timeoutMs;
    const { region, endpoint, credentials, timeoutMs } = options;
    this.client = new S3Client({
      region, endpoint, credentials, forcePathStyle: options.forcePathStyle ?? false, maxAttempts: 2,
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({ connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true }),
    });
    // S3 rule: the path is not escaped again; the presigner's payload hash is UNSIGNED-PAYLOAD.
    this.signer = new SignatureV4({
      service: 's3', region, credentials: () => this.identity(), sha256: Sha256, uriEscapePath: false, applyChecksum: false,
    });
    this.target = publicTarget(options);
  }

  /**
   * Metadata via HeadObject.
   * @throws ObjectNotFound when the key is missing; StorageUnavailable on backend failure or
   *         when the bucket itself is missing (checked with HeadBucket after a 404).
   */
  async stat(key: string): Promise<ObjectMeta> {
    try {
      return toMeta(await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
    } catch (err) {
      const mapped = this.fail(err, key);
      if (hasCode(mapped, 'OBJECT_NOT_FOUND')) await this.assertBucket();
      throw mapped;
    }
  }

  /**
   * GetObject, with `range` passed through as `Range: bytes=a-b` (meta.size is the whole
   * object's size, from Content-Range).
   * @throws ObjectNotFound, StorageUnavailable; the caller's abort is rethrown as is.
   *         The body errors with StorageUnavailable if the backend fails or stalls mid-way.
   */
  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    const { range, signal } = options;
    signal?.throwIfAborted();
    let out;
    try {
      const Range = range ? `bytes=${range.start}-${range.end}` : undefined;
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range }), { abortSignal: signal });
    } catch (err) {
      throw this.fail(err, key, signal);
    }
    const body = out.Body;
    if (!(body instanceof Readable)) throw new StorageUnavailable('S3 returned no readable body');
    try {
      const meta = toMeta(out);
      if (range) meta.size = wholeSize(out.ContentRange, out.ContentLength, range);
      return { meta, body: guardBody(body, 'S3', this.timeoutMs, signal) };
    } catch (err) {
      body.destroy();
      throw err;
    }
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
    const { protocol, hostname, port, host, pathPrefix } = this.target;
    const request = new HttpRequest({
      method: 'GET', protocol, hostname, port,
      path: `${pathPrefix}/${key.split('/').map(extendedEncodeURIComponent).join('/')}`,
      query: {
        'response-content-disposition': dispositionHeader(options.disposition, options.filename),
        'response-content-type': options.contentType,
        'x-id': 'GetObject', // what the SDK adds; keeps URLs identical to getSignedUrl's
      },
      headers: { host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
    });
    let signed;
    try {
      signed = await this.signer.presign(request, { signingDate: new Date(now), expiresIn });
    } catch (err) {
      throw new StorageUnavailable('cannot sign the URL', { cause: err });
    }
    const query = signed.query ? buildQueryString(signed.query) : '';
    const url = `${protocol}//${host}${signed.path}${query ? `?${query}` : ''}`;
    return { url, expiresAt: new Date(now + expiresIn * 1000) };
  }

  /** Destroys the client and its sockets. */
  async close(): Promise<void> {
    this.client.destroy();
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

  /** After a HEAD 404 (no body, so no error code): is it the bucket that is missing? */
  private async assertBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // 403 (no s3:ListBucket) tells nothing about the bucket: keep ObjectNotFound.
      if (statusOf(err) === 403) return;
      if (statusOf(err) === 404) throw new StorageUnavailable(`bucket ${this.bucket} does not exist`, { cause: err });
      throw this.fail(err, '');
    }
  }

  /** Map an SDK error to the project's own; the caller's abort is returned as is. */
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

/** Whole-object size of a ranged response: `bytes a-b/size`. */
function wholeSize(contentRange = '', length: number | undefined, range: { start: number; end: number }): number {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange);
  if (m && Number(m[1]) === range.start && Number(m[2]) === range.end) return Number(m[3]);
  if (!m && range.start === 0 && length === range.end + 1) return length; // a 200 for the whole object
  throw new StorageUnavailable(`S3 answered ${contentRange || 'no Content-Range'} for bytes ${range.start}-${range.end}`);
}

function publicTarget(o: S3AdapterOptions): PublicTarget {
  const raw = o.publicEndpoint ?? o.endpoint;
  const url = new URL(raw ?? `https://s3.${o.region}.amazonaws.com${o.region.startsWith('cn-') ? '.cn' : ''}`);
  const bareHost = url.hostname.replace(/^\[|\]$/g, '');
  const basePath = url.pathname.replace(/\/+$/, '');
  // Like the SDK: virtual-hosted style unless forced, the host is an IP, or the bucket
  // is not a plain DNS label (dots would break TLS wildcard certificates).
  const virtual = !o.forcePathStyle && isIP(bareHost) === 0 && /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(o.bucket);
  const hostname = virtual ? `${o.bucket}.${url.hostname}` : url.hostname;
  const port = url.port ? Number(url.port) : undefined;
  const host = port === undefined ? hostname : `${hostname}:${port}`;
  return { protocol: url.protocol, hostname, port, host, pathPrefix: virtual ? basePath : `${basePath}/${o.bucket}` };
}
