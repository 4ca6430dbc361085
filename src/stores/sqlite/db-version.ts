/**
 * Memoised reads that stay correct across processes. SQLite's `PRAGMA data_version` changes
 * whenever another connection (the CLI revoking a key, registering a call) commits; writes made
 * through this connection call `invalidate()`. A hit costs one trivial pragma instead of a query.
 */
import type Database from 'better-sqlite3';
import { fnv1a } from '../../core/hash.js';

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

/** `admitOnSecondLoad`'s memory of keys loaded once: slots of a 32-bit hash (64 KiB). */
const DOORKEEPER_SLOTS = 1 << 14;

export interface VersionedCacheOptions {
  /**
   * Keep a value only when its key is loaded a second time (while the key's hash still holds its
   * slot among DOORKEEPER_SLOTS; a collision only keeps a value early or late). For reads where
   * most keys are asked once (the call lookup with a million calls): a value kept then dropped
   * unasked survives the young generation into the old one, and makes the scavenges longer and
   * the old space's garbage; a typed array of hashes makes neither.
   */
  admitOnSecondLoad?: boolean;
}

export class VersionedCache<V> {
  readonly #entries = new Map<string, V>();
  #seen = -1;
  readonly #once: Int32Array | undefined;

  constructor(
    readonly version: DataVersion,
    readonly maxEntries = 10_000,
    options: VersionedCacheOptions = {},
  ) {
    if (options.admitOnSecondLoad) this.#once = new Int32Array(DOORKEEPER_SLOTS);
  }

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
    if (value !== undefined && this.#admit(key)) {
      if (this.#entries.size >= this.maxEntries) this.#entries.clear();
      this.#entries.set(key, value);
    }
    return value;
  }

  /** True when `key` may be kept: always, or (admitOnSecondLoad) on its second load. */
  #admit(key: string): boolean {
    if (!this.#once) return true;
    const hash = fnv1a(key) || 1; // 0 marks an empty slot
    const slot = hash & (DOORKEEPER_SLOTS - 1);
    if (this.#once[slot] === hash) return true;
    this.#once[slot] = hash;
    return false;
  }

  /** Forget everything: this connection changed the data. */
  invalidate(): void {
    this.#entries.clear();
  }
}
