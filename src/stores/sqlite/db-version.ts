/**
 * Memoised reads that stay correct across processes. SQLite's `PRAGMA data_version` changes
 * whenever another connection (the CLI revoking a key, registering a call) commits; writes made
 * through this connection call `invalidate()`. A hit costs one trivial pragma instead of a query.
 */
import type Database from 'better-sqlite3';

/**
 * `PRAGMA data_version`, read at most once per turn of the event loop: in WAL mode each read
 * opens a read transaction, which costs more than the lookups it guards. Everything handled in
 * one turn is concurrent anyway; the next turn reads it afresh.
 */
export class DataVersion {
  readonly #pragma: Database.Statement<[], number>;
  #value: number | undefined;

  constructor(db: Database.Database) {
    this.#pragma = db.prepare('PRAGMA data_version').pluck() as Database.Statement<[], number>;
  }

  current(): number {
    if (this.#value === undefined) {
      this.#value = this.#pragma.get()!;
      setImmediate(() => (this.#value = undefined));
    }
    return this.#value;
  }
}

export class VersionedCache<V> {
  readonly #entries = new Map<string, V>();
  #seen = -1;

  constructor(
    readonly version: DataVersion,
    readonly maxEntries = 10_000,
  ) {}

  /** The memoised value, or `load()`'s (kept when not undefined). */
  get(key: string, load: () => V | undefined): V | undefined {
    const version = this.version.current();
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
