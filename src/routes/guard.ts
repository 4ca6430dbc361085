/**
 * Who may call the API routes, and the access audit of what they read:
 * authenticate in `onRequest` (before anything else runs; an address with too many failed
 * authentications is refused first), rate-limit per credential, record each stream URL issued
 * and each download when the response closes, and count each denied attempt (auditDenied).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isPromise, type Awaitable } from '../core/awaitable.js';
import { RateLimited, hasCode } from '../core/errors.js';
import { isCallSid } from '../core/ids.js';
import type { AuditAction } from '../stores/types.js';
import type { Principal } from '../auth/authenticate.js';
import type { AppContext } from '../context.js';
import { WindowCounts } from '../window-counts.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Set by a handler once it knows which call is read: the audit records it. */
    audited?: { action: AuditAction; org: string; sid: string; principal: string | null };
    /** Body bytes the response's socket has accepted so far (byte routes only). */
    bytesSent?: number;
  }
}

/**
 * Authenticate every request of this scope; its principal is `request.principal`. A 401 counts
 * against the client address (ctx.authFailures); an address over its limit gets 429 RATE_LIMITED
 * without its credentials being looked at. A callback hook: a principal known at once (an API key
 * the store answers synchronously) goes on without a promise (src/core/awaitable.ts).
 */
export function requireAuth(app: FastifyInstance, ctx: Pick<AppContext, 'authenticate' | 'authFailures'>): void {
  const failures = ctx.authFailures;
  app.addHook('onRequest', (request, reply, done) => {
    // While no address has failed, the success path reads neither the address nor the map.
    const wait = failures.idle ? 0 : failures.retryAfterMs(request.ip);
    if (wait > 0) return done(rateLimited(reply, wait));
    const refused = (err: unknown) => {
      if (hasCode(err, 'UNAUTHORIZED')) failures.fail(request.ip);
      done(err as Error);
    };
    const accepted = (principal: Principal) => {
      request.principal = principal;
      done();
    };
    let principal: Awaitable<Principal>;
    try {
      principal = ctx.authenticate(request.headers);
    } catch (err) {
      return refused(err);
    }
    if (isPromise(principal)) principal.then(accepted, refused);
    else accepted(principal);
  });
}

/** The codes whose requests are counted in the audit as denied attempts. */
export const DENIED_CODES: ReadonlySet<string> = new Set([
  'UNAUTHORIZED',
  'ORG_FORBIDDEN',
  'INSUFFICIENT_SCOPE',
  'CALL_NOT_FOUND',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'RATE_LIMITED',
]);


/**
 * Counts a refused request in the audit (AuditSink.deny) when its code is one of DENIED_CODES.
 * The organization is recorded only when the credential was genuine: before that the header
 * is anyone's word. Called by the error handler, so answered requests pay nothing.
 */
export function auditDenied(ctx: Pick<AppContext, 'audit'>, request: FastifyRequest, code: string, status: number): void {
  if (!DENIED_CODES.has(code)) return;
  const org = request.principal ? request.headers['x-organization-id'] : undefined;
  const sid = (request.params as { call_sid?: unknown } | undefined)?.call_sid;
  ctx.audit.deny({
    code,
    status,
    client: request.ip,
    org: typeof org === 'string' ? org : null,
    callSid: typeof sid === 'string' && isCallSid(sid) ? sid : null,
    principal: request.principal?.id ?? null,
  });
}

/**
 * Per-credential (or, with no credential, per-address) limits for this scope: every answer of
 * its routes tells the limit, what is left of it and the seconds until the window ends
 * (X-RateLimit-Limit, -Remaining, -Reset); one over it is 429 RATE_LIMITED with Retry-After.
 * A synchronous hook and a map (WindowCounts, src/window-counts.ts): @fastify/rate-limit did
 * the same through an async hook and three awaited steps, 5% of a stream URL request's CPU
 * (BENCHMARKS.md, "The stream endpoint: the rate limit without its promises").
 */
export function limitRate(app: FastifyInstance, max: number, windowMs: number): void {
  if (max <= 0) return;
  const limits = new WindowCounts(windowMs);
  app.addHook('preHandler', (request, reply, done) => {
    const now = Date.now();
    const key = request.principal ? `p:${request.principal.kind}:${request.principal.id}` : `ip:${request.ip}`;
    const count = limits.take(key, now);
    const seconds = Math.ceil(limits.msLeft(now) / 1000);
    reply.header('x-ratelimit-limit', max);
    reply.header('x-ratelimit-remaining', Math.max(0, max - count));
    reply.header('x-ratelimit-reset', seconds);
    done(count <= max ? undefined : rateLimited(reply, limits.msLeft(now)));
  });
}

/** 429 RATE_LIMITED for a client that may try again in `ms`: Retry-After set (whole seconds), the error returned. */
function rateLimited(reply: FastifyReply, ms: number): Error {
  const seconds = Math.ceil(ms / 1000);
  reply.header('retry-after', seconds);
  return new RateLimited(seconds === 1 ? '1 second' : `${seconds} seconds`);
}

/**
 * Records `request.audited` as its response closes, finished or cut off by the client (src/server.ts
 * calls it from the one `close` listener each response has), with its status and the body bytes
 * the socket accepted for the client (`request.bytesSent`, counted by sendObject), so aborted
 * reads are in the audit too. `client` is request.ip read when the request arrived: once the
 * socket is gone (a client that left mid-body, Connection: close) it is undefined.
 */
export function recordAudited(audit: AppContext['audit'], request: FastifyRequest, client: string, status: number): void {
  const a = request.audited;
  if (!a) return;
  audit.record({
    action: a.action,
    org: a.org,
    callSid: a.sid,
    principal: a.principal,
    client,
    status,
    bytes: a.action === 'download' || a.action === 'media' ? (request.bytesSent ?? 0) : undefined,
  });
}

/**
 * The guard of the API routes (src/server.ts registers the recording and calls routes inside
 * it): authentication and one rate-limit bucket per credential across them all. What a handler
 * sets in `request.audited` is recorded by recordAudited when the response closes.
 */
export function guardApi(app: FastifyInstance, ctx: Pick<AppContext, 'config' | 'authenticate' | 'authFailures'>): void {
  requireAuth(app, ctx);
  limitRate(app, ctx.config.rateLimitMax, ctx.config.rateLimitWindowMs);
}
