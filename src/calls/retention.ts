/**
 * Retention: calls older than their organization's retention period are deleted, bytes then row
 * (src/calls/delete.ts), skipping calls on legal hold, each deletion written to the access audit
 * (action `delete`, principal `retention`). A call's age is its `started_at`, or its `created_at`
 * when it has none.
 *
 * A pass walks the index's retention order (CallIndex.expired: oldest first, over an index of
 * live, unheld calls) in batches of `batchSize`, pausing `pauseMs` between batches so a daemon's
 * requests keep the event loop and the disk; each batch continues after the last call of the one
 * before, so a call that failed (storage down) is not retried until the next pass. `recproxy
 * retention` runs one pass; the daemon runs one every RECPROXY_RETENTION_INTERVAL_SEC on an
 * unref'd timer (RetentionSweeper), off the request path. The access audit has a retention of
 * its own (RECPROXY_AUDIT_RETENTION_DAYS, auditRetentionPass), run by a second sweeper.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { hasCode } from '../core/errors.js';
import { removeCall, type DeleteDeps } from './delete.js';
import type { AuditSink, CallIndex, CallRow, ExpiryQuery } from '../stores/types.js';

/** The principal the audit names for retention's deletions. */
export const RETENTION_PRINCIPAL = 'retention';

const DAY_MS = 86_400_000;

/**
 * How long calls are kept: `defaultDays` for every organization (undefined: kept forever), and
 * organizations with a period of their own (`0`: kept forever whatever the default).
 */
export interface RetentionPolicy {
  defaultDays?: number;
  byOrg: ReadonlyMap<string, number>;
}

/** True when the policy can delete anything. */
export function retentionActive(policy: RetentionPolicy): boolean {
  return policy.defaultDays !== undefined || [...policy.byOrg.values()].some((days) => days > 0);
}

/** The sweeps of one pass (one index walk each): each organization with a period of its own, then the rest. */
export function sweepsOf(policy: RetentionPolicy, now: Date, org?: string): Omit<ExpiryQuery, 'after'>[] {
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  if (org !== undefined) {
    const days = policy.byOrg.get(org) ?? policy.defaultDays;
    return days ? [{ org, before: before(days) }] : [];
  }
  const sweeps: Omit<ExpiryQuery, 'after'>[] = [];
  for (const [name, days] of policy.byOrg) if (days > 0) sweeps.push({ org: name, before: before(days) });
  if (policy.defaultDays !== undefined) sweeps.push({ excludeOrgs: [...policy.byOrg.keys()], before: before(policy.defaultDays) });
  return sweeps;
}

export interface RetentionDeps extends DeleteDeps {
  index: DeleteDeps['index'] & Pick<CallIndex, 'expired'>;
  audit: Pick<AuditSink, 'record'>;
}

/** What became of one call of a pass: deleted, listed only (dry run), or left (with the reason). */
export type RetentionOutcome = 'deleted' | 'listed' | 'failed';

export interface PassOptions {
  /** Calls per batch. */
  batchSize: number;
  /** The pause between batches, milliseconds (0: none). */
  pauseMs?: number;
  /** List what would go; delete nothing, record nothing. */
  dryRun?: boolean;
  /** Only this organization's calls. */
  org?: string;
  /** The instant ages are measured from (now). */
  now?: Date;
  /** Told of each call the pass took (a failed one with its reason). */
  onCall?: (call: CallRow, outcome: RetentionOutcome, reason?: string) => void;
  /** Stops the pass after the call in hand (a daemon closing, SIGINT). */
  signal?: AbortSignal;
}

export interface PassResult {
  deleted: number;
  listed: number;
  failed: number;
  /** True when `signal` stopped the pass before it went through everything. */
  interrupted: boolean;
}

