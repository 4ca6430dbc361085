/** Assembles the HTTP server from a context: routes, schemas, error envelope, logging. */
import type { ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import { installErrorHandling } from './http-errors.js';
import { loggerOptions } from './redact.js';
import { adminRoutes } from './routes/admin.js';
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
    // Media URLs are capabilities and keys are secrets: neither reaches a log line.
    logger: options.logger ?? loggerOptions(level),
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
  if (ctx.config.corsOrigins) {
    const origins = ctx.config.corsOrigins.split(',').map((o) => o.trim());
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : origins,
      methods: ['GET', 'HEAD'],
      allowedHeaders: ['Authorization', 'X-Organization-Id', 'Range', 'If-Range', 'If-None-Match', 'If-Modified-Since', 'If-Match', 'If-Unmodified-Since'],
      exposedHeaders: ['Content-Range', 'Content-Length', 'Accept-Ranges', 'Content-Disposition', 'ETag', 'Last-Modified', 'Retry-After'],
      maxAge: 600,
    });
  }
  await app.register(healthRoutes);
  await app.register(adminRoutes(ctx));
  await app.register(recordingRoutes(ctx));
  await app.register(mediaRoutes(ctx));
  return app;
}
