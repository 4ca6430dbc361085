/**
 * The calls API, read side: one call's metadata and the organization's listing. Behind the same
 * guard as the recording routes (guardApi, src/routes/guard.ts, around both in src/server.ts):
 * authenticated, rate-limited in the same bucket; organization-scoped by the calls service
 * (another organization's call is CALL_NOT_FOUND); a `read` credential suffices. Neither is in
 * the access audit's reads (no recording bytes or URL leave: nothing sets `request.audited`);
 * refusals are counted as denied attempts like every /api route's.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CallBody, CallListBody, CallListQuery, CallParams, OrgHeaders, errorResponses } from '../schemas.js';
import type { CallRow } from '../stores/types.js';
import type { AppContext } from '../context.js';

/** What these routes use of the context. */
export type CallRoutesDeps = Pick<AppContext, 'calls'>;

/** A call as the API words it: snake_case, the numbers as `to`/`from`, no storage key. */
export function callData(call: CallRow) {
  return {
    call_sid: call.call_sid,
    to: call.to_number,
    from: call.from_number,
    started_at: call.started_at,
    duration_ms: call.duration_ms,
    content_type: call.content_type,
    size_bytes: call.size_bytes,
    sha256: call.sha256,
    created_at: call.created_at,
  };
}

export const callRoutes =
  (deps: CallRoutesDeps): FastifyPluginAsync =>
  async (fastify) => {
    const { calls } = deps;
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/api/calls/:call_sid',
      { schema: { params: CallParams, headers: OrgHeaders, response: { 200: CallBody, ...errorResponses } } },
      async (request, reply) => {
        const call = await calls.findCall(request.headers['x-organization-id'], request.params.call_sid, request.principal!);
        reply.header('cache-control', 'private, no-store');
        return { success: true as const, data: callData(call) };
      },
    );

    app.get(
      '/api/calls',
      { schema: { querystring: CallListQuery, headers: OrgHeaders, response: { 200: CallListBody, ...errorResponses } } },
      async (request, reply) => {
        const page = await calls.listCalls(request.headers['x-organization-id'], request.query, request.principal!);
        reply.header('cache-control', 'private, no-store');
        return { success: true as const, data: page.calls.map(callData), next_cursor: page.next_cursor };
      },
    );
  };
