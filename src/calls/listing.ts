/**
 * Listing an organization's calls (GET /api/calls): the query's rules and the opaque cursor.
 *
 * The order is the index's (ListPosition in src/stores/types.ts): newest `started_at` first,
 * calls without one after every call with one, ties and undated calls newest-registered first.
 * A cursor is keyset, not offset: it holds the sort key of the last call of its page, so calls
 * added between pages neither repeat nor hide any call. It is checked, not secret: it carries a
 * checksum, the organization and a digest of the filters, and one that was altered, or made for
 * another organization or other filters, is refused (INVALID_CURSOR). Forging one would only
 * move a caller within its own organization's listing.
 */
import { createHash } from 'node:crypto';
import { InvalidCursor, InvalidRequest } from '../core/errors.js';
import type { CallFilter, CallRow, ListPosition, TextMatch } from '../stores/types.js';

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** A listing request as a client words it (the query parameters of GET /api/calls). */
export interface ListQuery {
  /** Exact, or a prefix when it ends in `*`. */
  to?: string;
  from?: string;
  /** ISO 8601: `started_at` at or after it. */
  since?: string;
  /** ISO 8601: `started_at` before it. */
  until?: string;
  /** 1–1000, default 100. */
  limit?: number;
  cursor?: string;
}

export interface CallPage {
  calls: CallRow[];
  /** The cursor of the next page; null when this page is the last. */
  next_cursor: string | null;
}

/** What a listing query asks of the index, its position and page size. @throws InvalidRequest, InvalidCursor */
export function parseListQuery(org: string, query: ListQuery): { filter: CallFilter; after?: ListPosition; limit: number; digest: string } {
  const limit = query.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new InvalidRequest(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const filter: CallFilter = {};
  if (query.to !== undefined) filter.to = textMatch(query.to);
  if (query.from !== undefined) filter.from = textMatch(query.from);
  if (query.since !== undefined) filter.since = instant('since', query.since);
  if (query.until !== undefined) filter.until = instant('until', query.until);
  const digest = filterDigest(filter);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, org, digest);
  return { filter, after, limit, digest };
}

/** `value` ending in `*` is a prefix (the rest of it); anything else must match exactly. */
function textMatch(value: string): TextMatch {
  return value.endsWith('*') ? { prefix: value.slice(0, -1) } : { exact: value };
}

function instant(field: string, value: string): Date {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidRequest(`${field} must be an ISO 8601 time`);
  return new Date(ms);
}

/** The filters, canonical: the same filters give the same digest, however they were written. */
function filterDigest(filter: CallFilter): string {
  const canonical = JSON.stringify([filter.to ?? null, filter.from ?? null, filter.since?.getTime() ?? null, filter.until?.getTime() ?? null]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

const checksum = (payload: string) => createHash('sha256').update(`recproxy listing cursor\n${payload}`).digest('base64url').slice(0, 16);

/** The cursor that continues a listing of `org` with the filters of `digest` after `position`. */
export function encodeCursor(org: string, digest: string, position: ListPosition): string {
  const payload = JSON.stringify([1, org, digest, position.startedMs, position.seq]);
  return `${Buffer.from(payload).toString('base64url')}.${checksum(payload)}`;
}

/** @throws InvalidCursor */
export function decodeCursor(cursor: string, org: string, digest: string): ListPosition {
  const [body, sum, ...rest] = cursor.split('.');
  const payload = body ? Buffer.from(body, 'base64url').toString() : '';
  if (rest.length || !sum || sum !== checksum(payload) || Buffer.from(payload).toString('base64url') !== body) {
    throw new InvalidCursor('it is malformed or was altered; start again without a cursor');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 5 || parsed[0] !== 1) throw new InvalidCursor('this cursor version is not known');
  const [, cursorOrg, cursorDigest, startedMs, seq] = parsed as unknown[];
  if (cursorOrg !== org) throw new InvalidCursor('it was made for another organization');
  if (cursorDigest !== digest) throw new InvalidCursor('it was made for other filters; repeat the filters of its first page');
  if ((startedMs !== null && !Number.isSafeInteger(startedMs)) || !Number.isSafeInteger(seq)) {
    throw new InvalidCursor('it is malformed or was altered; start again without a cursor');
  }
  return { startedMs: startedMs as number | null, seq: seq as number };
}
