/**
 * The API keys (src/stores/types.ts `ApiKeys`) in the call index's SQLite file, on the index's
 * connection. The key itself (format, making, hash) is src/core/api-keys.ts.
 *
 * Verification looks the row up by id (a prepared primary-key SELECT, microseconds), then
 * compares hashes. Results are memoised until the database changes (db-version.ts), so
 * `revoke` takes effect on the very next request, from this process or another one (the CLI)
 * sharing the file. `isRevoked` answers the media route the same way, for the media URLs a
 * key was handed.
 *
 * `verify` never writes: `last_used_at` values wait in memory and are written together right
 * after (setImmediate), without waiting for a lock. While another process holds the index's
 * write lock they stay pending and are tried again every `retryMs`, so a lock held outside
 * never holds up a request (in WAL mode the reads `verify` makes are not blocked by a writer).
 */
import type Database from 'better-sqlite3';
import { apiKeyIdOf, checkNewApiKey, hashKey, isApiKeyId, keyMatchesHash, newApiKey } from '../../core/api-keys.js';
import { DataVersion, VersionedCache } from './db-version.js';
import type { ApiKeyInfo, ApiKeyScope, ApiKeys, CreateApiKeyInput, CreatedApiKey, VerifiedApiKey } from '../types.js';

/**
 * Schema steps for the index's append-only MIGRATIONS array (one entry, one user_version).
 * Apply them before constructing a SqliteApiKeys.
 */
export const API_KEY_MIGRATIONS: string[] = [
  `CREATE TABLE api_keys (
     id            TEXT PRIMARY KEY,
     hash          TEXT NOT NULL UNIQUE,
     orgs          TEXT NOT NULL,               -- JSON array of organization ids
     scope         TEXT NOT NULL CHECK (scope IN ('read', 'admin')),
     label         TEXT,
     created_at    TEXT NOT NULL,
     revoked_at    TEXT,
     last_used_at  TEXT
   );`,
];

export interface SqliteApiKeysOptions {
  /** The clock, for tests. */
  now?: () => Date;
  /**
   * `last_used_at` is written at most once per key per this many milliseconds (default 60000),
   * so the hot path does not write to SQLite on every request. 0 writes on every verify.
   */
  lastUsedResolutionMs?: number;
  /** The database's change counter, shared with the other memoised reads of the same handle. */
  dataVersion?: DataVersion;
  /** After a write of `last_used_at` found the index locked, try again this much later (default 1000). */
  retryMs?: number;
}

