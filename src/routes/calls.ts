/**
 * The calls API: one call's metadata and the organization's listing (read side); deleting a call
 * and its legal hold (admin). The writes are in the access audit (`delete`, `hold`, `release`,
 * with the status answered: a deletion refused for a hold too). Behind the same
 * guard as the recording routes (guardApi, src/routes/guard.ts, around both in src/server.ts):
 * authenticated, rate-limited in the same bucket; organization-scoped by the calls service
 * (another organization's call is CALL_NOT_FOUND); a `read` credential suffices. Neither is in
 * the access audit's reads (no recording bytes or URL leave: nothing sets `request.audited`);
 * refusals are counted as denied attempts like every /api route's.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CallBody, CallListBody, CallListQuery, CallParams, OrgHeaders, errorResponse, errorResponses } from '../schemas.js';
import Type from 'typebox';
import { DENIED_CODES } from './guard.js';
import type { FastifyRequest } from 'fastify';
import type { AuditAction } from '../stores/types.js';
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
    legal_hold: call.legal_hold_at !== null,
    legal_hold_at: call.legal_hold_at,
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

    /** Records the write in the access audit when the response closes (guard.ts), with its status. */
    const audit = (request: FastifyRequest, sid: string, action: AuditAction) => {
      request.audited = { action, org: request.headers['x-organization-id'] as string, sid, principal: request.principal!.id };
    };
    const writeErrors = { ...errorResponses, 409: errorResponse(409) };

    app.delete(
      '/api/calls/:call_sid',
      { schema: { params: CallParams, headers: OrgHeaders, response: { 204: Type.Null(), ...writeErrors } } },
      async (request, reply) => {
        const sid = request.params.call_sid;
        try {
          await calls.deleteCall(request.headers['x-organization-id'], sid, request.principal!);
        } catch (err) {
          // A deletion of an existing call that was refused (LEGAL_HOLD) or failed (STORAGE_UNAVAILABLE)
          // is in the audit with its status; a missing call or a credential refused is a denied attempt.
          const code = (err as { code?: unknown }).code;
          if (typeof code !== 'string' || !DENIED_CODES.has(code)) audit(request, sid, 'delete');
          throw err;
        }
        audit(request, sid, 'delete');
        return reply.code(204).send(null);
      },
    );

    for (const [method, on] of [['PUT', true], ['DELETE', false]] as const) {
      app.route({
        method,
        url: '/api/calls/:call_sid/hold',
        schema: { params: CallParams, headers: OrgHeaders, response: { 200: CallBody, ...writeErrors } },
        handler: async (request, reply) => {
          const call = await calls.setHold(request.headers['x-organization-id'], request.params.call_sid, request.principal!, on);
          audit(request, request.params.call_sid, on ? 'hold' : 'release');
          reply.header('cache-control', 'private, no-store');
          return { success: true as const, data: callData(call) };
        },
      });
    }
  };
