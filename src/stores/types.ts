/**
 * The stores behind recproxy: the call index, the API keys and the access audit, as the rest
 * of the program sees them. Every lookup returns a Promise, so a backend that answers over a
 * network (PostgreSQL) can stand where SQLite stands today (src/stores/sqlite/). Recording in
 * the audit stays fire-and-forget: the request path never waits for it.
 *
 * An implementation keeps its own caches, and answers a change made by another process (the
 * CLI revoking a key, registering a call) from the very next request.
 */
import type { ApiKeyScope, CreateApiKeyInput } from '../core/api-keys.js';
import type { Awaitable } from '../core/awaitable.js';

export type { ApiKeyScope, CreateApiKeyInput };

// ---------------------------------------------------------------------------------------------
// The call index

/** One indexed call. */
export interface CallRow {
  call_sid: string;
  org_id: string;
  to_number: string;
  from_number: string | null;
  started_at: string | null;
  duration_ms: number | null;
  storage_key: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  created_at: string;
  deleted_at: string | null;
  /** When the call was put on legal hold (it is not deleted, by hand or by retention, while set); null: not on hold. */
  legal_hold_at: string | null;
}

export type NewCall = Omit<CallRow, 'created_at' | 'deleted_at' | 'legal_hold_at'>;

/** Which calls a retention pass looks at (CallIndex.expired). */
export interface ExpiryQuery {
  /** Calls older than this instant: their `started_at`, or `created_at` when they have none. */
  before: Date;
  /** Only this organization's calls; all organizations' without it. */
  org?: string;
  /** Leave these organizations' calls out (those with a retention period of their own). */
  excludeOrgs?: readonly string[];
  /** Continue after this place in the order (the last call of the previous batch). */
  after?: ExpiryPosition;
}

/** A call's place in the retention order: its age instant in milliseconds, then its registration order. */
export interface ExpiryPosition {
  ageMs: number;
  seq: number;
}

/** One call a retention pass found, with its place in the order. */
export interface ExpiredCall {
  call: CallRow;
  position: ExpiryPosition;
}

/** What `CallIndex.update` may change in a call's metadata; an absent field stays as it is. */
export interface CallPatch {
  to_number?: string;
  from_number?: string;
  started_at?: string;
  /** Set only when the row has none: a duration read from the bytes wins. */
  duration_ms?: number;
}

/** A text field's condition in a listing: equal to `exact`, or starting with `prefix`. */
export type TextMatch = { exact: string } | { prefix: string };

/** Which live calls of an organization a listing holds (every condition must hold). */
export interface CallFilter {
  to?: TextMatch;
  from?: TextMatch;
  /** `started_at` at or after this instant (calls without one are left out). */
  since?: Date;
  /** `started_at` before this instant (calls without one are left out). */
  until?: Date;
}

/**
 * A call's place in the listing order: `startedMs` is its `started_at` in milliseconds (null when
 * it has none, or one the index cannot read as ISO 8601), `seq` its registration order (larger
 * is later). The order: `startedMs` descending with null last, then `seq` descending.
 */
export interface ListPosition {
  startedMs: number | null;
  seq: number;
}

/** One call of a listing, with its place in the order (what a cursor is made of). */
export interface ListedCall {
  call: CallRow;
  position: ListPosition;
}

/**
 * A recording's waveform at the base resolution, cached beside its call (src/calls/peaks.ts):
 * min/max pairs over all channels, or why the bytes could not be decoded.
 */
export interface CallPeaks {
  /** The SHA-256 of the bytes they were computed from: a call whose sha256 differs recomputes. */
  sha256: string;
  /** Why there is no waveform (a format the daemon does not decode); null when `data` holds it. */
  unavailable: string | null;
  sampleRate: number;
  /** Sample frames in the recording. */
  frames: number;
  /** min0, max0, min1, max1, … as 16-bit values (empty when unavailable). */
  data: Int16Array;
}

