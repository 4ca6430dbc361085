/**
 * Who is asking, whatever the auth mode: request headers in, a Principal out.
 *
 * - `api-key` (the default): `Authorization: Bearer rpk_…`, checked against the ApiKeys store on
 *   every request (so a revocation counts from the next request).
 * - `jwt`: `Authorization: Bearer <JWS>`, checked by a JwtVerifier (src/auth/jwt.ts).
 * - `trusted-header`: an authenticating proxy in front has already checked the user and
 *   passes its name (and optionally the organizations) in headers. Only safe when nothing but
 *   that proxy can reach the daemon; the daemon warns at start when it listens beyond loopback.
 *
 * Status codes, decided here:
 * - 401 UNAUTHORIZED: no credentials, a malformed Authorization header, or credentials that are
 *   not genuine (unknown, wrong, revoked, expired). The error carries the `WWW-Authenticate`
 *   value to send (`challengeOf(err)`): the caller sets the header.
 * - 403 ORG_FORBIDDEN (`assertOrg`): genuine credentials that do not hold the organization named
 *   in X-Organization-Id. Tenant isolation still holds: the answer depends only on the
 *   credential and the header, never on whether a call exists, so it reveals nothing about
 *   calls; a call of another organization *inside* an allowed organization's request is still
 *   answered 404 CALL_NOT_FOUND by the routes.
 * - 403 INSUFFICIENT_SCOPE (`assertScope`): a `read` credential on an admin endpoint.
 * - 503 AUTH_UNAVAILABLE: the JWKS endpoint could not be reached (from the JWT verifier).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { InsufficientScope, OrgForbidden, Unauthorized } from '../core/errors.js';
import { isOrgId } from '../core/ids.js';
import { whenReady, type Awaitable } from '../core/awaitable.js';
import type { ApiKeys } from '../stores/types.js';
import type { JwtVerifier } from './jwt.js';

export type AuthMode = 'api-key' | 'jwt' | 'trusted-header';
export type Scope = 'read' | 'admin';

export interface Principal {
  kind: AuthMode;
  /** The API key id, the JWT subject, or the proxy's user name: what logs and the audit show. */
  id: string;
  /** The organizations this principal may name in X-Organization-Id; '*' for any. */
  orgs: readonly string[] | '*';
  scope: Scope;
}

export interface TrustedHeaderOptions {
  /** The header holding the authenticated user's name, e.g. `x-forwarded-user`. Required on every request. */
  userHeader: string;
  /**
   * The header holding the user's organizations, comma-separated, e.g. `x-forwarded-orgs`.
   * When configured it is required on every request; when not, the principal may name any
   * organization (`'*'`): the proxy is trusted to scope tenants itself.
   */
  orgsHeader?: string;
  /** A header whose value `admin` grants the admin scope (anything else, or absent: `read`). */
  scopeHeader?: string;
}

export interface AuthenticatorOptions {
  mode: AuthMode;
  /** Required in `api-key` mode. */
  apiKeys?: ApiKeys;
  /** Required in `jwt` mode. */
  jwt?: JwtVerifier;
  /** Required in `trusted-header` mode. */
  trustedHeader?: TrustedHeaderOptions;
  /** The realm in `WWW-Authenticate` (default "recproxy"). */
  realm?: string;
}

/**
 * The principal at once where the mode can tell at once (a key store that answers synchronously,
 * `trusted-header`), else a promise (`jwt`): src/core/awaitable.ts. Refusals are thrown, or the
 * promise rejects with them.
 * @throws Unauthorized (401) for missing, malformed or non-genuine credentials
 * @throws AuthUnavailable (503) in jwt mode when the JWKS cannot be fetched
 */
export type Authenticator = (headers: IncomingHttpHeaders) => Awaitable<Principal>;

/** The longest Authorization header accepted (scheme included). */
export const MAX_AUTHORIZATION_LENGTH = 4096;
/** RFC 6750 §2.1: `Bearer` 1*SP b64token; we allow exactly one space. */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;
/** Printable ASCII without spaces at the ends, for proxy-supplied user names (they reach logs and the audit). */
const USER_NAME = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;

const CHALLENGE = Symbol('recproxy.wwwAuthenticate');

/** The `WWW-Authenticate` value to send with a 401 from this module, if any. */
export function challengeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const value = (err as { [CHALLENGE]?: unknown })[CHALLENGE];
  return typeof value === 'string' ? value : undefined;
}

function withChallenge<E extends Error>(err: E, challenge: string | undefined): E {
  if (challenge !== undefined) Object.defineProperty(err, CHALLENGE, { value: challenge, enumerable: false });
  return err;
}

