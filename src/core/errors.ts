/**
 * Every error recproxy raises, each a named code built with @fastify/error.
 * The HTTP layer answers them as `{"success":false,"error":{"code","message"}}`
 * with the error's statusCode. Storage adapters raise the STORAGE_* / OBJECT_*
 * ones, always with the backend's own error as `cause`.
 */
import createError from '@fastify/error';

// Request validation
export const InvalidCallSid = createError(
  'INVALID_CALL_SID',
  'call_sid must be "call_" followed by 1-64 ASCII letters or digits',
  400,
);
export const MissingOrganization = createError(
  'MISSING_ORGANIZATION',
  'the X-Organization-Id header is required',
  400,
);
export const InvalidOrganization = createError(
  'INVALID_ORGANIZATION',
  'X-Organization-Id must be 1-128 letters, digits, or _ . : - starting with a letter or digit',
  400,
);
export const InvalidRequest = createError('INVALID_REQUEST', '%s', 400);
/** A query parameter out of its rule on the waveform peaks route (src/routes/peaks.ts): the message names it. */
export const HeadersTooLarge = createError('HEADERS_TOO_LARGE', 'the request headers are too large', 431);
export const RequestTimeout = createError('REQUEST_TIMEOUT', 'the request was not received in time', 408);
export const RouteNotFound = createError('ROUTE_NOT_FOUND', 'no route for %s %s', 404);
/** An upload's recording (a file part or a PUT body) larger than RECPROXY_MAX_UPLOAD_BYTES. */
export const PayloadTooLarge = createError('PAYLOAD_TOO_LARGE', '%s', 413);
/** Bytes that are not audio recproxy knows (src/audio-sniff.ts), or an upload body of a non-audio type. */
export const UnsupportedMediaType = createError('UNSUPPORTED_MEDIA_TYPE', '%s', 415);

// Lookups
export const CallNotFound = createError('CALL_NOT_FOUND', 'no call %s in this organization', 404);
export const RecordingNotFound = createError(
  'RECORDING_NOT_FOUND',
  'the recording of this call is not in storage',
  404,
);
/** Peaks of a recording the daemon cannot decode (src/calls/peaks.ts): the message says its format; it still plays. */
export const WaveformUnavailable = createError('WAVEFORM_UNAVAILABLE', '%s', 422);
export const CallExists = createError('CALL_EXISTS', 'call %s is already indexed', 409);
/** DELETE of a call on legal hold (src/calls/delete.ts): release the hold first. */
export const LegalHold = createError('LEGAL_HOLD', 'call %s is on legal hold; release the hold before deleting it', 409);
/** A listing's `cursor` that is malformed, altered, or made for another organization or other filters. */
export const InvalidCursor = createError('INVALID_CURSOR', 'invalid cursor: %s', 400);

// Auth and capabilities
export const Unauthorized = createError('UNAUTHORIZED', '%s', 401);
export const TokenInvalid = createError('TOKEN_INVALID', 'the media token is not valid', 403);
export const TokenExpired = createError('TOKEN_EXPIRED', 'the media token has expired', 403);
export const TokenRevoked = createError('TOKEN_REVOKED', 'the media token was issued to an API key that has been revoked', 403);

export const RateLimited = createError('RATE_LIMITED', 'too many requests; retry in %s', 429);

// Byte ranges and preconditions
export const RangeNotSatisfiable = createError(
  'RANGE_NOT_SATISFIABLE',
  'the requested range is outside the recording (%s bytes)',
  416,
);
export const PreconditionFailed = createError('PRECONDITION_FAILED', 'a precondition header did not match', 412);

// Storage
export const InvalidKey = createError('INVALID_STORAGE_KEY', 'invalid storage key: %s', 400);
export const ObjectNotFound = createError('OBJECT_NOT_FOUND', 'no object at key %s', 404);
export const StorageUnavailable = createError('STORAGE_UNAVAILABLE', 'storage is unavailable: %s', 503);
/** Load shedding: the event loop is too far behind, or the heap too full, to take more work now. */
export const ServerBusy = createError('SERVER_BUSY', 'the server is too busy to answer now (%s); retry later', 503);
/** Another process holds a lock on the call index past the daemon's short busy timeout. */
export const IndexBusy = createError('INDEX_BUSY', 'the call index is locked by another process', 503);

// Start-up
export const ConfigInvalid = createError('CONFIG_INVALID', 'invalid configuration:\n%s', 500);
/** `serve` could not bind its address (port taken, address not on this host, no permission). */
export const ListenFailed = createError('LISTEN_FAILED', 'cannot listen on %s: %s', 500);
/** The call index file exists but is empty or not SQLite: refused, never replaced. */
export const DatabaseInvalid = createError('DATABASE_INVALID', '%s', 500);

/** True when `err` is an error built here with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

// Authentication and tenant scope (src/auth/*). UNAUTHORIZED (above) is every 401.
/**
 * The credential is genuine but does not hold the organization named in X-Organization-Id.
 * 403, not 404: it is about the header, not about a call, so it reveals nothing about calls.
 */
export const OrgForbidden = createError(
  'ORG_FORBIDDEN',
  'this credential does not grant access to organization %s',
  403,
);
/** The credential is genuine but its scope is too narrow (a `read` key on an admin endpoint). */
export const InsufficientScope = createError('INSUFFICIENT_SCOPE', 'this endpoint needs the %s scope', 403);
/** Credentials could not be checked (the JWKS endpoint is down or answers garbage): not the client's fault. */
export const AuthUnavailable = createError('AUTH_UNAVAILABLE', 'cannot verify credentials: %s', 503);
/** `keys revoke ID` / `keys get ID` for an id that was never issued. */
export const ApiKeyNotFound = createError('API_KEY_NOT_FOUND', 'no API key %s', 404);

/** The media type of every error answer. */
export const ERROR_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * The one JSON error envelope, `{"success":false,"error":{"code","message"}}`: every error answer
 * is this text, whether Fastify's reply, the router's raw response or a socket the HTTP parser refused.
 */
export function errorEnvelope(code: string, message: string): string {
  return JSON.stringify({ success: false, error: { code, message } });
}
