/**
 * `GET /metrics`: the Prometheus text format of src/metrics.ts. With RECPROXY_METRICS_TOKEN set,
 * only `Authorization: Bearer <token>` is answered (401 otherwise, compared in constant time).
 * Served on the daemon's port, or on a listener of its own (RECPROXY_METRICS_PORT, `serve`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { Unauthorized } from '../core/errors.js';
import type { Metrics } from '../metrics.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function metricsRoutes(metrics: Metrics, token: string | undefined): FastifyPluginAsync {
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`);
  return async (app) => {
    app.get('/metrics', async (request, reply) => {
      if (expected) {
        const given = request.headers.authorization;
        if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
          throw new Unauthorized('GET /metrics needs Authorization: Bearer <RECPROXY_METRICS_TOKEN>');
        }
      }
      reply.header('content-type', metrics.registry.contentType);
      reply.header('cache-control', 'no-store');
      return metrics.registry.metrics();
    });
  };
}
