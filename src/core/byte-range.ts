/**
 * Byte ranges on the wire between the daemon and a storage backend: the `Range` header a
 * backend request carries, and the `Content-Range` of the backend's 206. The one place either
 * is formatted or parsed; the client's `Range` header is parsed in src/bytes/conditions.ts.
 */
import type { ByteRange, RangeHint } from './storage.js';

/** A 206's `Content-Range`: the bytes the body holds (`start`-`end`, inclusive) of `size`. */
export interface ContentRange {
  start: number;
  end: number;
  size: number;
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;

/**
 * The `Range` header that asks a backend for `range`: `bytes=a-b` for a resolved range, for a
 * hint also `bytes=a-` and `bytes=-n`. Undefined for the whole object (no header).
 */
export function rangeHeader(range: ByteRange | RangeHint | undefined): string | undefined {
  if (range === undefined || range === 'whole') return undefined;
  if ('suffix' in range) return `bytes=-${range.suffix}`;
  return `bytes=${range.start}-${range.end ?? ''}`;
}

/**
 * `bytes first-last/complete-length` (RFC 9110 §14.4) with first ≤ last < length; undefined
 * for anything else (absent, `bytes *\/length`, an unknown length `/*`, malformed).
 */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const m = CONTENT_RANGE.exec(value);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const size = Number(m[3]);
  return start <= end && end < size ? { start, end, size } : undefined;
}

/** The same bytes; `null` (no bytes: an empty object) equals only `null`. */
export function sameRange(a: ByteRange | null, b: ByteRange | null): boolean {
  return a === b || (a !== null && b !== null && a.start === b.start && a.end === b.end);
}

/**
 * What a 2xx GET's body holds, from its status, Content-Length and Content-Range: those bytes
 * and the whole object's size, or null for no bytes (an empty object). Undefined for a 206
 * whose Content-Range is missing, malformed or disagrees with Content-Length: the caller
 * refuses that answer. MinIO answers a suffix range on an empty object with `206`,
 * `bytes 0--1/0` and no body: that is no bytes (null).
 */
export function bodySpan(status: number, contentLength: number, contentRange: string | undefined): ContentRange | null | undefined {
  if (status !== 206) return contentLength > 0 ? { start: 0, end: contentLength - 1, size: contentLength } : null;
  if (contentLength === 0 && contentRange?.endsWith('/0')) return null;
  const cr = parseContentRange(contentRange);
  return cr && cr.end - cr.start + 1 === contentLength ? cr : undefined;
}