/** One retention pass. Never throws for one call: a failure is counted and told to `onCall`. */
export async function retentionPass(deps: RetentionDeps, policy: RetentionPolicy, options: PassOptions): Promise<PassResult> {
  const result: PassResult = { deleted: 0, listed: 0, failed: 0, interrupted: false };
  const now = options.now ?? new Date();
  const stopped = () => (options.signal?.aborted ? (result.interrupted = true) : false);
  for (const sweep of sweepsOf(policy, now, options.org)) {
    let after: ExpiryQuery['after'];
    for (;;) {
      if (stopped()) return result;
      const batch = await deps.index.expired({ ...sweep, after }, options.batchSize);
      for (const { call } of batch) {
        if (stopped()) return result;
        if (options.dryRun) {
          result.listed++;
          options.onCall?.(call, 'listed');
          continue;
        }
        try {
          const done = await removeCall(deps, call);
          if (done.deleted) {
            deps.audit.record({ action: 'delete', org: call.org_id, callSid: call.call_sid, principal: RETENTION_PRINCIPAL });
          }
          result.deleted++;
          options.onCall?.(call, 'deleted');
        } catch (err) {
          result.failed++;
          const reason = hasCode(err, 'LEGAL_HOLD') ? 'put on legal hold during the pass' : (err as Error).message;
          options.onCall?.(call, 'failed', reason);
        }
      }
      if (batch.length < options.batchSize) break;
      after = batch.at(-1)!.position;
      if (options.pauseMs) {
        try {
          await sleep(options.pauseMs, undefined, { signal: options.signal });
        } catch {
          // aborted: `stopped()` says so at the top of the loop
        }
      }
    }
  }
  return result;
}

export interface SweeperOptions extends Omit<PassOptions, 'dryRun' | 'org' | 'now' | 'signal' | 'onCall'> {
  /** Between the end of one pass and the start of the next, milliseconds; the first starts after min(this, 10 s). */
  intervalMs: number;
  /** Told of each pass that did something, and of each call it could not delete. */
  log?: { info(msg: string): void; warn(msg: string): void };
  /** What a pass deletes, for the log: `calls` (the default) or `audit rows`. */
  what?: string;
}

/**
 * One pass of the audit's retention: the rows older than `days` go (AuditSink.prune, oldest
 * first, a small transaction at a time with `pauseMs` between, off the request path).
 */
export async function auditRetentionPass(
  audit: Pick<AuditSink, 'prune'>,
  days: number,
  options: Pick<PassOptions, 'pauseMs' | 'signal' | 'now'>,
): Promise<PassResult> {
  const until = new Date((options.now ?? new Date()).getTime() - days * DAY_MS);
  const deleted = await audit.prune(until, { pauseMs: options.pauseMs, signal: options.signal });
  return { deleted, listed: 0, failed: 0, interrupted: options.signal?.aborted ?? false };
}

/** The daemon's retention: a pass every `intervalMs` on an unref'd timer, stopped by `stop()`. */
export class RetentionSweeper {
  readonly #run: (options: PassOptions) => Promise<PassResult>;
  readonly #options: SweeperOptions;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** Passes finished (tests wait on outcomes, not on this; it is for the log and the curious). */
  passes = 0;

  /** `run` is one pass (retentionPass over the daemon's parts and policy: CallsService.retentionPass). */
  constructor(run: (options: PassOptions) => Promise<PassResult>, options: SweeperOptions) {
    this.#run = run;
    this.#options = options;
  }

  start(): void {
    this.#schedule(Math.min(this.#options.intervalMs, 10_000));
  }

  #schedule(ms: number): void {
    if (this.#abort.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
        this.#schedule(this.#options.intervalMs);
      });
    }, ms).unref();
  }

  async #pass(): Promise<void> {
    const log = this.#options.log;
    const what = this.#options.what ?? 'calls';
    try {
      const result = await this.#run({
        batchSize: this.#options.batchSize,
        pauseMs: this.#options.pauseMs,
        signal: this.#abort.signal,
        onCall: (call, outcome, reason) => {
          if (outcome === 'failed') log?.warn(`retention: ${call.call_sid} (${call.org_id}) not deleted: ${reason}`);
        },
      });
      if (result.deleted || result.failed) log?.info(`retention: ${result.deleted} ${what} deleted, ${result.failed} failed`);
    } catch (err) {
      if (!this.#abort.signal.aborted) log?.warn(`retention pass${what === 'calls' ? '' : ` (${what})`} failed: ${(err as Error).message}`);
    }
    this.passes++;
  }

  /** Stops the timer and the pass in hand (after its current call), and waits for it. */
  async stop(): Promise<void> {
    this.#abort.abort();
    clearTimeout(this.#timer);
    await this.#running;
  }
}
