/**
 * The waveform of a recording: GET /api/calls/{call_sid}/recording/peaks?points=N, min/max pairs
 * in audiowaveform's JSON v2 shape (src/calls/peaks.ts computes and caches them). Behind the same
 * guard as the recording routes (guardApi, src/routes/guard.ts, around it in src/server.ts):
 * authenticated, organization-scoped (another organization's call is CALL_NOT_FOUND), a `read`
 * credential suffices. Not in the access audit's reads: no recording bytes or URL leave.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { InvalidRequest } from '../core/errors.js';
import { BASE_PAIRS, DEFAULT_POINTS } from '../calls/peaks.js';
import { CallParams, OrgHeaders, PeaksBody, PeaksQuery, errorResponse, errorResponses } from '../schemas.js';
import type { AppContext } from '../context.js';

/** What this route uses of the context. */
export type PeaksRoutesDeps = Pick<AppContext, 'calls'>;

export const peaksRoutes =
  (deps: PeaksRoutesDeps): FastifyPluginAsync =>
  async (fastify) => {
    const { calls } = deps;
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/api/calls/:call_sid/recording/peaks',
      {
        // A bad `points` is INVALID_REQUEST naming it, as the listing's `limit` is; the path and header keep their own codes.
        attachValidation: true,
        schema: {
          params: CallParams,
          headers: OrgHeaders,
          querystring: PeaksQuery,
          response: { 200: PeaksBody, ...errorResponses, 422: errorResponse(422) },
        },
      },
      async (request, reply) => {
        const invalid = request.validationError;
        if (invalid) {
          if (invalid.validationContext === 'querystring') throw new InvalidRequest(`points must be an integer from 1 to ${BASE_PAIRS}`);
          throw invalid;
        }
        const call = await calls.findCall(request.headers['x-organization-id'], request.params.call_sid, request.principal!);
        const peaks = await calls.peaks(call, request.query.points ?? DEFAULT_POINTS);
        reply.header('cache-control', 'private, max-age=86400');
        return peaks;
      },
    );
  };