interface KeyRow {
  id: string;
  hash: string;
  orgs: string;
  scope: ApiKeyScope;
  label: string | null;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export class SqliteApiKeys implements ApiKeys {
  readonly #now: () => Date;
  readonly #resolutionMs: number;
  /** When each key's last_used_at was last written by this process (not an auth cache). */
  readonly #touched = new Map<string, number>();
  /** `last_used_at` values not written yet, by key id. */
  readonly #pendingUse = new Map<string, string>();
  #useWrite: NodeJS.Immediate | undefined;
  #useRetry: NodeJS.Timeout | undefined;
  readonly #retryMs: number;
  readonly #db: Database.Database;
  readonly #insert: Database.Statement<[KeyRow]>;
  readonly #byId: Database.Statement<[string], KeyRow>;
  readonly #all: Database.Statement<[], KeyRow>;
  readonly #revoke: Database.Statement<[string, string]>;
  readonly #writeUses: (uses: Map<string, string>) => void;
  readonly #countActive: Database.Statement<[], { n: number }>;
  readonly #countAll: Database.Statement<[], { n: number }>;
  /** Keys verified since the data last changed (any connection's revoke clears it). */
  readonly #verified: VersionedCache<VerifiedApiKey>;
  /** Whether a key id is revoked, since the data last changed. */
  readonly #revoked: VersionedCache<boolean>;

  /** `db` must already carry API_KEY_MIGRATIONS. The store never closes it. */
  constructor(db: Database.Database, options: SqliteApiKeysOptions = {}) {
    this.#now = options.now ?? (() => new Date());
    this.#resolutionMs = options.lastUsedResolutionMs ?? 60_000;
    this.#retryMs = options.retryMs ?? 1000;
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO api_keys (id, hash, orgs, scope, label, created_at, revoked_at, last_used_at)
       VALUES (@id, @hash, @orgs, @scope, @label, @created_at, @revoked_at, @last_used_at)`,
    );
    const columns = 'id, hash, orgs, scope, label, created_at, revoked_at, last_used_at';
    this.#byId = db.prepare(`SELECT ${columns} FROM api_keys WHERE id = ?`);
    this.#all = db.prepare(`SELECT ${columns} FROM api_keys ORDER BY created_at, id`);
    this.#revoke = db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    const touch = db.prepare<[string, string]>('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
    this.#writeUses = db.transaction((uses: Map<string, string>) => {
      for (const [id, at] of uses) touch.run(at, id);
    });
    this.#countActive = db.prepare('SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL');
    this.#countAll = db.prepare('SELECT count(*) AS n FROM api_keys');
    const dataVersion = options.dataVersion ?? new DataVersion(db);
    this.#verified = new VersionedCache(dataVersion);
    this.#revoked = new VersionedCache(dataVersion);
  }

  async create(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    return this.createNow(input);
  }

  /**
   * `create`, answered at once: SQLite writes synchronously, so fixtures that cannot wait
   * (a test's request headers) get the key directly.
   */
  createNow(input: CreateApiKeyInput): CreatedApiKey {
    const { orgs, scope, label } = checkNewApiKey(input);
    const createdAt = this.#now().toISOString();
    // A 71-bit id collides practically never; retry rather than fail if it does.
    for (let attempt = 0; ; attempt++) {
      const { id, key } = newApiKey();
      try {
        this.#insert.run({
          id,
          hash: hashKey(key),
          orgs: JSON.stringify(orgs),
          scope,
          label,
          created_at: createdAt,
          revoked_at: null,
          last_used_at: null,
        });
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY' && attempt < 3) continue;
        throw err;
      }
      return { id, key, orgs, scope, label, createdAt, revokedAt: null, lastUsedAt: null };
    }
  }

  /**
   * A verified key is remembered until the database changes: a revocation through any
   * connection counts from the very next request.
   */
  verify(presented: string): VerifiedApiKey | undefined {
    const verified = this.#verified.get(presented, () => this.#verifyRow(presented));
    if (verified) this.#noteUse(verified.id);
    return verified;
  }

  #verifyRow(presented: string): VerifiedApiKey | undefined {
    const id = apiKeyIdOf(presented);
    if (id === undefined) return undefined;
    const row = this.#byId.get(id);
    if (!row || !keyMatchesHash(presented, row.hash)) return undefined;
    if (row.revoked_at !== null) return undefined;
    return { id: row.id, orgs: parseOrgs(row.orgs), scope: row.scope };
  }

  /** Memoised like `verify`: one primary-key read per id until the data changes. */
  async isRevoked(id: string): Promise<boolean> {
    if (!isApiKeyId(id)) return false;
    return this.#revoked.get(id, () => (this.#byId.get(id)?.revoked_at ?? null) !== null)!;
  }

  /** Pending `last_used_at` values are written first. */
  async get(id: string): Promise<ApiKeyInfo | undefined> {
    this.#flushUses();
    const row = this.#byId.get(id);
    return row && toInfo(row);
  }

  async list(): Promise<ApiKeyInfo[]> {
    this.#flushUses();
    return this.#all.all().map(toInfo);
  }

  /**
   * Writes the pending `last_used_at` values in one transaction. With `{ wait: false }` (the
   * deferred writes) a locked index is not waited for: the values stay pending for the retry;
   * otherwise the connection's busy timeout applies and a failure is kept for later all the same.
   * @returns false if values are still pending
   */
  async flushUses(options: { wait?: boolean } = {}): Promise<boolean> {
    return this.#flushUses(options);
  }

  #flushUses(options: { wait?: boolean } = {}): boolean {
    clearImmediate(this.#useWrite);
    clearTimeout(this.#useRetry);
    this.#useWrite = this.#useRetry = undefined;
    if (this.#pendingUse.size === 0) return true;
    if (!this.#db.open) return false; // closed under a deferred write: nothing can be written
    const timeout = this.#db.pragma('busy_timeout', { simple: true }) as number;
    if (options.wait === false) this.#db.pragma('busy_timeout = 0');
    try {
      this.#writeUses(this.#pendingUse);
      this.#pendingUse.clear();
      return true;
    } catch {
      // Bookkeeping only (SQLITE_BUSY under a long CLI write, say): kept for a later attempt.
      this.#useRetry = setTimeout(() => this.#flushUses({ wait: false }), this.#retryMs).unref();
      return false;
    } finally {
      if (options.wait === false) this.#db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  /** Writes what is pending (waiting as the connection's busy timeout allows) and stops retrying. */
  async close(): Promise<void> {
    this.#flushUses();
    clearTimeout(this.#useRetry);
    this.#useRetry = undefined;
  }

  /** The next `verify` (in any process sharing the file) refuses the key; tell unknown from already revoked with `get`. */
  async revoke(id: string): Promise<boolean> {
    this.#touched.delete(id);
    this.#verified.invalidate();
    this.#revoked.invalidate();
    return this.#revoke.run(this.#now().toISOString(), id).changes > 0;
  }

  async count(options: { includeRevoked?: boolean } = {}): Promise<number> {
    return (options.includeRevoked ? this.#countAll : this.#countActive).get()!.n;
  }

  #noteUse(id: string): void {
    const now = this.#now();
    const last = this.#touched.get(id);
    if (last !== undefined && now.getTime() - last < this.#resolutionMs) return;
    this.#touched.set(id, now.getTime());
    this.#pendingUse.set(id, now.toISOString());
    this.#useWrite ??= setImmediate(() => this.#flushUses({ wait: false }));
  }
}

function parseOrgs(json: string): string[] {
  const orgs: unknown = JSON.parse(json);
  return Array.isArray(orgs) ? orgs.filter((o): o is string => typeof o === 'string') : [];
}

function toInfo(row: KeyRow): ApiKeyInfo {
  return {
    id: row.id,
    orgs: parseOrgs(row.orgs),
    scope: row.scope,
    label: row.label,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}
