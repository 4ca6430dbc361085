/**
 * Range and conditional requests (ARCHITECTURE §4, RFC 9110 §13–14).
 *
 * `decideBytes` turns request headers + object metadata into a decision, in the
 * style of @fastify/send: it returns status, headers and the byte range to read,
 * and never touches a response. Content-Type and the body are the caller's job.
 *
 * Evaluation order is RFC 9110 §13.2.2:
 *   1. If-Match (strong compare, `*` matches the existing object) fails → 412;
 *   2. else, without If-Match, If-Unmodified-Since (valid HTTP-date) with
 *      Last-Modified later than it → 412;
 *   3. If-None-Match (weak compare, `*`) matches → 304 for GET/HEAD, 412 otherwise;
 *   4. else, without If-None-Match, If-Modified-Since on GET/HEAD with
 *      Last-Modified not later than it → 304. Steps 3–4 for GET/HEAD use `fresh`,
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
 *     would call that unsatisfiable, so such suffixes are rewritten to `0-`).
 *   - No satisfiable range → 416 with `Content-Range: bytes *\/size`. On an empty
 *     object only a non-zero suffix is satisfiable (§14.1.3) and it selects zero
 *     bytes, which no Content-Range can express: we ignore the Range (200,
 *     Content-Length 0). Every other range on an empty object → 416.
 *   - Overlapping/adjacent ranges are combined (range-parser `combine`); one
 *     range → 206 with the end clamped to size-1. Several disjoint ranges → a
 *     full 200: we do not send multipart/byteranges, since browsers, media
 *     players and download managers ask for one range at a time.
 *   - If-Range (only with a Range on GET): an entity tag must strongly match
 *     (a weak tag never does); an HTTP-date must equal Last-Modified to the
 *     second; anything else is false. False → Range ignored → full 200.
 */
import fresh from 'fresh';
import rangeParser from 'range-parser';
import type { ByteRange, ObjectMeta } from './core/storage.js';

export interface ConditionalHeaders {
  range?: string;
  'if-range'?: string;
  'if-match'?: string;
  'if-none-match'?: string;
  'if-modified-since'?: string;
  'if-unmodified-since'?: string;
  'cache-control'?: string;
}

export type ByteDecision =
  | { status: 200; headers: Record<string, string>; range?: undefined }
  | { status: 206; headers: Record<string, string>; range: ByteRange }
  | { status: 304; headers: Record<string, string> }
  | { status: 412; headers: Record<string, string>; code: 'PRECONDITION_FAILED' }
  | { status: 416; headers: Record<string, string>; code: 'RANGE_NOT_SATISFIABLE' };

/** A Range header longer than this is treated as malformed (ignored). */
export const MAX_RANGE_HEADER = 8192;

/** IMF-fixdate, obsolete RFC 850 and asctime forms (RFC 9110 §5.6.7). */
const HTTP_DATE =
  /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{5,8}, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;
const RANGE_SPEC = /^(\d*)-(\d*)$/;

export function decideBytes(method: string, headers: ConditionalHeaders, meta: ObjectMeta): ByteDecision {
  const base = baseHeaders(meta);
  const lastModified = Math.floor(meta.lastModified.getTime() / 1000) * 1000;
  const safe = method === 'GET' || method === 'HEAD';
  const failed = { status: 412, headers: base, code: 'PRECONDITION_FAILED' } as const;

  const ifMatch = present(headers['if-match']);
  if (ifMatch !== undefined) {
    if (!etagListMatches(ifMatch, meta.etag, true)) return failed;
  } else {
    const since = parseHttpDate(headers['if-unmodified-since']);
    if (since !== undefined && lastModified > since) return failed;
  }

  const ifNoneMatch = present(headers['if-none-match']);
  if (safe) {
    const ims = headers['if-modified-since'];
    const request = {
      'if-none-match': ifNoneMatch,
      'if-modified-since': parseHttpDate(ims) === undefined ? undefined : ims,
      // Cache-Control is a cache's business (RFC 9111), not a precondition: an origin answers
      // If-None-Match even when fetch() adds `Cache-Control: no-cache` to a conditional request.
    };
    const response = { etag: meta.etag, 'last-modified': base['Last-Modified'] };
    if (fresh(request, response)) return { status: 304, headers: base };
  } else if (ifNoneMatch !== undefined && etagListMatches(ifNoneMatch, meta.etag, false)) {
    return failed;
  }

  const full = { status: 200, headers: { ...base, 'Content-Length': String(meta.size) } } as const;
  const range = present(headers.range);
  if (method !== 'GET' || range === undefined) return full;
  const ifRange = present(headers['if-range']);
  if (ifRange !== undefined && !ifRangeHolds(ifRange, meta.etag, lastModified)) return full;

  const resolved = resolveRange(range, meta.size);
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

/** The header's value, or undefined when it is absent or blank. */
function present(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Milliseconds of a valid HTTP-date, else undefined. */
function parseHttpDate(value: string | undefined): number | undefined {
  const v = value?.trim();
  if (v === undefined || v.length > 64 || !HTTP_DATE.test(v)) return undefined;
  const ms = Date.parse(v.endsWith(' GMT') ? v : `${v} GMT`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Strong comparison (§8.8.3.2): neither tag weak, same opaque tag. */
function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** Weak comparison: same opaque tag, either may be weak. */
function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** `*` or a list of entity tags, compared with `etag` strongly or weakly. */
function etagListMatches(list: string, etag: string, strong: boolean): boolean {
  if (list.trim() === '*') return true;
  const tags = list.match(ENTITY_TAG) ?? [];
  return tags.some((tag) => (strong ? strongMatch(tag, etag) : weakMatch(tag, etag)));
}

function ifRangeHolds(value: string, etag: string, lastModified: number): boolean {
  const v = value.trim();
  if (v.startsWith('"') || v.startsWith('W/"')) return strongMatch(v, etag);
  return parseHttpDate(v) === lastModified;
}

/** The single range to send, or why the Range header does not yield one. */
function resolveRange(value: string, size: number): ByteRange | 'ignore' | 'unsatisfiable' {
  if (value.length > MAX_RANGE_HEADER) return 'ignore';
  const eq = value.indexOf('=');
  if (eq === -1 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return 'ignore';

  const specs: string[] = [];
  let nonZeroSuffix = false;
  for (const element of value.slice(eq + 1).split(',')) {
    const spec = element.trim();
    if (spec === '') continue;
    const m = RANGE_SPEC.exec(spec);
    const first = m?.[1];
    const last = m?.[2];
    if (first === undefined || last === undefined || (first === '' && last === '')) return 'ignore';
    if (first === '') {
      const length = Number(last);
      if (length > 0) nonZeroSuffix = true;
      specs.push(length > size ? '0-' : spec);
    } else {
      if (last !== '' && Number(last) < Number(first)) return 'ignore';
      specs.push(spec);
    }
  }
  if (specs.length === 0) return 'ignore';
  if (size === 0) return nonZeroSuffix ? 'ignore' : 'unsatisfiable';

  const ranges = rangeParser(size, `bytes=${specs.join(',')}`, { combine: true });
  if (ranges === -1) return 'unsatisfiable';
  if (ranges === -2 || ranges.length !== 1 || ranges[0] === undefined) return 'ignore';
  return { start: ranges[0].start, end: ranges[0].end };
}
