/**
 * Requests per key (a credential, or a client address) counted in fixed windows of `windowMs`,
 * every key's window ending at once, as AuthFailures counts failures: a request over `max` in
 * the window is refused until it ends. One map lookup a request, synchronous (the guard's
 * `limitRate`, src/routes/guard.ts, says why). At most `maxKeys` keys are counted in a window;
 * requests of further keys are let through uncounted until it ends, so a flood of addresses
 * cannot grow the map, nor lock out a client it has not seen.
 */
export class RequestLimits {
  readonly #counts = new Map<string, number>();
  #windowEnds = 0;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    readonly maxKeys = 100_000,
  ) {}

  /** Counts a request of `key` at `now`: its count in the window (over `max`: refuse it). */
  take(key: string, now: number): number {
    if (now >= this.#windowEnds) {
      this.#counts.clear();
      this.#windowEnds = now + this.windowMs;
    }
    const count = (this.#counts.get(key) ?? 0) + 1;
    if (count === 1 && this.#counts.size >= this.maxKeys) return 1;
    this.#counts.set(key, count);
    return count;
  }

  /** Milliseconds from `now` until the window `take` counted in ends. */
  msLeft(now: number): number {
    return Math.max(0, this.#windowEnds - now);
  }
}
