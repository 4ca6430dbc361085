/**
 * How errors become responses: `{"success":false,"error":{"code","message"}}` with one stable
 * upper-snake code. Schema failures are named by what failed (call_sid, organization header);
 * adapter errors are put in the API's terms (a missing object is RECORDING_NOT_FOUND).
 */
import { challengeOf } from './auth/authenticate.js';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  IndexBusy,
  InvalidCallSid,
  InvalidOrganization,
  InvalidRequest,
  MissingOrganization,
  PayloadTooLarge,
  RecordingNotFound,
  RouteNotFound,
  UnsupportedMediaType,
  ERROR_CONTENT_TYPE,
  errorEnvelope,
} from './core/errors.js';

const PUBLIC_5XX: Record<string, string> = {
  STORAGE_UNAVAILABLE: 'recording storage is unavailable; try again later',
  AUTH_UNAVAILABLE: 'the identity provider is unavailable; try again later',
  INDEX_BUSY: 'the call index is busy; try again shortly',
  SERVER_BUSY: 'the server is too busy to answer now; retry after the Retry-After seconds',
};
/** 5xx answers that are not failures worth a log line each (shed load comes in floods). */
const QUIET_5XX = new Set(['SERVER_BUSY']);
/** What better-sqlite3 throws when a lock is held past the busy timeout (SQLITE_BUSY_*, SQLITE_LOCKED_*). */
const SQLITE_LOCK = /^SQLITE_(BUSY|LOCKED)(_|$)/;

interface Coded {
  code?: string;
  statusCode?: number;
  message: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The error a request whose path parameters fail the schema is answered with (default INVALID_CALL_SID). */
    paramsError?: new () => Coded;
  }
}

/** Told of every error answered, with its code and status (the audit of denied attempts). */
export type OnErrorAnswer = (request: FastifyRequest, code: string, status: number) => void;

export function installErrorHandling(app: FastifyInstance, onAnswer?: OnErrorAnswer): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const mapped = translate(error, request);
    const status = mapped.statusCode ?? 500;
    if (status >= 500 && !QUIET_5XX.has(mapped.code ?? '')) request.log.error({ err: error }, 'request failed');
    else if (error !== mapped) request.log.debug({ err: error }, 'request refused');
    const code = mapped.code ?? 'INTERNAL_ERROR';
    const challenge = challengeOf(error);
    if (challenge) reply.header('www-authenticate', challenge);
    // Server-side details (hosts, paths) stay in the log.
    const message = status < 500 ? mapped.message : (PUBLIC_5XX[code] ?? 'internal error');
    onAnswer?.(request, code, status);
    sendError(reply, status, code, message);
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new RouteNotFound(request.method, request.url.split('?')[0]);
    sendError(reply, 404, err.code, err.message);
  });
}

export function sendError(reply: FastifyReply, status: number, code: string, message: string): void {
  reply.code(status).type(ERROR_CONTENT_TYPE).send(errorEnvelope(code, message));
}

function translate(error: FastifyError, request: FastifyRequest): Coded {
  if (error.validation) {
    const context = error.validationContext;
    if (context === 'params') {
      // A route whose only parameter is not a call_sid names its own error (media: TOKEN_INVALID).
      const ParamsError = request.routeOptions.config.paramsError ?? InvalidCallSid;
      return new ParamsError();
    }
    if (context === 'headers') {
      const missing = request.headers['x-organization-id'] === undefined;
      return missing ? new MissingOrganization() : new InvalidOrganization();
    }
    return new InvalidRequest(error.message);
  }
  if (SQLITE_LOCK.test(error.code ?? '')) return new IndexBusy({ cause: error });
  switch (error.code) {
    case 'OBJECT_NOT_FOUND':
      return new RecordingNotFound({ cause: error });
    case 'INVALID_STORAGE_KEY':
      // An index row or token naming a key outside the store: the recording is not reachable.
      request.log.warn({ err: error }, 'storage key refused');
      return new RecordingNotFound({ cause: error });
    // Fastify's refusals of a request body, under the API's codes.
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaType(`this endpoint does not take a body of type ${request.headers['content-type'] ?? '(none)'}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLarge('the request body is too large');
  }
  if (typeof error.statusCode === 'number' && error.statusCode < 500 && error.code) {
    // Fastify's own client errors (FST_ERR_…) and ours pass through with their code.
    return error;
  }
  return error.code && /^[A-Z][A-Z0-9_]+$/.test(error.code) && error.statusCode ? error : { message: 'internal error' };
}
