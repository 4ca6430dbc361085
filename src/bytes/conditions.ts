/**
 * The request side of serving bytes: Range, If-Range and the conditionals (RFC 9110 §13–14)
 * parsed once, before the object's metadata is known, into a ByteRequest. decide.ts turns a
 * ByteRequest and the metadata into a decision; `prefetchHint` reads the same ByteRequest to
 * guess the bytes to fetch with the lookup. Nothing else reads these header texts.
 */
import type { RangeHint } from '../core/storage.js';

/** The request headers this module reads (node's IncomingHttpHeaders fits). */
export interface ConditionalHeaders {
  range?: string;
  'if-range'?: string;
  'if-match'?: string;
  'if-none-match'?: string;
  'if-modified-since'?: string;
  'if-unmodified-since'?: string;
  'cache-control'?: string;
}

/**
 * One range-spec as the client wrote it (§14.1.1), not yet resolved against a size:
 * `first-last` or `first-` (`end` undefined), or the last `suffix` bytes. The same shape as a
 * RangeHint's, so a lone spec is the prefetch hint as it is.
 */
export type RangeSpec = { start: number; end?: number } | { suffix: number };

/**
 * A Range header that is present and not blank:
 *   - `specs`: the byte ranges asked for, in order (empty list elements skipped, §5.6.1.2);
 *   - `ignore`: not honoured (another unit, bad syntax, last < first, or longer than
 *     MAX_RANGE_HEADER). `single` is the lone spec of a header that is only too long: the
 *     decision ignores it, the prefetch hint still follows it (as a wrong hint does, it costs
 *     a second read).
 */
export type RangeField = { kind: 'specs'; specs: RangeSpec[] } | { kind: 'ignore'; single?: RangeSpec };

/** `*`, or the entity tags of a list. */
export type EntityTags = '*' | readonly string[];

/** A request's Range and conditional headers, parsed. */
export interface ByteRequest {
  readonly method: string;
  /** GET only (other methods ignore Range, §14.2); undefined when absent or blank. */
  readonly range: RangeField | undefined;
  /**
   * With a Range on GET: the strong entity tag it must equal (a string), the HTTP-date that
   * must equal Last-Modified to the second (milliseconds), or false (a weak tag or anything
   * else: never holds). Undefined when absent or blank.
   */
  readonly ifRange: string | number | false | undefined;
  readonly ifMatch: EntityTags | undefined;
  /** GET/HEAD: a comma-separated list as fresh reads it; other methods: the quoted tags in it. */
  readonly ifNoneMatch: EntityTags | undefined;
  /** Milliseconds of a valid HTTP-date; undefined when absent or not one (§5.6.7: ignored). */
  readonly ifModifiedSince: number | undefined;
  readonly ifUnmodifiedSince: number | undefined;
  /** Whether any conditional header (If-*) was sent at all, blank ones included. */
  readonly conditional: boolean;
}

/** A Range header longer than this is treated as malformed (ignored). */
export const MAX_RANGE_HEADER = 8192;

/** IMF-fixdate, obsolete RFC 850 and asctime forms (RFC 9110 §5.6.7). */
const HTTP_DATE =
  /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{5,8}, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;
const RANGE_SPEC = /^(\d*)-(\d*)$/;
const IGNORED: RangeField = Object.freeze({ kind: 'ignore' });

/** Parses the headers `decide` and `prefetchHint` read, once per request. */
export function parseConditions(method: string, headers: ConditionalHeaders): ByteRequest {
  const safe = method === 'GET' || method === 'HEAD';
  const get = method === 'GET';
  const range = get ? parseRange(headers.range) : undefined;
  const ifMatch = present(headers['if-match']);
  const ifNoneMatch = present(headers['if-none-match']);
  return {
    method,
    range,
    ifRange: get && range !== undefined ? parseIfRange(headers['if-range']) : undefined,
    ifMatch: ifMatch === undefined ? undefined : quotedTags(ifMatch),
    ifNoneMatch: ifNoneMatch === undefined ? undefined : safe ? tokenList(ifNoneMatch) : quotedTags(ifNoneMatch),
    ifModifiedSince: safe ? parseHttpDate(headers['if-modified-since']) : undefined,
    ifUnmodifiedSince: parseHttpDate(headers['if-unmodified-since']),
    conditional:
      headers['if-range'] !== undefined ||
      headers['if-match'] !== undefined ||
      headers['if-none-match'] !== undefined ||
      headers['if-modified-since'] !== undefined ||
      headers['if-unmodified-since'] !== undefined,
  };
}

