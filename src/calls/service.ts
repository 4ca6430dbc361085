/**
 * The calls service: the rules about calls, between the HTTP routes and CLI commands (thin
 * adapters over it) and the stores. Find a call for an organization, hand out a stream URL for
 * it, register a recording from a stream of its bytes. It receives the parts it uses (the index,
 * the storage adapter, the daemon's media URLs and a few settings), not the whole context.
 */
import { assertOrg, assertScope, type Principal } from '../auth/authenticate.js';
import { whenReady, type Awaitable } from '../core/awaitable.js';
import { CallNotFound } from '../core/errors.js';
import { registerRecording, type RecordingSource, type RegisterFields, type Registered } from './register.js';
import { StoredRegistrar } from './register-stored.js';
import { StreamUrlCache, issueStreamUrl, type StreamUrl, type StreamUrlDeps } from './stream-url.js';
import type { StorageAdapter } from '../core/storage.js';
import type { CallIndex, CallRow } from '../stores/types.js';
import type { MediaUrls } from './media-urls.js';
import { encodeCursor, parseListQuery, type CallPage, type ListQuery } from './listing.js';
import { enrichment, type ImportRow } from './import.js';
import { removeCall, type Deleted } from './delete.js';
import { retentionPass, type PassOptions, type PassResult, type RetentionPolicy } from './retention.js';
import type { AuditSink } from '../stores/types.js';
import { WaveformPeaks, type PeaksJson } from './peaks.js';

/** The index as the service uses it. */
export type CallsIndex = Pick<CallIndex, 'get' | 'find' | 'list' | 'insert' | 'update' | 'insertMany' | 'markDeleted' | 'setHold' | 'expired' | 'getPeaks' | 'putPeaks'>;

export interface CallsServiceOptions {
  index: CallsIndex;
  storage: StorageAdapter;
  /** The daemon's `/media/{token}` URLs, for storage that does not presign (and `proxy` mode). */
  mediaUrls: Pick<MediaUrls, 'url'>;
  /** RECPROXY_STREAM_TTL, seconds. */
  streamTtl: number;
  /** RECPROXY_STREAM_MODE. */
  streamMode: 'presigned' | 'proxy';
  /** RECPROXY_STREAM_URL_REUSE_SEC: how long a stream URL is handed out again. */
  streamUrlReuseSec: number;
  /** Told of each stream URL made (not reused), by kind (the metrics count them). */
  onStreamUrl?: StreamUrlDeps['onIssued'];
}

export class CallsService {
  readonly #index: CallsIndex;
  readonly #storage: StorageAdapter;
  readonly #streams: StreamUrlDeps;
  /** In-place registrations, their index rows written in batches. */
  readonly #stored: StoredRegistrar;
  /** Waveform peaks, cached in the index (src/calls/peaks.ts). */
  readonly #peaks: WaveformPeaks;
  /** Stream URLs recently issued, reused within RECPROXY_STREAM_URL_REUSE_SEC. */
  readonly streamUrls: StreamUrlCache;

