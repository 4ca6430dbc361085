/**
 * Range and conditional requests (docs/architecture.md, RFC 9110 §13–14).
 *
 * `decide` turns a parsed request (conditions.ts) + object metadata into a decision, in the
 * style of @fastify/send: it returns status, headers and the byte range to read, and never
 * touches a response. Content-Type and the body are the caller's job (send.ts).
 *
 * Evaluation order is RFC 9110 §13.2.2:
 *   1. If-Match (strong compare, `*` matches the existing object) fails → 412;
 *   2. else, without If-Match, If-Unmodified-Since (valid HTTP-date) with
 *      Last-Modified later than it → 412;
 *   3. If-None-Match (weak compare, `*`) matches → 304 for GET/HEAD, 412 otherwise;
 *   4. else, without If-None-Match, If-Modified-Since on GET/HEAD with
 *      Last-Modified not later than it → 304. Steps 3–4 for GET/HEAD follow `fresh`,
 *      without the request's Cache-Control: unlike @fastify/send, `no-cache` does not
 *      disable the 304 (fetch() adds it to every request carrying If-None-Match);
 *   5. Range, on GET only, guarded by If-Range.
 * Dates compare at second precision (that of the Last-Modified we send). Date
 * headers that are not a valid HTTP-date (§5.6.7) are ignored.
 *
 * Decisions about Range:
 *   - HEAD ignores Range (and If-Range) and answers 200: §14.2 says a server MUST
 *     ignore Range for methods other than GET. Clients still see
 *     `Accept-Ranges: bytes` and the full Content-Length.
 *   - A unit other than `bytes` (case-insensitive), bad syntax, an int-range
 *     whose last-pos < first-pos (invalid, §14.1.1) or a header longer than
 *     MAX_RANGE_HEADER → the Range is ignored → 200. Empty list elements are
 *     skipped (§5.6.1.2).
 *   - A suffix longer than the object means the whole object (§14.1.3):
 *     `bytes=-500` on 100 bytes → 206 `bytes 0-99/100` (range-parser alone
 *     would call that unsatisfiable; here such a suffix starts at 0).
 *   - No satisfiable range → 416 with `Content-Range: bytes *\/size`. On an empty
 *     object only a non-zero suffix is satisfiable (§14.1.3) and it selects zero
 *     bytes, which no Content-Range can express: we ignore the Range (200,
 *     Content-Length 0). Every other range on an empty object → 416.
 *   - Overlapping/adjacent ranges are combined (as range-parser's `combine`); one
 *     range → 206 with the end clamped to size-1. Several disjoint ranges → a
 *     full 200: we do not send multipart/byteranges, since browsers, media
 *     players and download managers ask for one range at a time.
 *   - If-Range (only with a Range on GET): an entity tag must strongly match
 *     (a weak tag never does); an HTTP-date must equal Last-Modified to the
 *     second; anything else is false. False → Range ignored → full 200.
 */
import type { ByteRange, ObjectMeta } from '../core/storage.js';
import { parseConditions, strongMatch, weakMatch, type ByteRequest, type ConditionalHeaders, type EntityTags, type RangeSpec } from './conditions.js';

export type ByteDecision =
  | { status: 200; headers: Record<string, string>; range?: undefined }
  | { status: 206; headers: Record<string, string>; range: ByteRange }
  | { status: 304; headers: Record<string, string> }
  | { status: 412; headers: Record<string, string>; code: 'PRECONDITION_FAILED' }
  | { status: 416; headers: Record<string, string>; code: 'RANGE_NOT_SATISFIABLE' };

/** `decide` on headers not yet parsed. */
export function decideBytes(method: string, headers: ConditionalHeaders, meta: ObjectMeta): ByteDecision {
  return decide(parseConditions(method, headers), meta);
}

