/**
 * The recording API (recording-api.txt): the stream URL and the download. Every request is
 * authenticated (guardApi, src/routes/guard.ts, around it in src/server.ts), must name an
 * organization its credential holds, and sees only that organization's calls: another
 * organization's call is answered like a missing one.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { dispositionHeader, recordingFilename } from '../core/disposition.js';
import { CallParams, OrgHeaders, StreamBody, errorResponses } from '../schemas.js';
import { sendObject } from '../bytes/send.js';
import { whenReady, type Awaitable } from '../core/awaitable.js';
import type { AuditAction, CallRow } from '../stores/types.js';
import type { AppContext } from '../context.js';

/** What these routes use of the context. */
export type RecordingRoutesDeps = Pick<AppContext, 'calls' | 'storage' | 'config'>;

export const recordingRoutes =
  (deps: RecordingRoutesDeps): FastifyPluginAsync =>
  async (fastify) => {
    const { calls, storage, config } = deps;
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    /**
     * The call if the principal may read it (CallsService.findCall), recorded for the audit: at once
     * when the index answers at once (src/core/awaitable.ts), a refusal then thrown.
     */
    const findCall = (request: FastifyRequest, sid: string, action: AuditAction): Awaitable<CallRow> => {
      const org = request.headers['x-organization-id'] as string;
      const principal = request.principal!;
      return whenReady(calls.findCall(org, sid, principal), (call) => {
        request.audited = { action, org, sid: call.call_sid, principal: principal.id };
        return call;
      });
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
      // Not an async function: a URL issued again is answered without a promise (Fastify sends a
      // returned value; a throw is its error).
      (request, reply) =>
        whenReady(findCall(request, request.params.call_sid, 'stream_url'), (call) => {
          reply.header('cache-control', 'private, no-store');
          return whenReady(calls.streamUrl(call, request.principal!.id), (data) => ({ success: true as const, data }));
        }),
    );

    // GET and HEAD declared together: HEAD answers the same headers (Content-Length included).
    app.route({
      method: ['GET', 'HEAD'],
      url: '/api/calls/:call_sid/recording/download',
      schema: { params: CallParams, headers: OrgHeaders, response: errorResponses },
      handler: async (request, reply) => {
        const call = await findCall(request, request.params.call_sid, 'download');
        return sendObject(request, reply, storage, {
          key: call.storage_key,
          contentType: call.content_type,
          contentDisposition: dispositionHeader('attachment', recordingFilename(call.to_number, call.content_type)),
          cacheControl: 'private, no-store',
          maxReadMs: config.downloadTtl * 1000,
        });
      },
    });
  };
