/** The recording API (recording-api.txt): the stream URL and the download, scoped by organization. */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { dispositionHeader, recordingFilename } from '../disposition.js';
import { CallNotFound } from '../errors.js';
import { CallParams, OrgHeaders, StreamBody, errorResponses } from '../schemas.js';
import { sendObject } from '../send-object.js';
import { issueStreamUrl } from '../stream-url.js';
import type { AppContext } from '../context.js';

export const recordingRoutes =
  (ctx: AppContext): FastifyPluginAsync =>
  async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    /** The call if it belongs to the request's organization; another org's call is "not found". */
    const findCall = (org: string, sid: string) => {
      const call = ctx.index.find(org, sid);
      if (!call) throw new CallNotFound(sid);
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
        const call = findCall(request.headers['x-organization-id'], request.params.call_sid);
        // A URL to nothing would only fail later in the player: check the object is there.
        await ctx.storage.stat(call.storage_key);
        reply.header('cache-control', 'private, no-store');
        return { success: true as const, data: await issueStreamUrl(ctx, call) };
      },
    );

    // GET and HEAD declared together: HEAD answers the same headers (Content-Length included).
    app.route({
      method: ['GET', 'HEAD'],
      url: '/api/calls/:call_sid/recording/download',
      schema: { params: CallParams, headers: OrgHeaders, response: errorResponses },
      handler: async (request, reply) => {
        const call = findCall(request.headers['x-organization-id'], request.params.call_sid);
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
