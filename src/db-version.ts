/**
 * Memoised reads that stay correct across processes. SQLite's `PRAGMA data_version` changes
 * whenever another connection (the CLI revoking a key, registering a call) commits; writes made
 * through this connection call `invalidate()`. A hit costs one trivial pragma instead of a query.
 */
import type Database from 'better-sqlite3';

export class VersionedCache<V> {
  readonly #version: Database.Statement<[], number>;
  readonly #entries = new Map<string, V>();
  #seen = -1;

  constructor(
    db: Database.Database,
    readonly maxEntries = 10_000,
  ) {
    this.#version = db.prepare('PRAGMA data_version').pluck() as Database.Statement<[], number>;
  }

  /** The memoised value, or `load()`'s (kept when not undefined). */
  get(key: string, load: () => V | undefined): V | undefined {
    const version = this.#version.get()!;
    if (version !== this.#seen) {
      this.#entries.clear();
      this.#seen = version;
    }
    const hit = this.#entries.get(key);
    if (hit !== undefined) return hit;
    const value = load();
    if (value !== undefined) {
      if (this.#entries.size >= this.maxEntries) this.#entries.clear();
      this.#entries.set(key, value);
    }
    return value;
  }

  /** Forget everything: this connection changed the data. */
  invalidate(): void {
    this.#entries.clear();
  }
}