  constructor(options: CallsServiceOptions) {
    this.#index = options.index;
    this.#storage = options.storage;
    this.streamUrls = new StreamUrlCache(options.streamUrlReuseSec * 1000);
    this.#stored = new StoredRegistrar({ index: options.index, storage: options.storage });
    this.#peaks = new WaveformPeaks({ index: options.index, storage: options.storage });
    this.#streams = {
      storage: options.storage,
      mediaUrls: options.mediaUrls,
      streamUrls: this.streamUrls,
      streamTtl: options.streamTtl,
      streamMode: options.streamMode,
      onIssued: options.onStreamUrl,
    };
  }

  /**
   * The call `sid` if `principal` may read it as organization `org`. A call of another
   * organization is answered exactly like a call that does not exist. At once when the index
   * answers at once (src/core/awaitable.ts); a refusal is then thrown rather than rejected.
   * @throws OrgForbidden (the principal does not hold `org`), CallNotFound (anything else)
   */
  findCall(org: string, sid: string, principal: Principal): Awaitable<CallRow> {
    assertOrg(principal, org);
    return whenReady(this.#index.find(org, sid), (call) => {
      if (!call) throw new CallNotFound(sid);
      return call;
    });
  }

  /**
   * One page of the live calls of `org` that `principal` may read, in the listing order
   * (src/calls/listing.ts), with the cursor of the next page.
   * @throws OrgForbidden, InvalidRequest (a bad limit, since or until), InvalidCursor
   */
  async listCalls(org: string, query: ListQuery, principal: Principal): Promise<CallPage> {
    assertOrg(principal, org);
    const { filter, after, limit, digest } = parseListQuery(org, query);
    // One more than asked: whether a next page exists, without an empty last page.
    const rows = await this.#index.list(org, filter, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      calls: page.map((r) => r.call),
      next_cursor: rows.length > limit && last ? encodeCursor(org, digest, last.position) : null,
    };
  }

  /** Resolves once the index has answered a lookup (readiness: src/routes/health.ts). */
  async indexAnswers(): Promise<void> {
    await this.#index.get('call_0');
  }

  /**
   * Deletes the call `sid` of `org` for an admin `principal` (src/calls/delete.ts): bytes, then
   * row. A call already deleted is done again (`deleted: false`). Another organization's call is
   * answered like a missing one.
   * @throws OrgForbidden, InsufficientScope, CallNotFound, LegalHold, StorageUnavailable
   */
  async deleteCall(org: string, sid: string, principal: Principal): Promise<Deleted> {
    assertOrg(principal, org);
    assertScope(principal, 'admin');
    const call = await this.#index.get(sid);
    if (!call || call.org_id !== org) throw new CallNotFound(sid);
    return removeCall({ index: this.#index, storage: this.#storage }, call);
  }

  /**
   * Deletes the call `sid` whatever its organization: the operator's `recproxy calls delete`.
   * @throws CallNotFound (never indexed), LegalHold, StorageUnavailable
   */
  async deleteAnyCall(sid: string): Promise<Deleted> {
    const call = await this.#index.get(sid);
    if (!call) throw new CallNotFound(sid);
    return removeCall({ index: this.#index, storage: this.#storage }, call);
  }

  /**
   * Puts the live call `sid` of `org` on legal hold (`on`) or releases it, for an admin `principal`.
   * @returns the call as it is now
   * @throws OrgForbidden, InsufficientScope, CallNotFound
   */
  async setHold(org: string, sid: string, principal: Principal, on: boolean): Promise<CallRow> {
    assertOrg(principal, org);
    assertScope(principal, 'admin');
    const call = await this.#index.find(org, sid);
    const updated = call && (await this.#index.setHold(sid, on));
    if (!updated) throw new CallNotFound(sid);
    return updated;
  }

  /**
   * One retention pass under `policy` (src/calls/retention.ts), each deletion recorded in `audit`.
   */
  retentionPass(policy: RetentionPolicy, audit: Pick<AuditSink, 'record'>, options: PassOptions): Promise<PassResult> {
    return retentionPass({ index: this.#index, storage: this.#storage, audit }, policy, options);
  }

  /**
   * The stream URL of `call` for the principal `principalId` (src/calls/stream-url.ts): at once
   * when it needs no storage call (a URL issued again), else a promise.
   * @throws ObjectNotFound (the recording is not in storage), StorageUnavailable
   */
  streamUrl(call: CallRow, principalId: string, nowMs = Date.now()): Awaitable<StreamUrl> {
    return issueStreamUrl(this.#streams, call, principalId, nowMs);
  }

  /**
   * `points` min/max pairs of the recording of `call` (src/calls/peaks.ts: computed once, cached).
   * @throws WaveformUnavailable (a format the daemon does not decode), ObjectNotFound, StorageUnavailable
   */
  peaks(call: CallRow, points: number): Promise<PeaksJson> {
    return this.#peaks.peaks(call, points);
  }

  /**
   * Enrich the live call `sid` of `org` with the metadata of an import row (src/calls/import.ts
   * `enrichment`: to, from, started_at, and the duration only where there is none). A call of
   * another organization is never touched.
   * @returns the call as it is now and whether the row changed it; undefined when `org` has no such call
   */
  async enrich(org: string, sid: string, row: Pick<ImportRow, 'to' | 'from' | 'startedAt' | 'durationMs'>): Promise<{ call: CallRow; changed: boolean } | undefined> {
    const call = await this.#index.find(org, sid);
    if (!call) return undefined;
    const patch = enrichment(call, row);
    if (!Object.keys(patch).length) return { call, changed: false };
    const updated = await this.#index.update(org, sid, patch);
    return updated && { call: updated, changed: true };
  }

  /**
   * Register the recording `source` as the call `fields` (src/calls/register.ts); the same
   * call_sid with the same bytes again answers the existing row with `created: false`.
   * @throws InvalidFields (naming the fields), InvalidRequest (not audio), CallExists (other bytes), StorageUnavailable
   */
  register(fields: RegisterFields, source: RecordingSource | (() => Promise<RecordingSource>)): Promise<Registered> {
    return registerRecording({ index: this.#index, storage: this.#storage }, fields, source);
  }

  /**
   * Index the object already at `key` in storage as the call `fields`, in place
   * (src/calls/register-stored.ts); concurrent calls share index transactions.
   * @throws InvalidFields, InvalidRequest (not audio), CallExists, ObjectNotFound, StorageUnavailable
   */
  registerStored(fields: RegisterFields, key: string): Promise<Registered> {
    return this.#stored.register(fields, key);
  }
}
