/**
 * The one interface every storage backend implements (docs/architecture.md).
 *
 * Adapters know nothing of HTTP, organizations or calls. Keys they receive are
 * already normalised by `normalizeKey` (src/core/keys.ts); adapters still refuse a
 * key that would escape their root. Every error an adapter throws is one of the
 * project's own (src/core/errors.ts) with the backend's error as `cause`:
 *   - ObjectNotFound      the key holds no object
 *   - StorageUnavailable  the backend refused, timed out or failed
 *   - InvalidKey          the key is not acceptable to this backend
 */
import type { Readable } from 'node:stream';

/** One object named by `StorageAdapter.list`. */
export interface ListedObject {
  /** The object's key, as `stat` and `read` take it (normalised: relative, slash-separated). */
  key: string;
  /** Size in bytes, as `stat` gives it. */
  size: number;
  /** As `stat` gives it, to the second (S3's listing carries milliseconds its HEAD drops). */
  lastModified: Date;
}

export interface ObjectMeta {
  /** Size in bytes. */
  size: number;
  /** Strong entity tag, quoted as in HTTP (`"abc"`). */
  etag: string;
  lastModified: Date;
  contentType?: string;
}

/** Inclusive byte range, already resolved against the object's size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ReadOptions {
  range?: ByteRange;
  /** Aborting it stops the backend read and destroys `body`. */
  signal?: AbortSignal;
}

export interface ReadResult {
  meta: ObjectMeta;
  body: Readable;
}

export interface WriteOptions {
  contentType: string;
  size?: number;
}

export interface SignOptions {
  /** Lifetime in seconds. */
  expiresIn: number;
  disposition: 'inline' | 'attachment';
  filename: string;
  contentType: string;
}

export interface SignedUrl {
  url: string;
  expiresAt: Date;
}

/**
 * The bytes a caller will probably serve, known before the metadata is: the whole object, from
 * `start` (to `end`, inclusive, possibly beyond the end of the object), or the last `suffix` bytes.
 */
export type RangeHint = 'whole' | { start: number; end?: number } | { suffix: number };

export interface OpenOptions {
  /**
   * Fetch these bytes with the lookup (network adapters: one request for metadata and body).
   * Omitted: look up the metadata only. Adapters that need no request for the body ignore it.
   */
  hint?: RangeHint;
  /** Aborting it stops the lookup, and the prefetched body until `read` takes it over. */
  signal?: AbortSignal;
}

/** One object looked up once: its metadata now, its bytes on demand, from the same version. */
export interface OpenedObject {
  meta: ObjectMeta;
  /**
   * Whether `read` can serve `range` (undefined: the whole object) from this handle. Absent:
   * any range. A handle that prefetched a body serves exactly those bytes; for any other
   * range the caller closes it and uses `StorageAdapter.read`.
   */
  serves?(range?: ByteRange): boolean;
  /**
   * Stream `range` (or the whole object). Call at most once; the handle is released when the body closes.
   * @throws Error when `serves(range)` is false
   */
  read(options?: ReadOptions): Readable;
  /**
   * Optional: the bytes of `range` (or the whole object) in one Buffer, when the handle reads
   * them in one small read (local: up to 64 KiB, a player's Range); undefined when it does not,
   * and then the handle is untouched (use `read`). Like `read`, at most once, and it releases the
   * handle. A Buffer is sent in one write, where a stream costs a pipe (BENCHMARKS.md, #13).
   * @throws (the Promise) StorageUnavailable when the read fails or the object is shorter than `range`
   */
  bytes?(range?: ByteRange): Promise<Buffer> | undefined;
  /** Release the handle (and destroy a prefetched body) without reading. Safe to call after `read` (it does nothing then). */
  close(): void;
}

