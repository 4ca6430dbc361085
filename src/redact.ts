/**
 * Keeping secrets out of logs. Two layers, both for the Fastify/pino logger options:
 *
 * - `serializers.req` replaces Fastify's request serializer: method, the URL with every
 *   capability blanked (`redactUrl`), and the client address. No headers at all, so no
 *   Authorization, Cookie or X-Api-Key can leave through it.
 * - `REDACT_PATHS` (pino `redact`) blanks the same header values wherever a log call passes
 *   headers explicitly (`log.info({ headers })`, `log.info({ req: { headers } })`, ...).
 *
 * - `redactLogArguments` (pino `hooks.logMethod`) runs `redactText` over the message strings.
 *
 * `redactText` blanks the same secrets inside free text (a message quoting a URL).
 * `loggerOptions(level)` assembles all of it. Not covered: the `message` and `stack` of a
 * logged error object (`{ err }`); errors raised here do not quote credentials.
 */

/** Replacement for every blanked value. */
export const REDACTED = '[redacted]';

const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-amz-security-token'];

/** pino `redact` paths: secret headers at the places a log call may put them. */
export const REDACT_PATHS: string[] = SECRET_HEADERS.flatMap((h) => {
  const key = /^[a-z]+$/.test(h) ? `.${h}` : `["${h}"]`;
  return [
    `req.headers${key}`,
    `res.headers${key}`,
    `request.headers${key}`,
    `headers${key}`,
    `*.headers${key}`,
  ];
});

/** Query parameters whose values are credentials (compared case-insensitively). */
const SECRET_PARAMS = [
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'signature', // S3 SigV2 presigned URLs
  'awsaccesskeyid',
  'access_token',
  'id_token',
  'token',
  'api_key',
  'apikey',
  'key',
];
const PARAM = new RegExp(`([?&;](?:${SECRET_PARAMS.join('|')})=)[^&#\\s"']*`, 'gi');
/** `/media/<token>`: the token is the capability. */
const MEDIA = /(\/media\/)[^/?#\s"']+/g;
/** A media token or a JWT (`a.b.<signature of 43+ base64url characters>`) wherever it appears. */
const SIGNED_TOKEN = /[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43,}/g;
/** `scheme://user:password@host` */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/?#\s@"']+@/gi;
/** A recproxy API key anywhere. */
const API_KEY = /\brpk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}/g;
/** `Bearer <token>` / `Basic <credentials>` quoted in text. */
const AUTH_VALUE = /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi;

/**
 * The URL (absolute, or a path with a query) with its capabilities blanked: the media token,
 * presigned-URL signatures and credentials, token-like query parameters, and userinfo.
 * Never throws; a malformed URL is redacted the same way.
 */
export function redactUrl(url: string): string {
  return url
    .replace(MEDIA, `$1${REDACTED}`)
    .replace(PARAM, `$1${REDACTED}`)
    .replace(USERINFO, `$1${REDACTED}@`)
    .replace(SIGNED_TOKEN, REDACTED);
}

/** `redactUrl` plus API keys and `Bearer`/`Basic` credentials anywhere in free text. */
export function redactText(text: string): string {
  return redactUrl(text).replace(API_KEY, REDACTED).replace(AUTH_VALUE, `$1 ${REDACTED}`);
}

/** What Fastify passes to the req serializer (a FastifyRequest), or a bare IncomingMessage. */
export interface SerializableRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string } | null;
}

// A type alias, not an interface, so it fits Fastify's index-signature serializer type.
export type SerializedRequest = {
  method: string | undefined;
  url: string | undefined;
  remoteAddress: string | undefined;
};

/** pino serializers for the Fastify logger. */
export const serializers = {
  req(req: SerializableRequest): SerializedRequest {
    return {
      method: req.method,
      url: typeof req.url === 'string' ? redactUrl(req.url) : undefined,
      remoteAddress: req.ip ?? req.socket?.remoteAddress ?? undefined,
    };
  },
};

/**
 * pino `hooks.logMethod`: runs `redactText` over every string argument of a log call, so a
 * message that quotes a URL (Fastify's own "Route GET:/media/<token> not found", say) is
 * blanked too. Log calls are rare on the hot path (per-request lines are off at "info"), so
 * the regexes cost nothing that matters.
 */
export function redactLogArguments(
  this: unknown,
  args: unknown[],
  method: (this: unknown, ...args: unknown[]) => void,
): void {
  method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)));
}

/** Logger options for `Fastify({ logger: loggerOptions(level) })` (add `stream` as needed). */
export function loggerOptions(level: string): {
  level: string;
  redact: { paths: string[]; censor: string };
  serializers: typeof serializers;
  hooks: { logMethod: typeof redactLogArguments };
} {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers,
    hooks: { logMethod: redactLogArguments },
  };
}
