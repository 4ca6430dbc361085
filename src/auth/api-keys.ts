/**
 * API keys (`auth.mode = api-key`): issued by `recproxy keys create`, presented as
 * `Authorization: Bearer rpk_<id>_<secret>`, stored in the call index's SQLite file.
 *
 * Key format: `rpk_` + a 12-character id (A-Z a-z 0-9, ~71 bits, public: it names the key
 * in `keys list`, logs and the audit) + `_` + a 43-character secret (32 random bytes,
 * base64url). The id has no `_` or `-`, so the key splits unambiguously.
 *
 * Only `SHA-256(whole key)` is stored, as hex. A fast hash is the right tool here: the secret
 * is 256 bits from the CSPRNG, so a stolen table cannot be brute-forced whatever the hash
 * speed; slow hashes (bcrypt, scrypt, argon2) exist to stretch low-entropy *passwords* and
 * would only add milliseconds of CPU to every request. No HMAC pepper either: it would add a
 * second secret that the CLI and the daemon must share, for no gain at this entropy. Hashing
 * the whole key (id included) binds the secret to its row.
 *
 * Verification looks the row up by id (a prepared primary-key SELECT, microseconds), then
 * compares hashes with `crypto.timingSafeEqual`. Results are memoised until the database
 * changes (src/db-version.ts), so `revoke` takes effect on the very next request, from this
 * process or another one (the CLI) sharing the file. `isRevoked` answers the media route the
 * same way, for the media URLs a key was handed.
 *
 * `verify` never writes: `last_used_at` values wait in memory and are written together right
 * after (setImmediate), without waiting for a lock. While another process holds the index's
 * write lock they stay pending and are tried again every `retryMs`, so a lock held outside
 * never holds up a request (in WAL mode the reads `verify` makes are not blocked by a writer).
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { DataVersion, VersionedCache } from '../db-version.js';
import { InvalidOrganization, InvalidRequest } from '../core/errors.js';
import { isOrgId } from '../core/ids.js';

export type ApiKeyScope = 'read' | 'admin';

/**
 * Schema steps for the index's append-only MIGRATIONS array (one entry, one user_version).
 * Apply them before constructing an ApiKeyStore.
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

/** What `create` returns: `key` is the only time the secret exists outside the caller. */
export interface CreatedApiKey extends ApiKeyInfo {
  key: string;
}

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

/** What a genuine, unrevoked key grants. */
export interface VerifiedApiKey {
  id: string;
  orgs: string[];
  scope: ApiKeyScope;
}

