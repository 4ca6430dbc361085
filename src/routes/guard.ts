/**
 * Who may call the API routes, and the access audit of what they read:
 * authenticate in `onRequest` (before anything else runs), rate-limit per credential,
 * and record each stream URL issued and each download in `onResponse`.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimited } from '../errors.js';
import type { AuditAction } from '../audit.js';
import type { Principal } from '../auth/authenticate.js';
import type { AppContext } from '../context.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Set by a handler once it knows which call is read: the audit records it. */
    audited?: { action: AuditAction; org: string; sid: string; principal: string | null };
    /** Body bytes the response's socket has accepted so far (byte routes only). */
    bytesSent?: number;
  }
}

/** Authenticate every request of this scope; its principal is `request.principal`. */
export function requireAuth(app: FastifyInstance, ctx: AppContext): void {
  app.addHook('onRequest', async (request) => {
    request.principal = await ctx.authenticate(request.headers);
  });
}

/** Per-credential (or, with no credential, per-address) limits for this scope. */
export async function limitRate(app: FastifyInstance, max: number, windowMs: number): Promise<void> {
  if (max <= 0) return;
  await app.register(rateLimit, {
    max,
    timeWindow: windowMs,
    hook: 'preHandler',
    keyGenerator: (request) => (request.principal ? `p:${request.principal.kind}:${request.principal.id}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) => new RateLimited(context.after),
  });
}

/**
 * Record `request.audited` when the response closes — finished or cut off by the client — with
 * its status and the body bytes the socket accepted for the client (`request.bytesSent`,
 * counted by sendObject), so aborted reads are in the audit too.
 */
export function auditResponses(app: FastifyInstance, ctx: AppContext): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // Read now: once the socket is gone (a client that left mid-body, Connection: close),
    // request.ip is undefined unless something happened to read it earlier.
    const client = request.ip;
    reply.raw.once('close', () => {
      const a = request.audited;
      if (!a) return;
      ctx.audit.record({
        action: a.action,
        org: a.org,
        callSid: a.sid,
        principal: a.principal,
        client,
        status: reply.raw.statusCode,
        bytes: a.action === 'stream_url' ? undefined : (request.bytesSent ?? 0),
      });
    });
  });
}
