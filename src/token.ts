/**
 * Media tokens (docs/architecture.md, "One request"): a URL-safe capability naming a storage key, its expiry,
 * disposition, filename and content type (and, for the audit, the call and who was issued it;
 * the payload is signed, not encrypted). Format: `<kid>.<payload>.<signature>`, where payload
 * is base64url JSON and signature is base64url HMAC-SHA256 over `<kid>.<payload>`.
 * The first key signs; every listed key verifies, so keys rotate without downtime.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { TokenExpired, TokenInvalid } from './core/errors.js';

export interface SigningKey {
  id: string;
  secret: string;
}

export interface MediaGrant {
  key: string;
  /** Expiry, in whole seconds since the epoch. */
  exp: number;
  disposition: 'inline' | 'attachment';
  filename: string;
  contentType: string;
  /** The call this grant is for, and who was issued it: for the access audit. */
  org?: string;
  sid?: string;
  principal?: string;
}

const MAX_TOKEN_LENGTH = 4096;
/** Tokens remembered as verified (`TokenSigner.verify`); the oldest is forgotten first. */
const VERIFIED_MEMO = 4096;
const KID = /^[A-Za-z0-9_-]{1,32}$/;

export class TokenSigner {
  /** The secrets as KeyObjects, made once: an HMAC keyed by one skips importing the key each time. */
  readonly #keys: Map<string, KeyObject>;
  readonly #signingKey: SigningKey;
  /**
   * Tokens this signer verified, by their exact text: a player's seeks and a page's reloads
   * present one URL again and again, and checking its MAC again (an HMAC, a base64 decode, a JSON
   * parse: ~3% of a 64 KiB Range request) would answer the same, since the keys never change
   * for a signer. The expiry is still compared on every use.
   */
  readonly #verified = new Map<string, MediaGrant>();

  constructor(keys: SigningKey[]) {
    const first = keys[0];
    if (!first) throw new TypeError('at least one signing key is required');
    for (const k of keys) {
      if (!KID.test(k.id)) throw new TypeError(`signing key id "${k.id}" must match ${KID}`);
    }
    this.#signingKey = first;
    this.#keys = new Map(keys.map((k) => [k.id, createSecretKey(Buffer.from(k.secret))]));
  }

  sign(grant: MediaGrant): string {
    const payload = Buffer.from(
      JSON.stringify({
        k: grant.key,
        e: grant.exp,
        d: grant.disposition,
        f: grant.filename,
        t: grant.contentType,
        o: grant.org,
        s: grant.sid,
        p: grant.principal,
      }),
    ).toString('base64url');
    const head = `${this.#signingKey.id}.${payload}`;
    return `${head}.${this.#mac(this.#keys.get(this.#signingKey.id)!, head)}`;
  }

  /**
   * @throws TokenInvalid for anything not signed by a listed key (malformed, tampered, unknown kid)
   * @throws TokenExpired for a genuine token past its expiry
   */
  verify(token: string, nowMs = Date.now()): MediaGrant {
    if (token.length > MAX_TOKEN_LENGTH) throw new TokenInvalid();
    let grant = this.#verified.get(token);
    if (!grant) {
      grant = this.#verifyMac(token);
      if (this.#verified.size >= VERIFIED_MEMO) this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(token, grant);
    }
    if (grant.exp * 1000 <= nowMs) {
      this.#verified.delete(token);
      throw new TokenExpired();
    }
    return grant;
  }

  /** The grant of a token signed by a listed key, expired or not. */
  #verifyMac(token: string): MediaGrant {
    const parts = token.split('.');
    if (parts.length !== 3) throw new TokenInvalid();
    const [kid, payload, signature] = parts as [string, string, string];
    const secret = this.#keys.get(kid);
    if (!secret) throw new TokenInvalid();
    // Compare the base64url text, not decoded bytes: the decoder skips foreign characters and
    // the spare low bits of the last one, so a decoded compare accepts many spellings of one MAC.
    const expected = Buffer.from(this.#mac(secret, `${kid}.${payload}`));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenInvalid();
    return parseGrant(payload);
  }

  /** The base64url HMAC-SHA256 of `data` (digested straight to text: no Buffer in between). */
  #mac(secret: KeyObject, data: string): string {
    return createHmac('sha256', secret).update(data).digest('base64url');
  }
}

function parseGrant(payload: string): MediaGrant {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new TokenInvalid();
  }
  const { k, e, d, f, t, o, s, p } = raw ?? {};
  if (
    typeof k !== 'string' ||
    typeof e !== 'number' ||
    !Number.isFinite(e) ||
    (d !== 'inline' && d !== 'attachment') ||
    typeof f !== 'string' ||
    typeof t !== 'string' ||
    [o, s, p].some((v) => v !== undefined && typeof v !== 'string')
  ) {
    throw new TokenInvalid();
  }
  // Frozen: a remembered grant is handed to every request that presents its token.
  return Object.freeze({ key: k, exp: e, disposition: d, filename: f, contentType: t, org: o as string | undefined, sid: s as string | undefined, principal: p as string | undefined });
}