export function decide(request: ByteRequest, meta: ObjectMeta): ByteDecision {
  const base = baseHeaders(meta);
  const lastModified = Math.floor(meta.lastModified.getTime() / 1000) * 1000;
  const method = request.method;
  const failed = { status: 412, headers: base, code: 'PRECONDITION_FAILED' } as const;

  const ifMatch = request.ifMatch;
  if (ifMatch !== undefined) {
    if (!tagsMatch(ifMatch, meta.etag, strongMatch)) return failed;
  } else {
    const since = request.ifUnmodifiedSince;
    if (since !== undefined && lastModified > since) return failed;
  }

  const ifNoneMatch = request.ifNoneMatch;
  if (method === 'GET' || method === 'HEAD') {
    // Cache-Control is a cache's business (RFC 9111), not a precondition: an origin answers
    // If-None-Match even when fetch() adds `Cache-Control: no-cache` to a conditional request.
    if (ifNoneMatch !== undefined) {
      if (tagsMatch(ifNoneMatch, meta.etag, weakMatch)) return { status: 304, headers: base };
    } else {
      const since = request.ifModifiedSince;
      if (since !== undefined && base['Last-Modified'] !== undefined && lastModified <= since) return { status: 304, headers: base };
    }
  } else if (ifNoneMatch !== undefined && tagsMatch(ifNoneMatch, meta.etag, weakMatch)) {
    return failed;
  }

  const full = { status: 200, headers: { ...base, 'Content-Length': String(meta.size) } } as const;
  const range = request.range;
  if (range === undefined || range.kind === 'ignore') return full;
  const ifRange = request.ifRange;
  if (ifRange !== undefined && !(typeof ifRange === 'string' ? strongMatch(ifRange, meta.etag) : ifRange === lastModified)) return full;

  const resolved = resolveRange(range.specs, meta.size);
  if (resolved === 'ignore') return full;
  if (resolved === 'unsatisfiable') {
    return {
      status: 416,
      headers: { ...base, 'Content-Range': `bytes */${meta.size}` },
      code: 'RANGE_NOT_SATISFIABLE',
    };
  }
  return {
    status: 206,
    headers: {
      ...base,
      'Content-Length': String(resolved.end - resolved.start + 1),
      'Content-Range': `bytes ${resolved.start}-${resolved.end}/${meta.size}`,
    },
    range: resolved,
  };
}

function baseHeaders(meta: ObjectMeta): Record<string, string> {
  const headers: Record<string, string> = { 'Accept-Ranges': 'bytes', ETag: meta.etag };
  if (!Number.isNaN(meta.lastModified.getTime())) headers['Last-Modified'] = meta.lastModified.toUTCString();
  return headers;
}

/** `*` matches the existing object; a list, when one of its tags matches `etag`. */
function tagsMatch(tags: EntityTags, etag: string, match: (tag: string, etag: string) => boolean): boolean {
  if (tags === '*') return true;
  for (const tag of tags) if (match(tag, etag)) return true;
  return false;
}

/** The single range to send of an object of `size` bytes, or why the specs do not yield one. */
function resolveRange(specs: readonly RangeSpec[], size: number): ByteRange | 'ignore' | 'unsatisfiable' {
  if (size === 0) return specs.some((spec) => 'suffix' in spec && spec.suffix > 0) ? 'ignore' : 'unsatisfiable';
  let first: ByteRange | undefined;
  let more: ByteRange[] | undefined;
  for (const spec of specs) {
    const satisfiable = resolveSpec(spec, size);
    if (satisfiable === undefined) continue;
    if (first === undefined) first = satisfiable;
    else (more ??= [first]).push(satisfiable);
  }
  if (first === undefined) return 'unsatisfiable';
  return more === undefined ? first : combine(more);
}

/** The bytes of one spec, the end clamped to size-1; undefined when none are in the object. */
function resolveSpec(spec: RangeSpec, size: number): ByteRange | undefined {
  let start: number;
  let end = size - 1;
  if ('suffix' in spec) {
    start = spec.suffix > size ? 0 : size - spec.suffix;
  } else {
    start = spec.start;
    if (spec.end !== undefined && spec.end < end) end = spec.end;
  }
  return start > end ? undefined : { start, end };
}

/** Overlapping and adjacent ranges merged: the one range they make, else 'ignore' (disjoint). */
function combine(ranges: ByteRange[]): ByteRange | 'ignore' {
  ranges.sort((a, b) => a.start - b.start);
  const merged = { start: ranges[0]!.start, end: ranges[0]!.end };
  for (let i = 1; i < ranges.length; i++) {
    const range = ranges[i]!;
    if (range.start > merged.end + 1) return 'ignore';
    if (range.end > merged.end) merged.end = range.end;
  }
  return merged;
}
