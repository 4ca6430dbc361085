/** Assembles the HTTP server from a context: routes, schemas, error envelope, logging. */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import underPressure from '@fastify/under-pressure';
import { getHeapStatistics } from 'node:v8';
import { ERROR_CONTENT_TYPE, HeadersTooLarge, InvalidRequest, RequestTimeout, ServerBusy, errorEnvelope } from './core/errors.js';
import { installErrorHandling } from './http-errors.js';
import { BodyErrorLogController } from './log-controller.js';
import { loggerOptions } from './redact.js';
import { adminRoutes } from './routes/admin.js';
import { callRoutes } from './routes/calls.js';
import { auditDenied, guardApi, recordAudited } from './routes/guard.js';
import { Readiness, healthRoutes } from './routes/health.js';
import { mediaRoutes } from './routes/media.js';
import { metricsRoutes } from './routes/metrics.js';
import { playerRoutes } from './routes/player.js';
import { registerOpenApi } from './routes/openapi.js';
import { packageVersion } from './version.js';
import { peaksRoutes } from './routes/peaks.js';
import { recordingRoutes } from './routes/recording.js';
import { uploadRoutes } from './routes/upload.js';
import { daemonAuditRetention, daemonRetention } from './retention-timer.js';
import { parseTrustProxy } from '../config/schema.js';
import type { AppContext } from './context.js';

/** What the server and its routes use of the context (the index only through the calls service). */
export type ServerDeps = Pick<AppContext, 'config' | 'audit' | 'calls' | 'storage' | 'signer' | 'apiKeys' | 'authenticate' | 'authFailures' | 'metrics'>;

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

/** Routes answered under any load: an orchestrator and Prometheus must still see the daemon. */
const NEVER_SHED = new Set(['/healthz', '/readyz', '/metrics']);
/** Seconds a shed request is told to wait (Retry-After). */
export const SHED_RETRY_AFTER_S = 5;

/**
 * Load shedding (@fastify/under-pressure): past RECPROXY_MAX_EVENT_LOOP_DELAY_MS of event-loop
 * delay, or past the heap limit (RECPROXY_MAX_HEAP_USED_MB; unset: 90% of V8's heap limit), a
 * request gets 503 SERVER_BUSY with Retry-After at once instead of waiting in a growing queue.
 * Health, readiness and metrics are always answered. Sampled once a second.
 */
async function shedLoad(app: FastifyInstance, config: ServerDeps['config']): Promise<void> {
  const heapMb = config.maxHeapUsedMb ?? Math.floor((getHeapStatistics().heap_size_limit * 0.9) / 2 ** 20);
  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    maxHeapUsedBytes: heapMb * 2 ** 20,
    pressureHandler: (request, reply, type, value) => {
      if (NEVER_SHED.has(request.routeOptions.url ?? '')) return undefined;
      reply.header('retry-after', SHED_RETRY_AFTER_S);
      const what = type === 'eventLoopDelay' ? `event loop ${Math.round(Number(value))} ms behind` : type === 'heapUsedBytes' ? `heap at ${Math.round(Number(value) / 2 ** 20)} MiB` : type;
      return Promise.reject(new ServerBusy(what));
    },
  });
}

/** What a request's own X-Request-Id must look like to be kept (a proxy's or client's id). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's id, in every log line of the request and in its X-Request-Id response header:
 * the request's own X-Request-Id when it is well formed (one value, 1-128 of `A-Z a-z 0-9 . _ : -`),
 * else a new UUID.
 */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The pino methods that write a line; LazyChildLogger forwards each to the child it makes. */
const LOG_METHODS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogMethods = Record<(typeof LOG_METHODS)[number], (...args: unknown[]) => void>;
// Merged with the class below: the methods are set on its prototype after it.
export interface LazyChildLogger extends LogMethods {}

/**
 * A request's logger, made on first use. Fastify gives every request a child of the daemon's
 * logger bound to its id; a pino child with the redaction (src/redact.ts) costs ~1.6 µs and its
 * garbage, on every request, while at the default "info" level a request that goes well logs
 * nothing. This one makes that child when a line is written, or `level` or `child` is asked.
 */
export class LazyChildLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    readonly parent: FastifyBaseLogger,
    readonly bindings: Record<string, unknown>,
    readonly options: object,
  ) {}

  /** The pino child, made now if it was not yet. */
  get made(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made.level;
  }

  set level(level: string) {
    this.made.level = level;
  }

  child(bindings: Record<string, unknown>, options?: object): FastifyBaseLogger {
    return this.made.child(bindings, options);
  }
}

