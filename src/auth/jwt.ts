/**
 * JWT bearer tokens (`auth.mode = jwt`), verified with `jose`.
 *
 * Keys: an HS256 shared secret, or a JWKS URL (RS256, ES256) fetched and cached by jose's
 * `createRemoteJWKSet` (re-fetched when an unknown `kid` appears, at most every 30 s).
 * Exactly one of the two. The algorithm list is explicit and follows the key source, so
 * `alg: none` and algorithm confusion (an HS256 token "signed" with a public key) are refused.
 *
 * Claims: `exp` and `sub` are required; `iss` and `aud` are checked when configured; `nbf`
 * and `exp` honour a small clock tolerance. The organizations come from one configured claim
 * (a string or an array of strings, each following the X-Organization-Id rule).
 *
 * Every token problem is `Unauthorized` (401) with a short, safe message ("token expired",
 * "token audience mismatch", ...). A JWKS endpoint that cannot be reached or answers garbage is
 * `AuthUnavailable` (503): the token may be fine, the daemon cannot tell.
 */
import {
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { AuthUnavailable, Unauthorized } from '../core/errors.js';
import { isOrgId } from '../core/ids.js';

export interface JwtVerifierOptions {
  /** HS256 shared secret, at least 32 characters. Exclusive with `jwksUrl`. */
  secret?: string;
  /** http(s) URL of a JSON Web Key Set (RS256, ES256 keys). Exclusive with `secret`. */
  jwksUrl?: string;
  /** Required `iss` value(s), when set. */
  issuer?: string | string[];
  /** Required `aud` value(s) (any one of them), when set. */
  audience?: string | string[];
  /**
   * The claim that names the token's organizations: a string or an array of strings.
   * Looked up as a top-level key first (so `https://example.com/orgs` works), then, if the
   * name has dots and no such key exists, as a path (`realm_access.orgs`).
   */
  orgClaim: string;
  /**
   * A token whose `scope` (space-separated) or `scp` (string or array) holds this value is
   * granted the `admin` scope; every other token is `read`. Unset: JWTs are always `read`.
   */
  adminScope?: string;
  /** Seconds of clock skew allowed on `exp` and `nbf` (default 30). */
  clockToleranceSec?: number;
  /** JWKS fetch timeout in milliseconds (default 5000). */
  jwksTimeoutMs?: number;
}

export interface VerifiedJwt {
  /** The `sub` claim. */
  subject: string;
  /** Organizations from `orgClaim`, deduplicated, at least one. */
  orgs: string[];
  scope: 'read' | 'admin';
}

/** Verifies one compact JWS. @throws Unauthorized (401) or AuthUnavailable (503). */
export type JwtVerifier = (token: string) => Promise<VerifiedJwt>;

export const HS_ALGORITHMS = ['HS256'];
export const JWKS_ALGORITHMS = ['RS256', 'ES256'];
const MAX_TOKEN_LENGTH = 4096;

/** @throws TypeError for a configuration mistake (both or neither key source, short secret, bad URL) */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const { secret, jwksUrl, orgClaim } = options;
  if ((secret === undefined) === (jwksUrl === undefined)) {
    throw new TypeError('JWT verification needs exactly one of a secret (HS256) or a JWKS URL');
  }
  if (!orgClaim) throw new TypeError('JWT verification needs the name of the organization claim');

  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (secret !== undefined) {
    if (Buffer.byteLength(secret) < 32) throw new TypeError('the HS256 secret must be at least 32 bytes');
    key = new TextEncoder().encode(secret);
    algorithms = HS_ALGORITHMS;
  } else {
    let url: URL;
    try {
      url = new URL(jwksUrl!);
    } catch {
      throw new TypeError('the JWKS URL is not a URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('the JWKS URL must be http(s)');
    key = keySetOf(createRemoteJWKSet(url, { timeoutDuration: options.jwksTimeoutMs ?? 5000 }));
    algorithms = JWKS_ALGORITHMS;
  }

  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    issuer: options.issuer,
    audience: options.audience,
    clockTolerance: options.clockToleranceSec ?? 30,
    requiredClaims: ['exp', 'sub'],
  };

  return async (token) => {
    if (token.length > MAX_TOKEN_LENGTH) throw new Unauthorized('token too long');
    let payload: JWTPayload;
    try {
      // jwtVerify's overloads split on the key type; both shapes are valid here.
      payload = (await jwtVerify(token, key as Uint8Array, verifyOptions)).payload;
    } catch (err) {
      throw toHttpError(err);
    }
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject.length === 0 || subject.length > 256) {
      throw new Unauthorized('token subject is missing or invalid');
    }
    return { subject, orgs: orgsOf(payload, orgClaim), scope: scopeOf(payload, options.adminScope) };
  };
}

