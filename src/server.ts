/** Assembles the HTTP server from a context: routes, schemas, error envelope, logging. */
import type { ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { installErrorHandling } from './http-errors.js';
import { healthRoutes } from './routes/health.js';
import { mediaRoutes } from './routes/media.js';
import { recordingRoutes } from './routes/recording.js';
import type { AppContext } from './context.js';

/** The error envelope on a raw response, for router failures that happen before Fastify's reply. */
function rawError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ success: false, error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export interface ServerOptions {
  /** Pino logger options, or false for none (tests). */
  logger?: boolean | object;
}

export async function buildServer(ctx: AppContext, options: ServerOptions = {}): Promise<FastifyInstance> {
  const level = ctx.config.logLevel;
  const app = Fastify({
    logger: options.logger ?? {
      level,
      // Media URLs are capabilities: never log a token or a credential.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.url'],
    },
    // Per-request access lines only when asked for; the hot path stays quiet at "info".
    logController: new LogController({ disableRequestLogging: level !== 'debug' && level !== 'trace' }),
    // Media tokens are longer than Fastify's default 100-character parameter limit.
    routerOptions: {
      maxParamLength: 8192,
      onMaxParamLength: (_path, _req, res) => rawError(res, 414, 'URI_TOO_LONG', 'the request URL is too long'),
      onBadUrl: (_path, _req, res) => rawError(res, 400, 'INVALID_REQUEST', 'the request URL is malformed'),
    },
    return503OnClosing: true,
  });
  installErrorHandling(app);
  await app.register(healthRoutes);
  await app.register(recordingRoutes(ctx));
  await app.register(mediaRoutes(ctx));
  return app;
}