export interface ApiKeyStoreOptions {
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

export interface CreateApiKeyInput {
  /** One or more organization ids (the X-Organization-Id rule); duplicates are dropped. */
  orgs: string[];
  scope?: ApiKeyScope;
  /** Free text for humans, at most 200 characters, no control characters. */
  label?: string;
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

export const API_KEY_PREFIX = 'rpk_';
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 12;
const SECRET_BYTES = 32;
/** `rpk_` + id + `_` + 43 base64url characters: exactly 60 characters. */
const KEY_PATTERN = /^rpk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const KEY_ID_PATTERN = /^[A-Za-z0-9]{12}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** True when `value` has the shape of a recproxy API key (says nothing about validity). */
export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

/** True when `id` has the shape of an API key id (for CLI argument checks). */
export function isApiKeyId(id: string): boolean {
  return KEY_ID_PATTERN.test(id);
}

export class ApiKeyStore {
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
  constructor(db: Database.Database, options: ApiKeyStoreOptions = {}) {
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

  /**
   * Issues a key. The returned `key` is shown once and never stored.
   * @throws InvalidOrganization for an org id outside the X-Organization-Id rule
   * @throws InvalidRequest for no orgs, an unknown scope, or a bad label
   */
  create(input: CreateApiKeyInput): CreatedApiKey {
    const orgs = [...new Set(input.orgs)];
    if (orgs.length === 0) throw new InvalidRequest('an API key needs at least one organization');
    for (const org of orgs) if (!isOrgId(org)) throw new InvalidOrganization();
    const scope = input.scope ?? 'read';
    if (scope !== 'read' && scope !== 'admin') throw new InvalidRequest('scope must be read or admin');
    const label = input.label ?? null;
    if (label !== null && (label.length > 200 || CONTROL.test(label))) {
      throw new InvalidRequest('label must be at most 200 characters without control characters');
    }
    const createdAt = this.#now().toISOString();
    // A 71-bit id collides practically never; retry rather than fail if it does.
    for (let attempt = 0; ; attempt++) {
      const id = randomId();
      const key = `${API_KEY_PREFIX}${id}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
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
   * What `presented` grants, or undefined when it is malformed, unknown, wrong or revoked
   * (the caller answers all of these alike). A verified key is remembered until the database
   * changes — a revocation through any connection counts from the very next request.
   */
  verify(presented: string): VerifiedApiKey | undefined {
    const verified = this.#verified.get(presented, () => this.#verifyRow(presented));
    if (verified) this.#noteUse(verified.id);
    return verified;
  }

  #verifyRow(presented: string): VerifiedApiKey | undefined {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    const row = this.#byId.get(match[1]!);
    if (!row) return undefined;
    const expected = Buffer.from(row.hash, 'hex');
    const given = createHash('sha256').update(presented).digest();
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    if (row.revoked_at !== null) return undefined;
    return { id: row.id, orgs: parseOrgs(row.orgs), scope: row.scope };
  }

  /**
   * True when `id` is the id of a revoked API key; false for a live key and for any other
   * principal id (a JWT subject, a proxy's user name). Memoised like `verify`: one
   * primary-key read per id until the data changes.
   */
  isRevoked(id: string): boolean {
    if (!KEY_ID_PATTERN.test(id)) return false;
    return this.#revoked.get(id, () => (this.#byId.get(id)?.revoked_at ?? null) !== null)!;
  }

  /** One key's listing (no secret), revoked or not; pending `last_used_at` values are written first. */
  get(id: string): ApiKeyInfo | undefined {
    this.flushUses();
    const row = this.#byId.get(id);
    return row && toInfo(row);
  }

  /** Every key ever issued, oldest first, revoked ones included (see `revokedAt`). No secrets. */
  list(): ApiKeyInfo[] {
    this.flushUses();
    return this.#all.all().map(toInfo);
  }

  /**
   * Writes the pending `last_used_at` values in one transaction. With `{ wait: false }` (the
   * deferred writes) a locked index is not waited for: the values stay pending for the retry;
   * otherwise the connection's busy timeout applies and a failure is kept for later all the same.
   * @returns false if values are still pending
   */
  flushUses(options: { wait?: boolean } = {}): boolean {
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
      this.#useRetry = setTimeout(() => this.flushUses({ wait: false }), this.#retryMs).unref();
      return false;
    } finally {
      if (options.wait === false) this.#db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  /** Writes what is pending (waiting as the connection's busy timeout allows) and stops retrying. */
  close(): void {
    this.flushUses();
    clearTimeout(this.#useRetry);
    this.#useRetry = undefined;
  }

  /**
   * Revokes a key; the next `verify` (in any process sharing the file) refuses it.
   * @returns true if the key was live and is now revoked; false if unknown or already revoked
   *   (tell them apart with `get`)
   */
  revoke(id: string): boolean {
    this.#touched.delete(id);
    this.#verified.invalidate();
    this.#revoked.invalidate();
    return this.#revoke.run(this.#now().toISOString(), id).changes > 0;
  }

  /** Live (unrevoked) keys, or every key ever issued with `{ includeRevoked: true }`. */
  count(options: { includeRevoked?: boolean } = {}): number {
    return (options.includeRevoked ? this.#countAll : this.#countActive).get()!.n;
  }

  #noteUse(id: string): void {
    const now = this.#now();
    const last = this.#touched.get(id);
    if (last !== undefined && now.getTime() - last < this.#resolutionMs) return;
    this.#touched.set(id, now.getTime());
    this.#pendingUse.set(id, now.toISOString());
    this.#useWrite ??= setImmediate(() => this.flushUses({ wait: false }));
  }
}

/** SHA-256 of the whole presented key, hex: what the `hash` column holds. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function randomId(): string {
  let id = '';
  for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
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