export interface StorageAdapter {
  /** Short name: "local", "s3" or "minio", for logs; never a switch for behaviour (the two properties below are). */
  readonly name: string;
  /**
   * Where new recordings go inside the store, prepended to `{org}/{call_sid}-{random}.{ext}`:
   * '' where the store is the recordings directory itself (local: RECPROXY_LOCAL_ROOT), `recordings/`
   * where it may hold other things (a bucket; the prefix of docs/deploy.md's IAM policy).
   */
  readonly recordingsPrefix: string;
  /**
   * Capability: the backend hands out presigned URLs a browser fetches from it directly, and
   * `signedUrl` is present (s3, minio). False: it has no `signedUrl`, and the daemon serves its
   * bytes under its own `/media/{token}` URLs (local).
   */
  readonly presignedUrls: boolean;
  /**
   * Metadata of the object at `key`.
   * @throws ObjectNotFound, StorageUnavailable
   */
  stat(key: string): Promise<ObjectMeta>;
  /**
   * Stream the object (or `range` of it). The body honours backpressure and is
   * never buffered whole.
   * @throws ObjectNotFound, StorageUnavailable (before the body starts);
   *         the body stream errors with StorageUnavailable if the backend fails mid-way.
   */
  read(key: string, options?: ReadOptions): Promise<ReadResult>;
  /**
   * How bytes are served (src/bytes/send.ts): `stat` and `read` with a single lookup, the
   * bytes guaranteed to belong to the metadata returned. With `options.hint` a network adapter
   * fetches those bytes in the same request; a hint beyond the end of the object still
   * resolves, with the real metadata.
   * @throws ObjectNotFound, InvalidKey, StorageUnavailable; the caller's abort is rethrown as is
   */
  open(key: string, options?: OpenOptions): Promise<OpenedObject>;
  /**
   * Store `body` at `key` atomically: a reader sees the old object or the whole new one,
   * never a part; a failed write leaves nothing behind.
   * @throws InvalidKey, StorageUnavailable
   */
  write(key: string, body: Readable | Buffer, options: WriteOptions): Promise<ObjectMeta>;
  /**
   * Remove the object. Deleting a missing key succeeds.
   * @throws StorageUnavailable
   */
  delete(key: string): Promise<void>;
  /**
   * Every object whose key starts with `prefix` (normalised by `normalizePrefix`,
   * src/core/keys.ts: '' or '/'-ended lists a whole tree, `rec` matches `recordings/…` and
   * `rec.wav` alike, as S3 does), at any depth, fetched lazily: network adapters ask for one
   * page at a time, as the caller iterates. Leaving the loop early (`break`) releases what the
   * listing holds. The order is the backend's (S3: by key; local: directory by directory).
   * @throws InvalidKey (a prefix that could leave the store), StorageUnavailable (from the
   *         first or any later step: the backend failed, or the bucket is missing)
   */
  list(prefix: string): AsyncIterable<ListedObject>;
  /**
   * A cheap check that the backend answers and the store is there (readiness, /readyz): local,
   * the root is a readable, writable directory; S3 and MinIO, a HEAD of the bucket. Makes at
   * most one request, within the adapter's timeout.
   * @throws StorageUnavailable naming what failed
   */
  probe(): Promise<void>;
  /**
   * Present exactly when `presignedUrls` is true: a URL of the backend's own that a browser can
   * GET (with Range) until `expiresAt`. Makes no network request.
   * @throws StorageUnavailable if the adapter cannot sign
   */
  signedUrl?(key: string, options: SignOptions): Promise<SignedUrl>;
  /** Release sockets and handles. */
  close?(): Promise<void>;
}

/** An adapter that declares the presigned-URL capability, with its `signedUrl`. */
export type PresigningAdapter = StorageAdapter & { readonly presignedUrls: true; signedUrl(key: string, options: SignOptions): Promise<SignedUrl> };

/** Whether `adapter` hands out presigned URLs (its declared capability, not its name). */
export function presigns(adapter: StorageAdapter): adapter is PresigningAdapter {
  return adapter.presignedUrls && typeof adapter.signedUrl === 'function';
}
