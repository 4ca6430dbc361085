/**
 * `/media/{token}`: bytes for a URL handed to a browser (local disk, or S3/MinIO in proxy mode).
 * The token is the capability: no header is needed, and it names the key, expiry and headers.
 * Limited per client address; each read is audited under the call and principal the URL was
 * issued for. A URL issued to an API key that has since been revoked is refused
 * (TOKEN_REVOKED); the check is a memoised lookup (`ApiKeys.isRevoked`, src/stores/types.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { dispositionHeader } from '../core/disposition.js';
import { TokenInvalid, TokenRevoked } from '../core/errors.js';
import { MediaParams, errorResponses } from '../schemas.js';
import { sendObject } from '../bytes/send.js';
import { limitRate } from './guard.js';
import type { AppContext } from '../context.js';

/** What this route uses of the context. */
export type MediaRoutesDeps = Pick<AppContext, 'signer' | 'apiKeys' | 'storage' | 'config'>;

export const mediaRoutes =
  (deps: MediaRoutesDeps): FastifyPluginAsync =>
  async (fastify) => {
    const { signer, apiKeys, storage, config } = deps;
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    limitRate(app, config.mediaRateLimitMax, config.rateLimitWindowMs);
    app.route({
      method: ['GET', 'HEAD'],
      url: '/media/:token',
      schema: { params: MediaParams, response: errorResponses },
      config: { paramsError: TokenInvalid },
      handler: async (request, reply) => {
        const grant = signer.verify(request.params.token);
        request.audited = { action: 'media', org: grant.org ?? '', sid: grant.sid ?? '', principal: grant.principal ?? null };
        if (grant.principal !== undefined && (await apiKeys.isRevoked(grant.principal))) throw new TokenRevoked();
        const remaining = Math.max(0, grant.exp - Math.floor(Date.now() / 1000));
        return sendObject(request, reply, storage, {
          key: grant.key,
          contentType: grant.contentType,
          contentDisposition: dispositionHeader(grant.disposition, grant.filename),
          cacheControl: `private, max-age=${remaining}`,
        });
      },
    });
  };
