/**
 * The recording API (recording-api.txt): the stream URL and the download. Every request is
 * authenticated, must name an organization its credential holds, and sees only that
 * organization's calls: another organization's call is answered like a missing one.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { assertOrg } from '../auth/authenticate.js';
import { dispositionHeader, recordingFilename } from '../core/disposition.js';
import { CallNotFound } from '../core/errors.js';
import { CallParams, OrgHeaders, StreamBody, errorResponses } from '../schemas.js';
import { sendObject } from '../bytes/send.js';
import { issueStreamUrl } from '../stream-url.js';
import { auditResponses, limitRate, requireAuth } from './guard.js';
import type { AuditAction } from '../stores/types.js';
import type { AppContext } from '../context.js';

export const recordingRoutes =
  (ctx: AppContext): FastifyPluginAsync =>
  async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    requireAuth(app, ctx);
    await limitRate(app, ctx.config.rateLimitMax, ctx.config.rateLimitWindowMs);
    auditResponses(app, ctx);

    /** The call if the principal may read it; anything else is "not found", whatever the reason. */
    const findCall = async (request: FastifyRequest, sid: string, action: AuditAction) => {
      const org = request.headers['x-organization-id'] as string;
      const principal = request.principal!;
      assertOrg(principal, org);
      const call = await ctx.index.find(org, sid);
      if (!call) throw new CallNotFound(sid);
      request.audited = { action, org, sid: call.call_sid, principal: principal.id };
      return call;
    };

    app.get(
      '/api/calls/:call_sid/recording/stream',
      {
        schema: {
          params: CallParams,
          headers: OrgHeaders,
          response: { 200: StreamBody, ...errorResponses },
        },
      },
      async (request, reply) => {
        const call = await findCall(request, request.params.call_sid, 'stream_url');
        reply.header('cache-control', 'private, no-store');
        return { success: true as const, data: await issueStreamUrl(ctx, call, request.principal!.id) };
      },
    );

    // GET and HEAD declared together: HEAD answers the same headers (Content-Length included).
    app.route({
      method: ['GET', 'HEAD'],
      url: '/api/calls/:call_sid/recording/download',
      schema: { params: CallParams, headers: OrgHeaders, response: errorResponses },
      handler: async (request, reply) => {
        const call = await findCall(request, request.params.call_sid, 'download');
        return sendObject(request, reply, ctx.storage, {
          key: call.storage_key,
          contentType: call.content_type,
          contentDisposition: dispositionHeader('attachment', recordingFilename(call.to_number, call.content_type)),
          cacheControl: 'private, no-store',
          maxReadMs: ctx.config.downloadTtl * 1000,
        });
      },
    });
  };
