/** Assembles the HTTP server from a context: routes, schemas, error envelope, logging. */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import { ERROR_CONTENT_TYPE, HeadersTooLarge, InvalidRequest, RequestTimeout, errorEnvelope } from './core/errors.js';
import { installErrorHandling } from './http-errors.js';
import { loggerOptions } from './redact.js';
import { adminRoutes } from './routes/admin.js';
import { callRoutes } from './routes/calls.js';
import { auditDenied, guardApi } from './routes/guard.js';
import { healthRoutes } from './routes/health.js';
import { mediaRoutes } from './routes/media.js';
import { recordingRoutes } from './routes/recording.js';
import { daemonRetention } from './retention-timer.js';
import { parseTrustProxy } from '../config/schema.js';
import type { AppContext } from './context.js';

/** What the server and its routes use of the context (the index only through the calls service). */
export type ServerDeps = Pick<AppContext, 'config' | 'audit' | 'calls' | 'storage' | 'signer' | 'apiKeys' | 'authenticate' | 'authFailures'>;

/** The error envelope on a raw response, for router failures that happen before Fastify's reply. */
function rawError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = errorEnvelope(code, message);
  res.writeHead(status, { 'content-type': ERROR_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (CR, LF or NUL inside a header,
 * raw non-ASCII bytes in the target, obs-fold, Content-Length with Transfer-Encoding, a header
 * block over the size limit): the same JSON envelope as every other error, on the socket.
 */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const refused =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new HeadersTooLarge()
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RequestTimeout()
        : new InvalidRequest('the request is malformed');
  const { statusCode: status, code, message } = refused;
  const body = errorEnvelope(code, message);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${ERROR_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

export interface ServerOptions {
  /** Pino logger options, or false for none (tests). */
  logger?: boolean | object;
}

/**
 * RECPROXY_TRUST_PROXY as Fastify's `trustProxy`: off (the socket's peer is the client), the
 * listed proxy addresses, or a hop count. Fastify refuses a bare number (it trusts nothing then),
 * so a hop count becomes a function that trusts the first `hops` peers whatever their address.
 */
export function trustProxyOption(value: string | undefined): false | string[] | ((address: string, hop: number) => boolean) {
  const parsed = value === undefined ? undefined : parseTrustProxy(value);
  if (parsed === undefined) return false;
  if (typeof parsed !== 'number') return parsed;
  return (_address, hop) => hop < parsed;
}

export async function buildServer(ctx: ServerDeps, options: ServerOptions = {}): Promise<FastifyInstance> {
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
    // Whose X-Forwarded-For is believed: request.ip (rate limits, the audit's client) follows it.
    trustProxy: trustProxyOption(ctx.config.trustProxy),
    clientErrorHandler: clientError,
    // Node keeps the first of two Authorization headers and drops the second; joined, they are
    // one malformed value (401), so a request cannot carry two credentials.
    http: { joinDuplicateHeaders: true },
  });
  installErrorHandling(app, (request, code, status) => auditDenied(ctx, request, code, status));
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
  // One guard around the recording and calls routes: a credential's rate limit counts both.
  await app.register(async (api) => {
    await guardApi(api, ctx);
    await api.register(recordingRoutes(ctx));
    await api.register(callRoutes(ctx));
  });
  await app.register(mediaRoutes(ctx));
  daemonRetention(app, ctx);
  return app;
}
