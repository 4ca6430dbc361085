/**
 * Failed authentications (401) per client address, counted in fixed windows of
 * RECPROXY_RATE_LIMIT_WINDOW_MS: an address with RECPROXY_AUTH_FAIL_LIMIT_MAX failures in the
 * window is refused before its credentials are looked at, until the window ends. Checking is a
 * size test while no address has failed. At most `maxAddresses` are tracked in a window; failures
 * from further addresses are not counted.
 */
import { WindowCounts } from './window-counts.js';

export class AuthFailures {
  readonly #counts: WindowCounts;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    readonly maxAddresses = 100_000,
  ) {
    this.#counts = new WindowCounts(windowMs, maxAddresses);
  }

  /** True while no address has failed in the window: nothing to check. */
  get idle(): boolean {
    return this.#counts.empty;
  }

  /** Milliseconds until `address` may try again; 0 when it may now. */
  retryAfterMs(address: string | undefined, now = Date.now()): number {
    if (this.#counts.empty) return 0;
    return this.#counts.count(address ?? '', now) >= this.max ? this.#counts.msLeft(now) : 0;
  }

  /** Counts one failed authentication of `address` (nothing when the limit is off: max 0). */
  fail(address: string | undefined, now = Date.now()): void {
    if (this.max <= 0) return;
    this.#counts.take(address ?? '', now);
  }
}