/**
 * The token of an `Authorization: Bearer <token>` header, parsed strictly: scheme `Bearer`
 * (any case, RFC 9110 §11.1), exactly one space, an RFC 6750 b64token, at most
 * MAX_AUTHORIZATION_LENGTH characters in all. `realm` only shapes the challenge.
 * @throws Unauthorized with a Bearer challenge (`error="invalid_request"` when malformed)
 */
export function parseBearer(header: string | string[] | undefined, realm = 'recproxy'): string {
  const bare = `Bearer realm="${realm}"`;
  if (header === undefined || header === '') {
    throw withChallenge(new Unauthorized('missing credentials: send Authorization: Bearer <key>'), bare);
  }
  const invalidRequest = `${bare}, error="invalid_request"`;
  if (typeof header !== 'string') {
    throw withChallenge(new Unauthorized('send exactly one Authorization header'), invalidRequest);
  }
  if (header.length > MAX_AUTHORIZATION_LENGTH) {
    throw withChallenge(new Unauthorized('the Authorization header is too long'), invalidRequest);
  }
  const match = BEARER.exec(header);
  if (!match) {
    const bearer = /^bearer(\s|$)/i.test(header);
    const message = bearer ? 'malformed bearer token' : 'the Authorization scheme must be Bearer';
    throw withChallenge(new Unauthorized(message), invalidRequest);
  }
  return match[1]!;
}

/** @throws TypeError when the mode's dependency is missing (a wiring mistake, at start) */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const realm = options.realm ?? 'recproxy';
  const invalidToken = `Bearer realm="${realm}", error="invalid_token"`;
  switch (options.mode) {
    case 'api-key': {
      const store = options.apiKeys;
      if (!store) throw new TypeError('api-key mode needs an ApiKeys store');
      return (headers) =>
        whenReady(store.verify(parseBearer(headers.authorization, realm)), (key): Principal => {
          // Unknown, wrong and revoked keys are answered alike.
          if (!key) throw withChallenge(new Unauthorized('invalid API key'), invalidToken);
          return { kind: 'api-key', id: key.id, orgs: key.orgs, scope: key.scope };
        });
    }
    case 'jwt': {
      const verify = options.jwt;
      if (!verify) throw new TypeError('jwt mode needs a JWT verifier');
      return async (headers) => {
        const token = parseBearer(headers.authorization, realm);
        try {
          const jwt = await verify(token);
          return { kind: 'jwt', id: jwt.subject, orgs: jwt.orgs, scope: jwt.scope };
        } catch (err) {
          if ((err as { code?: unknown }).code === 'UNAUTHORIZED') throw withChallenge(err as Error, invalidToken);
          throw err;
        }
      };
    }
    case 'trusted-header': {
      const trusted = options.trustedHeader;
      if (!trusted?.userHeader) throw new TypeError('trusted-header mode needs the user header name');
      const userHeader = trusted.userHeader.toLowerCase();
      const orgsHeader = trusted.orgsHeader?.toLowerCase();
      const scopeHeader = trusted.scopeHeader?.toLowerCase();
      return (headers): Principal => {
        // No challenge: the client cannot fix this, the proxy in front must.
        const user = single(headers[userHeader]);
        if (user === undefined || !USER_NAME.test(user)) {
          throw new Unauthorized(`missing or invalid ${userHeader} header from the authenticating proxy`);
        }
        let orgs: string[] | '*' = '*';
        if (orgsHeader) {
          const raw = single(headers[orgsHeader]);
          const list = raw?.split(',').map((o) => o.trim()).filter((o) => o !== '') ?? [];
          if (list.length === 0 || !list.every((o) => isOrgId(o))) {
            throw new Unauthorized(`missing or invalid ${orgsHeader} header from the authenticating proxy`);
          }
          orgs = [...new Set(list)];
        }
        const scope: Scope = scopeHeader && single(headers[scopeHeader])?.trim() === 'admin' ? 'admin' : 'read';
        return { kind: 'trusted-header', id: user, orgs, scope };
      };
    }
    default:
      throw new TypeError(`unknown auth mode "${String((options as { mode: unknown }).mode)}"`);
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** True when `principal` may act for `org`. */
export function holdsOrg(principal: Principal, org: string): boolean {
  return principal.orgs === '*' || principal.orgs.includes(org);
}

/** @throws OrgForbidden (403 ORG_FORBIDDEN) unless `principal` may act for `org` */
export function assertOrg(principal: Principal, org: string): void {
  if (!holdsOrg(principal, org)) throw new OrgForbidden(org);
}

/** @throws InsufficientScope (403 INSUFFICIENT_SCOPE) unless `principal` holds `scope` (admin includes read) */
export function assertScope(principal: Principal, scope: Scope): void {
  if (scope === 'admin' && principal.scope !== 'admin') throw new InsufficientScope(scope);
}
