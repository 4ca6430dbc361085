/**
 * Counts per key (a credential, a client address) in fixed windows of `windowMs` that end
 * together for every key: the request rate limits (`limitRate`, src/routes/guard.ts) and the
 * failed-authentication limit (src/auth-failures.ts) count in them. One map lookup a count,
 * synchronous. At most `maxKeys` keys are counted in a window; further keys are not remembered
 * until it ends (their count stays 1), so a flood of addresses cannot grow the map, nor lock out
 * a client it has not seen.
 */
export class WindowCounts {
  readonly #counts = new Map<string, number>();
  #windowEnds = 0;

  constructor(
    readonly windowMs: number,
    readonly maxKeys = 100_000,
  ) {}

  /** True while nothing is counted (nothing yet, or the window ended and was read). */
  get empty(): boolean {
    return this.#counts.size === 0;
  }

  /** Counts one for `key` at `now` (a window ended: a new one starts); its count in the window. */
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

  /** `key`'s count in the window at `now`, without counting (0 once the window ended). */
  count(key: string, now: number): number {
    if (now >= this.#windowEnds) {
      this.#counts.clear();
      return 0;
    }
    return this.#counts.get(key) ?? 0;
  }

  /** Milliseconds from `now` until the window ends. */
  msLeft(now: number): number {
    return Math.max(0, this.#windowEnds - now);
  }
}