for (const method of LOG_METHODS) {
  LazyChildLogger.prototype[method] = function (this: LazyChildLogger, ...args: unknown[]): void {
    const child = this.made;
    Reflect.apply(child[method], child, args);
  };
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

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Resolves once every response in flight has closed (finished or cut off) and its audit
     * entry is recorded: what shutdown waits for before closing the stores.
     */
    responsesClosed(): Promise<void>;
  }
}

/**
 * What every response needs from its arrival to its close, in one onRequest hook and one `close`
 * listener (hooks and listeners of their own would each cost every request): the X-Request-Id
 * header, the metrics' count and latency (src/metrics.ts), the access audit of
 * `request.audited` (recordAudited, src/routes/guard.ts), and the count of responses in flight
 * for `responsesClosed`. The listener runs first of the response's `close` listeners;
 * a promise resolved in it settles its waiters only after all of them have run.
 */
function watchResponses(app: FastifyInstance, { metrics, audit }: Pick<ServerDeps, 'metrics' | 'audit'>): void {
  let open = 0;
  let waiting: (() => void)[] = [];
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    open++;
    const start = performance.now();
    const slot = metrics.requestStarted(request.routeOptions.url ?? 'unmatched', request.method);
    // Read now: once the socket is gone, request.ip is undefined.
    const client = request.ip;
    const res = reply.raw;
    res.on('close', () => {
      metrics.requestClosed(slot, res.statusCode, (performance.now() - start) / 1000, request.bytesSent ?? 0);
      recordAudited(audit, request, client, res.statusCode);
      if (--open === 0) {
        for (const resolve of waiting) resolve();
        waiting = [];
      }
    });
    done();
  });
  app.decorate('responsesClosed', () => (open === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))));
}

export async function buildServer(ctx: ServerDeps, options: ServerOptions = {}): Promise<FastifyInstance> {
  const level = ctx.config.logLevel;
  const app = Fastify({
    // Media URLs are capabilities and keys are secrets: neither reaches a log line.
    logger: options.logger ?? loggerOptions(level),
    // Per-request access lines only when asked for; the hot path stays quiet at "info".
    logController: new BodyErrorLogController({ disableRequestLogging: level !== 'debug' && level !== 'trace' }),
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
    requestIdHeader: false,
    genReqId: requestId,
    childLoggerFactory: (logger, bindings, options) => new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger,
  });
  watchResponses(app, ctx);
  await shedLoad(app, ctx.config);
  installErrorHandling(app, (request, code, status) => auditDenied(ctx, request, code, status));
  if (ctx.config.corsOrigins) {
    const origins = ctx.config.corsOrigins.split(',').map((o) => o.trim());
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : origins,
      // Writes too: a front end uploads (POST, PUT), deletes and holds (DELETE, PUT) calls.
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
      allowedHeaders: ['Authorization', 'X-Organization-Id', 'Content-Type', 'X-Request-Id', 'Range', 'If-Range', 'If-None-Match', 'If-Modified-Since', 'If-Match', 'If-Unmodified-Since'],
      exposedHeaders: ['Content-Range', 'Content-Length', 'Accept-Ranges', 'Content-Disposition', 'ETag', 'Last-Modified', 'Retry-After', 'X-Request-Id'],
      maxAge: 600,
    });
  }
  await registerOpenApi(app, packageVersion());
  await app.register(healthRoutes(new Readiness({ storage: ctx.storage, indexAnswers: () => ctx.calls.indexAnswers(), log: app.log })));
  await app.register(adminRoutes(ctx));
  // One guard around the recording and calls routes: a credential's rate limit counts both.
  await app.register(async (api) => {
    guardApi(api, ctx);
    await api.register(recordingRoutes(ctx));
    await api.register(peaksRoutes(ctx));
    await api.register(callRoutes(ctx));
    await api.register(uploadRoutes(ctx));
  });
  await app.register(mediaRoutes(ctx));
  // The player page (player/): static files over the public API.
  await app.register(playerRoutes);
  daemonRetention(app, ctx);
  daemonAuditRetention(app, ctx);
  // With RECPROXY_METRICS_PORT, /metrics is on a listener of its own (buildMetricsServer).
  if (ctx.config.metricsPort === undefined) await app.register(metricsRoutes(ctx.metrics, ctx.config.metricsToken));
  return app;
}

/** The listener of RECPROXY_METRICS_PORT: `/metrics` alone, with the same envelope for errors. */
export async function buildMetricsServer(ctx: Pick<AppContext, 'config' | 'metrics'>, options: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? loggerOptions(ctx.config.logLevel), return503OnClosing: true, clientErrorHandler: clientError });
  installErrorHandling(app, () => undefined);
  await app.register(metricsRoutes(ctx.metrics, ctx.config.metricsToken));
  return app;
}
