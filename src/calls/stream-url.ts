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
 *
 * A daemon media URL is kept in full only from its second request on: its first issue is
 * remembered as two times in typed arrays (`StreamUrlCache.setFirst`), and a second request in the
 * window signs it again with the same expiry, which makes the same URL byte for byte (the token
 * is a deterministic HMAC of the same fields). With a million calls most are asked once, and a
 * URL string, its key and an object kept for each, dropped later unasked, were the larger part of
 * what the collector copied (BENCHMARKS.md, "Growth: where the 1M run's p99 comes from").
 * Presigned URLs cannot be made again alike (the storage's signing time): kept in full at once.
 */
import type { Awaitable } from '../core/awaitable.js';
import { recordingFilename } from '../core/disposition.js';
import { fnv1a } from '../core/hash.js';
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

/** First issues remembered without their URL (`setFirst`): slots of a 32-bit hash of the key (`slotOf`). */
const FIRST_SLOTS = 1 << 16;

/** Recently issued URLs by call, storage key and principal; bounded, oldest evicted first. */
export class StreamUrlCache {
  readonly #entries = new Map<string, Issued>();
  /**
   * First issues, by slot: the key's tag (`slotOf`; 0: empty), when it was issued and when it expires
   * (1.3 MB in all, no object per key). A key whose slot another takes is forgotten, so its next
   * request makes a new URL; two keys of one hash (1 in 2^32) would share times, which only
   * shortens a URL's window or lifetime, never lengthens it past the TTL from its own issue.
   */
  readonly #firstTag = new Int32Array(FIRST_SLOTS);
  readonly #firstIssued = new Float64Array(FIRST_SLOTS);
  readonly #firstExpires = new Float64Array(FIRST_SLOTS);
  #firstCount = 0;

  constructor(
    readonly reuseMs: number,
    readonly maxEntries = 50_000,
  ) {}

  /** Remember the first issue of a URL that can be made again alike (`takeFirst`): its times only. */
  setFirst(key: string, issuedAt: number, expiresAt: number): void {
    if (this.reuseMs <= 0) return;
    const { slot, tag } = slotOf(key);
    if (this.#firstTag[slot] === 0) this.#firstCount++;
    this.#firstTag[slot] = tag;
    this.#firstIssued[slot] = issuedAt;
    this.#firstExpires[slot] = expiresAt;
  }

  /**
   * The times of `key`'s first issue if it is still in its window, forgotten as they are returned:
   * the caller makes the URL again and keeps it in full (`set`).
   */
  takeFirst(key: string, nowMs: number): Omit<Issued, 'url'> | undefined {
    const { slot, tag } = slotOf(key);
    if (this.#firstTag[slot] !== tag) return undefined;
    const issuedAt = this.#firstIssued[slot]!;
    const expiresAt = this.#firstExpires[slot]!;
    this.#firstTag[slot] = 0;
    this.#firstCount--;
    if (nowMs - issuedAt > this.reuseMs || nowMs >= expiresAt) return undefined;
    return { issuedAt, expiresAt };
  }

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

  /** URLs kept in full, and first issues remembered (expired ones too, until asked for or replaced). */
  get size(): number {
    return this.#entries.size + this.#firstCount;
  }
}

/** A key's slot (the low 16 bits of its hash) and its tag there (the high 16, plus 1: never 0). */
function slotOf(key: string): { slot: number; tag: number } {
  const hash = fnv1a(key);
  return { slot: hash & (FIRST_SLOTS - 1), tag: (hash >>> 16) + 1 };
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
 * The URL at once when no storage call is needed (a URL kept, or a first issue made again), else
 * a promise (src/core/awaitable.ts): the storage is asked whether the recording is there.
 * @throws ObjectNotFound when the recording is not in storage (checked whenever a URL is made),
 *         StorageUnavailable
 */
export function issueStreamUrl(deps: StreamUrlDeps, call: CallRow, principal: string, nowMs = Date.now()): Awaitable<StreamUrl> {
  const { storage, streamUrls, streamTtl } = deps;
  const filename = recordingFilename(call.to_number, call.content_type);
  const cacheKey = `${call.call_sid}\u0000${call.storage_key}\u0000${principal}`;
  const answer = (issued: Issued): StreamUrl => ({
    url: issued.url,
    // Signatures and tokens count whole seconds from a whole-second start, so the real
    // lifetime is within a second below this; a fresh URL reports exactly the TTL.
    expires_in: Math.min(streamTtl, Math.max(0, Math.ceil((issued.expiresAt - nowMs) / 1000))),
    content_type: call.content_type,
    filename,
  });
  const kept = streamUrls.get(cacheKey, nowMs);
  if (kept) return answer(kept);
  const options = {
    expiresIn: streamTtl,
    disposition: 'inline' as const,
    filename,
    contentType: call.content_type,
  };
  // The storage's own URL where the adapter declares it can presign; else the daemon's.
  const presigned = deps.streamMode === 'presigned' && presigns(storage);
  const audit = { org: call.org_id, sid: call.call_sid, principal };
  const first = presigned ? undefined : streamUrls.takeFirst(cacheKey, nowMs);
  if (first) {
    // Asked again in the window: the first issue's URL, made again with its expiry.
    const again = deps.mediaUrls.url(call.storage_key, options, audit, first.expiresAt / 1000);
    const issued = { url: again.url, ...first };
    streamUrls.set(cacheKey, issued);
    return answer(issued);
  }
  return (async () => {
    // A URL to nothing would only fail later in the player: check the object is there.
    await storage.stat(call.storage_key);
    const signed = presigned ? await storage.signedUrl(call.storage_key, options) : deps.mediaUrls.url(call.storage_key, options, audit);
    deps.onIssued?.(presigned ? 'presigned' : 'media');
    const issued = { url: signed.url, issuedAt: nowMs, expiresAt: signed.expiresAt.getTime() };
    if (presigned) streamUrls.set(cacheKey, issued);
    else streamUrls.setFirst(cacheKey, issued.issuedAt, issued.expiresAt);
    return answer(issued);
  })();
}
