/** Admin API: needs an `admin` credential for the organization named in X-Organization-Id. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { assertOrg, assertScope } from '../auth/authenticate.js';
import { CALL_SID_PATTERN } from '../core/ids.js';
import { OrgHeaders, errorResponses } from '../schemas.js';
import { limitRate, requireAuth } from './guard.js';
import type { AppContext } from '../context.js';

const AuditQuery = Type.Object({
  sid: Type.Optional(Type.String({ pattern: CALL_SID_PATTERN })),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  /** Without it, every action but `denied` (README: the access audit). */
  action: Type.Optional(
    Type.Union([
      Type.Literal('stream_url'), Type.Literal('download'), Type.Literal('media'),
      Type.Literal('delete'), Type.Literal('hold'), Type.Literal('release'), Type.Literal('denied'),
    ]),
  ),
});

const AuditBody = Type.Object({
  success: Type.Literal(true),
  data: Type.Array(
    Type.Object({
      at: Type.String(),
      action: Type.String(),
      call_sid: Type.Union([Type.String(), Type.Null()]),
      principal: Type.Union([Type.String(), Type.Null()]),
      client: Type.Union([Type.String(), Type.Null()]),
      status: Type.Union([Type.Integer(), Type.Null()]),
      bytes: Type.Union([Type.Integer(), Type.Null()]),
      // The error code: denied rows only. How many requests the row counts: denied and stream_url rows.
      code: Type.Optional(Type.String()),
      count: Type.Optional(Type.Integer()),
    }),
  ),
});

export const adminRoutes =
  (ctx: Pick<AppContext, 'config' | 'audit' | 'authenticate' | 'authFailures'>): FastifyPluginAsync =>
  async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    requireAuth(app, ctx);
    limitRate(app, ctx.config.rateLimitMax, ctx.config.rateLimitWindowMs);

    /** The access audit of the caller's organization, newest first. */
    app.get(
      '/api/audit',
      { schema: { querystring: AuditQuery, headers: OrgHeaders, response: { 200: AuditBody, ...errorResponses } } },
      async (request) => {
        const org = request.headers['x-organization-id'];
        assertScope(request.principal!, 'admin');
        assertOrg(request.principal!, org);
        const rows = await ctx.audit.query({
          org,
          sid: request.query.sid,
          action: request.query.action,
          since: request.query.since ? new Date(request.query.since) : undefined,
          limit: request.query.limit ?? 100,
        });
        return { success: true as const, data: rows };
      },
    );
  };
