/**
 * The stream endpoint's URL for a call: a presigned storage URL (`presigned` mode, from an
 * adapter declaring that capability: S3/MinIO) or a daemon media URL (storage that does not
 * presign, local disk; or `proxy` mode). `expires_in` is the URL's remaining lifetime, rounded
 * up to whole seconds.
 *
 * A URL is handed out again, unchanged, for up to RECPROXY_STREAM_URL_REUSE_SEC after it was
 * made (its `expires_in` shrinking honestly): a player that asks again within that window gets
 * the same URL, so the browser's cache keeps working, and the storage check and signature are
 * not paid again. Past that margin a fresh URL is made. A recording deleted from storage can
 * thus still be handed a URL for at most that window; the URL itself then answers 404.
 */
import { recordingFilename } from '../core/disposition.js';
import { presigns, type StorageAdapter } from '../core/storage.js';
import type { CallRow } from '../stores/types.js';
import type { MediaUrls } from './media-urls.js';

export interface StreamUrl {
  url: string;
  expires_in: number;
  content_type: string;
  filename: string;
}

interface Issued {
  url: string;
  issuedAt: number;
  expiresAt: number;
}

/** Recently issued URLs by call, storage key and principal; bounded, oldest evicted first. */
export class StreamUrlCache {
  readonly #entries = new Map<string, Issued>();

  constructor(
    readonly reuseMs: number,
    readonly maxEntries = 50_000,
  ) {}

  get(key: string, nowMs: number): Issued | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    if (nowMs - hit.issuedAt > this.reuseMs || nowMs >= hit.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return hit;
  }

  set(key: string, issued: Issued): void {
    if (this.reuseMs <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, issued);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** What issuing a stream URL uses. */
export interface StreamUrlDeps {
  storage: StorageAdapter;
  mediaUrls: Pick<MediaUrls, 'url'>;
  /** Recently issued URLs (RECPROXY_STREAM_URL_REUSE_SEC). */
  streamUrls: StreamUrlCache;
  /** RECPROXY_STREAM_TTL, seconds. */
  streamTtl: number;
  /** RECPROXY_STREAM_MODE: `presigned` hands out the storage's own URLs where the adapter can presign. */
  streamMode: 'presigned' | 'proxy';
  /** Told of each URL made (not reused): the storage's own (`presigned`) or the daemon's (`media`). */
  onIssued?: (kind: 'presigned' | 'media') => void;
}

/**
 * @throws ObjectNotFound when the recording is not in storage (checked whenever a URL is made),
 *         StorageUnavailable
 */
export async function issueStreamUrl(deps: StreamUrlDeps, call: CallRow, principal: string, nowMs = Date.now()): Promise<StreamUrl> {
  const { storage, streamUrls, streamTtl } = deps;
  const filename = recordingFilename(call.to_number, call.content_type);
  const cacheKey = `${call.call_sid}\u0000${call.storage_key}\u0000${principal}`;
  let issued = streamUrls.get(cacheKey, nowMs);
  if (!issued) {
    // A URL to nothing would only fail later in the player: check the object is there.
    await storage.stat(call.storage_key);
    const options = {
      expiresIn: streamTtl,
      disposition: 'inline' as const,
      filename,
      contentType: call.content_type,
    };
    // The storage's own URL where the adapter declares it can presign; else the daemon's.
    const presigned = deps.streamMode === 'presigned' && presigns(storage);
    const signed = presigned
      ? await storage.signedUrl(call.storage_key, options)
      : deps.mediaUrls.url(call.storage_key, options, { org: call.org_id, sid: call.call_sid, principal });
    deps.onIssued?.(presigned ? 'presigned' : 'media');
    issued = { url: signed.url, issuedAt: nowMs, expiresAt: signed.expiresAt.getTime() };
    streamUrls.set(cacheKey, issued);
  }
  return {
    url: issued.url,
    // Signatures and tokens count whole seconds from a whole-second start, so the real
    // lifetime is within a second below this; a fresh URL reports exactly the TTL.
    expires_in: Math.min(streamTtl, Math.max(0, Math.ceil((issued.expiresAt - nowMs) / 1000))),
    content_type: call.content_type,
    filename,
  };
}