/**
 * Wraps jose's remote key set so that failures to *fetch* keys (network, timeout, non-200,
 * bad JSON) become AuthUnavailable, while "no key matches this token" stays a token problem.
 */
function keySetOf(jwks: ReturnType<typeof createRemoteJWKSet>): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (err) {
      if (
        err instanceof errors.JWKSNoMatchingKey ||
        err instanceof errors.JWKSMultipleMatchingKeys ||
        err instanceof errors.JOSENotSupported ||
        err instanceof errors.JOSEAlgNotAllowed
      ) {
        throw err;
      }
      throw new AuthUnavailable('the JSON Web Key Set could not be fetched', { cause: err });
    }
  };
}

const CLAIM_NAMES: Record<string, string> = {
  aud: 'audience',
  iss: 'issuer',
  nbf: 'not-before',
  iat: 'issued-at',
  sub: 'subject',
  exp: 'expiry',
};

/** jose's errors, named for a client; anything unexpected is rethrown as is (a 500 and a log line). */
export function toHttpError(err: unknown): unknown {
  if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'AUTH_UNAVAILABLE') return err;
  const cause = { cause: err };
  if (err instanceof errors.JWTExpired) return new Unauthorized('token expired', cause);
  if (err instanceof errors.JWTClaimValidationFailed) {
    const claim = err.claim;
    if (claim === 'nbf') return new Unauthorized('token not yet valid', cause);
    if (err.reason === 'missing') return new Unauthorized(`token has no ${claim} claim`, cause);
    if (claim === 'aud' || claim === 'iss') return new Unauthorized(`token ${CLAIM_NAMES[claim]} mismatch`, cause);
    return new Unauthorized(`token ${CLAIM_NAMES[claim] ?? 'claim'} is invalid`, cause);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new Unauthorized('token algorithm not allowed', cause);
  if (err instanceof errors.JWSSignatureVerificationFailed) return new Unauthorized('token signature invalid', cause);
  if (err instanceof errors.JWKSNoMatchingKey) return new Unauthorized('token signed by an unknown key', cause);
  if (err instanceof errors.JWKSMultipleMatchingKeys) return new Unauthorized('token key is ambiguous', cause);
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return new Unauthorized('token malformed', cause);
  if (err instanceof errors.JOSENotSupported) return new Unauthorized('token uses an unsupported feature', cause);
  if (err instanceof errors.JWKSTimeout) return new AuthUnavailable('the JSON Web Key Set timed out', cause);
  if (err instanceof errors.JOSEError) return new Unauthorized('token invalid', cause);
  return err;
}

function claimValue(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name) || !name.includes('.')) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function orgsOf(payload: JWTPayload, claim: string): string[] {
  const value = claimValue(payload, claim);
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Unauthorized(`token has no organization claim (${claim})`);
  }
  if (!list.every((o): o is string => typeof o === 'string' && isOrgId(o))) {
    throw new Unauthorized(`token organization claim (${claim}) holds an invalid organization id`);
  }
  return [...new Set(list)];
}

function scopeOf(payload: JWTPayload, adminScope: string | undefined): 'read' | 'admin' {
  if (!adminScope) return 'read';
  const granted = new Set<string>();
  if (typeof payload.scope === 'string') for (const s of payload.scope.split(' ')) granted.add(s);
  const scp = payload.scp;
  if (typeof scp === 'string') for (const s of scp.split(' ')) granted.add(s);
  if (Array.isArray(scp)) for (const s of scp) if (typeof s === 'string') granted.add(s);
  return granted.has(adminScope) ? 'admin' : 'read';
}
