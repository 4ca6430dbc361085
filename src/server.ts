/** Assembles the HTTP server from a context: routes, schemas, error envelope, logging. */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { installErrorHandling } from './http-errors.js';
import { healthRoutes } from './routes/health.js';
import { mediaRoutes } from './routes/media.js';
import { recordingRoutes } from './routes/recording.js';
import type { AppContext } from './context.js';

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
    routerOptions: { maxParamLength: 4096 },
    return503OnClosing: true,
  });
  installErrorHandling(app);
  await app.register(healthRoutes);
  await app.register(recordingRoutes(ctx));
  await app.register(mediaRoutes(ctx));
  return app;
}
