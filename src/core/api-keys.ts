/**
 * API keys (`auth.mode = api-key`): issued by `recproxy keys create`, presented as
 * `Authorization: Bearer rpk_<id>_<secret>`, kept by an ApiKeys store (src/stores/types.ts;
 * the SQLite one: src/stores/sqlite/api-keys.ts). What is here is the key itself, whatever
 * keeps it: its format, its making, its hash, and the checks on a new key's fields.
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
 * the whole key (id included) binds the secret to its row. Hashes are compared with
 * `crypto.timingSafeEqual`.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { InvalidOrganization, InvalidRequest } from './errors.js';
import { isOrgId } from './ids.js';

/** What a key may do: read recordings, or also read the audit (admin endpoints). */
export type ApiKeyScope = 'read' | 'admin';

export interface CreateApiKeyInput {
  /** One or more organization ids (the X-Organization-Id rule); duplicates are dropped. */
  orgs: string[];
  scope?: ApiKeyScope;
  /** Free text for humans, at most 200 characters, no control characters. */
  label?: string;
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

/** The id part of a key of the right shape; undefined for anything malformed. */
export function apiKeyIdOf(presented: string): string | undefined {
  return KEY_PATTERN.exec(presented)?.[1];
}

/** SHA-256 of the whole presented key, hex: what a store keeps. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Whether `presented` hashes to `storedHash` (hex), compared in constant time. */
export function keyMatchesHash(presented: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const given = createHash('sha256').update(presented).digest();
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** A new key: its public id and the whole key (secret included), from the CSPRNG. */
export function newApiKey(): { id: string; key: string } {
  let id = '';
  for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return { id, key: `${API_KEY_PREFIX}${id}_${randomBytes(SECRET_BYTES).toString('base64url')}` };
}

/**
 * A new key's fields, checked, duplicates dropped, defaults filled in.
 * @throws InvalidOrganization for an org id outside the X-Organization-Id rule
 * @throws InvalidRequest for no orgs, an unknown scope, or a bad label
 */
export function checkNewApiKey(input: CreateApiKeyInput): { orgs: string[]; scope: ApiKeyScope; label: string | null } {
  const orgs = [...new Set(input.orgs)];
  if (orgs.length === 0) throw new InvalidRequest('an API key needs at least one organization');
  for (const org of orgs) if (!isOrgId(org)) throw new InvalidOrganization();
  const scope = input.scope ?? 'read';
  if (scope !== 'read' && scope !== 'admin') throw new InvalidRequest('scope must be read or admin');
  const label = input.label ?? null;
  if (label !== null && (label.length > 200 || CONTROL.test(label))) {
    throw new InvalidRequest('label must be at most 200 characters without control characters');
  }
  return { orgs, scope, label };
}