export interface CallIndex {
  /** True when opening it created the index: a new, empty one. */
  readonly created: boolean;
  /** The row for `sid`, deleted or not, in any organization (for operators' CLI). */
  get(sid: string): Promise<CallRow | undefined>;
  /**
   * The live row for `sid` if it belongs to `org`; otherwise undefined, whatever the reason. At once
   * when the index can answer synchronously (SQLite), else a promise (src/core/awaitable.ts): every
   * stream URL and download looks up a call, and a promise per lookup is a cost of its own.
   */
  find(org: string, sid: string): Awaitable<CallRow | undefined>;
  /**
   * Up to `limit` live calls of `org` matching `filter`, in the listing order (ListPosition),
   * from just after `after` (from the start without it). Rows added later that sort after
   * `after` are found by the next call; none is returned twice.
   */
  list(org: string, filter: CallFilter, after: ListPosition | undefined, limit: number): Promise<ListedCall[]>;
  /** @throws CallExists when `call_sid` is already indexed */
  insert(call: NewCall): Promise<CallRow>;
  /**
   * Applies `patch` to the live row for `sid` if it belongs to `org` (`duration_ms` only where
   * the row has none). @returns the row as it is now, or undefined when `org` has no such call
   */
  update(org: string, sid: string, patch: CallPatch): Promise<CallRow | undefined>;
  /**
   * Optional: inserts `calls` in one transaction (bulk registration: `recproxy scan`). Each
   * answer is the row inserted, or undefined when its call_sid was already indexed (nothing is
   * written for it; the others still are).
   */
  insertMany?(calls: NewCall[]): Promise<(CallRow | undefined)[]>;
  /** Marks the call deleted; its row stays for bookkeeping. Resolves false if nothing changed. */
  markDeleted(sid: string): Promise<boolean>;
  /** Every row, deleted ones too, in call_sid order, read lazily (`recproxy doctor`). */
  every(): AsyncIterable<CallRow>;
  /** The store's own consistency check: the problems it finds (none: healthy). */
  checkIntegrity(): Promise<string[]>;
  /**
   * Puts the live call `sid` on legal hold (`on`), or releases it. Setting a hold that is set
   * keeps its first time. @returns the row as it is now; undefined when no live call `sid` exists
   */
  setHold(sid: string, on: boolean): Promise<CallRow | undefined>;
  /**
   * Up to `limit` live calls that are not on hold and are older than `query.before`, oldest
   * first (age instant ascending, then registration order), after `query.after`.
   */
  expired(query: ExpiryQuery, limit: number): Promise<ExpiredCall[]>;
  /** The peaks cached for the live call `sid`; undefined when none are (or the call is deleted). */
  getPeaks(sid: string): Promise<CallPeaks | undefined>;
  /**
   * Caches `peaks` for the live call `sid`, replacing what was cached. Deleting the call drops
   * them. @returns false when no live call `sid` exists (nothing is written)
   */
  putPeaks(sid: string, peaks: CallPeaks): Promise<boolean>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// API keys (key format and generation: src/core/api-keys.ts)


/** A key as listed: never the secret nor its hash. */
export interface ApiKeyInfo {
  id: string;
  orgs: string[];
  scope: ApiKeyScope;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** What `create` returns: `key` is the only time the secret exists outside the caller. */
export interface CreatedApiKey extends ApiKeyInfo {
  key: string;
}

/** What a genuine, unrevoked key grants. */
export interface VerifiedApiKey {
  id: string;
  orgs: string[];
  scope: ApiKeyScope;
}

export interface ApiKeys {
  /**
   * Issues a key. The returned `key` is shown once and never stored.
   * @throws InvalidOrganization for an org id outside the X-Organization-Id rule
   * @throws InvalidRequest for no orgs, an unknown scope, or a bad label
   */
  create(input: CreateApiKeyInput): Promise<CreatedApiKey>;
  /**
   * What `presented` grants, or undefined when it is malformed, unknown, wrong or revoked (the
   * caller answers all of these alike). Notes the key's use (`lastUsedAt`) without waiting. At
   * once when the store can answer synchronously, as `CallIndex.find`: every API request verifies.
   */
  verify(presented: string): Awaitable<VerifiedApiKey | undefined>;
  /**
   * True when `id` is the id of a revoked API key; false for a live key and for any other
   * principal id (a JWT subject, a proxy's user name).
   */
  isRevoked(id: string): Promise<boolean>;
  /** One key's listing (no secret), revoked or not. */
  get(id: string): Promise<ApiKeyInfo | undefined>;
  /** Every key ever issued, oldest first, revoked ones included (see `revokedAt`). No secrets. */
  list(): Promise<ApiKeyInfo[]>;
  /** @returns true if the key was live and is now revoked; false if unknown or already revoked */
  revoke(id: string): Promise<boolean>;
  /** Live (unrevoked) keys, or every key ever issued with `{ includeRevoked: true }`. */
  count(options?: { includeRevoked?: boolean }): Promise<number>;
  /** Writes the pending `lastUsedAt` values. @returns false if values are still pending */
  flushUses(): Promise<boolean>;
  /** Writes what is pending and stops. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The access audit

/**
 * `delete`: a call deleted (by an admin, the CLI, or retention); `hold`, `release`: its legal
 * hold set or cleared. The others are reads.
 */
export type AuditAction = 'stream_url' | 'download' | 'media' | 'delete' | 'hold' | 'release';

export interface AuditEntry {
  action: AuditAction;
  org: string;
  callSid: string;
  /** API key id, JWT subject or proxy user; null for media reads (the token is the capability). */
  principal?: string | null;
  /** The client's address (request.ip). */
  client?: string | null;
  /** The HTTP status answered. */
  status?: number | null;
  /** Body bytes the socket accepted by the time the response closed (0 for HEAD, 304; the URL issue has none). */
  bytes?: number | null;
  /** When it happened; defaults to the moment `record` is called. */
  at?: Date;
}

/** A request refused (UNAUTHORIZED, ORG_FORBIDDEN, CALL_NOT_FOUND, …), for AuditSink.deny. */
export interface DeniedAttempt {
  /** The error code answered. */
  code: string;
  status: number;
  client?: string | null;
  /** The organization named, when the credential was genuine. */
  org?: string | null;
  callSid?: string | null;
  principal?: string | null;
  /** When it happened; defaults to now. */
  at?: Date;
}

/**
 * A row as stored. `at` is an ISO 8601 UTC timestamp with milliseconds. Denied rows
 * (`action: 'denied'`) also carry `code` and `count`, and may have no organization or call.
 * Stream-URL rows carry `count`: a principal's identical requests recorded within one write
 * batch are one row (`record`).
 */
export interface AuditRow {
  id: number;
  at: string;
  action: AuditAction | 'denied';
  org_id: string | null;
  call_sid: string | null;
  principal: string | null;
  client: string | null;
  status: number | null;
  bytes: number | null;
  code?: string;
  count?: number;
}

export interface AuditQuery {
  sid?: string;
  org?: string;
  /** Only rows of this action; without it, every action but `denied`. */
  action?: AuditAction | 'denied';
  /** Rows at or after this instant. */
  since?: Date;
  /** Rows before this instant. */
  until?: Date;
  /** At most this many rows (default 1000, at most 100000). */
  limit?: number;
  /** `desc` (the default): newest first; `asc`: oldest first. */
  order?: 'asc' | 'desc';
}

/** How `AuditSink.prune` paces itself. */
export interface AuditPruneOptions {
  /** Rows per transaction (default 1000). */
  batchSize?: number;
  /** Pause between two transactions, so writes and reads go on between them (default 0). */
  pauseMs?: number;
  signal?: AbortSignal;
}

export interface AuditSink {
  /**
   * Queues one entry; never throws, never waits for the disk. After `close()` it is counted in
   * `dropped`. A stream-URL entry identical but for its time to one still queued is counted in
   * that one's row.
   */
  record(entry: AuditEntry): void;
  /**
   * Counts one denied attempt (per client address, code and minute, bounded); never throws,
   * never waits for the disk.
   */
  deny(attempt: DeniedAttempt): void;
  /** Writes (or hands over for writing) every queued entry now. @returns how many */
  flush(): Promise<number>;
  /** Matching rows; entries recorded before the call are included. */
  query(q?: AuditQuery): Promise<AuditRow[]>;
  /**
   * Deletes the rows older than `until`, oldest first, in small transactions, off the request
   * path (RECPROXY_AUDIT_RETENTION_DAYS; `recproxy audit prune`). Stops early, keeping what it
   * deleted, when `signal` aborts or the sink closes. @returns how many rows it deleted
   */
  prune(until: Date, options?: AuditPruneOptions): Promise<number>;
  /**
   * Every row older than `until`, oldest first (`at`, then `id`), every action (denied
   * included, with `code` and `count`), read a page at a time (`recproxy audit export`).
   */
  rowsBefore(until: Date): AsyncIterable<AuditRow>;
  /** Writes what is queued and refuses further records. Idempotent. */
  close(): Promise<void>;
  /** Entries recorded but not yet written. */
  readonly pending: number;
  /** Entries thrown away because writes kept failing (or came after close). */
  readonly dropped: number;
  /** Where the audit is kept (a file path, for the start-up log). */
  readonly file: string;
}