/**
 * The bytes a request will probably be served, before the metadata is known, from the same
 * parse the decision reads: a GET without Range → the whole object; one range-spec → that
 * spec. Undefined (look up the metadata only) for other methods, several ranges, and
 * conditional requests: those often end without a body (304, 412, a stale If-Range), which
 * should not start one; and for numbers past 2^53. A Range the decision ignores hints the
 * whole object. A wrong hint costs a second read.
 */
export function prefetchHint(request: ByteRequest): RangeHint | undefined {
  if (request.method !== 'GET' || request.conditional) return undefined;
  const range = request.range;
  if (range === undefined) return 'whole';
  let spec: RangeSpec | undefined;
  if (range.kind === 'ignore') {
    spec = range.single;
    if (spec === undefined) return 'whole';
  } else {
    if (range.specs.length !== 1) return undefined;
    spec = range.specs[0]!;
  }
  if ('suffix' in spec) return Number.isSafeInteger(spec.suffix) ? spec : undefined;
  return Number.isSafeInteger(spec.start) && (spec.end === undefined || Number.isSafeInteger(spec.end)) ? spec : undefined;
}

/** Strong comparison (§8.8.3.2): neither tag weak, same opaque tag. */
export function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** Weak comparison (§8.8.3.2), as fresh makes it: the same tag, either one possibly weak. */
export function weakMatch(tag: string, etag: string): boolean {
  return tag === etag || tag === `W/${etag}` || `W/${tag}` === etag;
}

/** Milliseconds of a valid HTTP-date, else undefined. */
export function parseHttpDate(value: string | undefined): number | undefined {
  const v = value?.trim();
  if (v === undefined || v.length > 64 || !HTTP_DATE.test(v)) return undefined;
  const ms = Date.parse(v.endsWith(' GMT') ? v : `${v} GMT`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The header's value, or undefined when it is absent or blank. */
function present(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** `*` (the whole value, trimmed), or every quoted entity tag in it. */
function quotedTags(value: string): EntityTags {
  return value.trim() === '*' ? '*' : (value.match(ENTITY_TAG) ?? []);
}

/** fresh's reading of If-None-Match: exactly `*`, or comma-separated tokens, spaces around them dropped. */
function tokenList(value: string): EntityTags {
  if (value === '*') return '*';
  const list: string[] = [];
  let start = 0;
  let end = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x20) {
      if (start === end) start = end = i + 1;
    } else if (c === 0x2c) {
      list.push(value.substring(start, end));
      start = end = i + 1;
    } else {
      end = i + 1;
    }
  }
  list.push(value.substring(start, end));
  return list;
}

function parseIfRange(value: string | undefined): string | number | false | undefined {
  if (present(value) === undefined) return undefined;
  const v = value!.trim();
  if (v.startsWith('"')) return v;
  if (v.startsWith('W/"')) return false;
  return parseHttpDate(v) ?? false;
}

/** The Range header's specs, or why it is ignored; undefined when absent or blank. */
function parseRange(value: string | undefined): RangeField | undefined {
  if (present(value) === undefined) return undefined;
  const text = value!;
  if (text.length > MAX_RANGE_HEADER) {
    // Not honoured; a lone spec (no list to split) is still read for the prefetch hint.
    const single = text.includes(',') ? undefined : parseSpecs(text)?.[0];
    return single === undefined ? IGNORED : { kind: 'ignore', single };
  }
  const specs = parseSpecs(text);
  return specs === undefined ? IGNORED : { kind: 'specs', specs };
}

/** `bytes=` and a list of range-specs (at least one), else undefined. */
function parseSpecs(value: string): RangeSpec[] | undefined {
  const eq = value.indexOf('=');
  if (eq === -1 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return undefined;
  const specs: RangeSpec[] = [];
  for (const element of value.slice(eq + 1).split(',')) {
    const spec = element.trim();
    if (spec === '') continue;
    const m = RANGE_SPEC.exec(spec);
    const first = m?.[1];
    const last = m?.[2];
    if (first === undefined || last === undefined || (first === '' && last === '')) return undefined;
    if (first === '') {
      specs.push({ suffix: Number(last) });
    } else if (last === '') {
      specs.push({ start: Number(first) });
    } else {
      const start = Number(first);
      const end = Number(last);
      if (end < start) return undefined;
      specs.push({ start, end });
    }
  }
  return specs.length === 0 ? undefined : specs;
}
