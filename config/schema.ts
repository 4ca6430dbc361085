/**
 * The configuration schema (docs/architecture.md, "Layers"): one flat object, each setting with its
 * default, the environment variable that sets it, and what a valid value looks like.
 * The JSON config file (RECPROXY_CONFIG) uses the same camelCase keys.
 */
import { isIP } from 'node:net';
import Type, { type Static } from 'typebox';

const TRUST_PROXY_EXPECT = 'a hop count (an integer from 1 to 99) or comma-separated IP addresses or CIDRs (not true or false)';

/** `expect` is the one-line description printed when a value is invalid. */
const str = (expect: string, extra: object = {}) => Type.String({ expect, ...extra });
const int = (min: number, max: number, expect: string) => Type.Integer({ minimum: min, maximum: max, expect });
const oneOf = <const T extends string[]>(...values: T) =>
  Type.Enum(values, { expect: `one of ${values.join(', ')}` });
const optionalUrl = () =>
  Type.Optional(Type.String({ pattern: '^https?://[^\\s/]+(/\\S*)?$', expect: 'an http(s) URL' }));

/** One media-token signing key, `kid:secret`: the rule for RECPROXY_SIGNING_KEYS and the key file alike. */
export const SIGNING_KEY = '[A-Za-z0-9_-]{1,32}:[^,\\s]{32,}';

/** One organization's retention, `ORG=DAYS` (RECPROXY_RETENTION_DAYS_BY_ORG); an organization id never holds `=`. */
const RETENTION_PAIR = '[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}=(?:0|[1-9][0-9]{0,4})';

/**
 * An IPv4 address, an IPv6 address, or a host name whose last label is not all digits: so
 * `999.1.1.1` is refused here rather than sent to DNS as a name.
 */
const HOST_PATTERN =
  '^(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:\\.(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}' +
  '|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[\\w.-]+)?' +
  '|(?:[\\w-]+\\.)*[\\w-]*[A-Za-z_-][\\w-]*)$';

export const ConfigSchema = Type.Object(
  {
    host: str('a host name or IP address', { pattern: HOST_PATTERN }),
    port: int(0, 65535, 'an integer port from 0 to 65535'),
    publicUrl: optionalUrl(),
    dbPath: str('a file path', { minLength: 1 }),
    auditDbPath: Type.Optional(str('a file path', { minLength: 1 })),
    storage: oneOf('local', 's3', 'minio'),
    localRoot: str('a directory path', { minLength: 1 }),
    streamMode: oneOf('presigned', 'proxy'),
    streamTtl: int(1, 7 * 24 * 3600, 'whole seconds from 1 to 604800'),
    streamUrlReuseSec: int(0, 3600, 'whole seconds from 0 (never reuse) to 3600'),
    downloadTtl: int(1, 7 * 24 * 3600, 'whole seconds from 1 to 604800'),
    signingKeys: Type.Optional(
      str('comma-separated kid:secret pairs, each secret at least 32 characters', {
        pattern: `^${SIGNING_KEY}(,${SIGNING_KEY})*$`,
      }),
    ),
    signingKeyFile: str('a file path', { minLength: 1 }),
    storageTimeoutMs: int(100, 600_000, 'milliseconds from 100 to 600000'),
    maxUploadBytes: int(1, 2 ** 40, 'bytes from 1 to 1099511627776'),
    logLevel: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    authMode: oneOf('api-key', 'jwt', 'trusted-header'),
    jwtSecret: Type.Optional(str('an HS256 secret of at least 32 characters', { minLength: 32 })),
    jwtJwksUrl: optionalUrl(),
    jwtIssuer: Type.Optional(str('the expected "iss"', { minLength: 1 })),
    jwtAudience: Type.Optional(str('the expected "aud"', { minLength: 1 })),
    jwtOrgClaim: str('a claim name, such as org or https://example.com/orgs', { minLength: 1 }),
    jwtAdminScope: Type.Optional(str('a scope value that grants admin', { minLength: 1 })),
    trustedUserHeader: str('an HTTP header name', { pattern: '^[A-Za-z0-9-]{1,64}$' }),
    trustedOrgsHeader: Type.Optional(str('an HTTP header name', { pattern: '^[A-Za-z0-9-]{1,64}$' })),
    corsOrigins: Type.Optional(
      str('comma-separated origins such as https://app.example.com, or *', {
        pattern: '^(\\*|https?://[^\\s,/]+(,\\s*https?://[^\\s,/]+)*)$',
      }),
    ),
    rateLimitMax: int(0, 1_000_000, 'requests per window per credential, 0 for no limit'),
    rateLimitWindowMs: int(1000, 3_600_000, 'milliseconds from 1000 to 3600000'),
    mediaRateLimitMax: int(0, 1_000_000, 'media requests per window per client address, 0 for no limit'),
    authFailLimitMax: int(0, 1_000_000, 'failed authentications per window per client address, 0 for no limit'),
    trustProxy: Type.Optional(str(TRUST_PROXY_EXPECT, { minLength: 1 })),
    maxEventLoopDelayMs: int(0, 60_000, 'milliseconds from 0 (no limit) to 60000'),
    maxHeapUsedMb: Type.Optional(int(0, 1_000_000, 'MiB, 0 for no limit')),
    shutdownGraceMs: int(0, 600_000, 'milliseconds from 0 to 600000'),
    metricsToken: Type.Optional(str('a bearer token of at least 16 characters', { minLength: 16, pattern: '^[\\x21-\\x7e]+$' })),
    metricsPort: Type.Optional(int(0, 65535, 'an integer port from 0 to 65535 (a listener for /metrics alone)')),
    retentionDays: Type.Optional(int(1, 36500, 'whole days from 1 to 36500 (unset: calls are kept)')),
    retentionDaysByOrg: Type.Optional(
      str('comma-separated ORG=DAYS pairs, DAYS from 0 (keep that organization\'s calls) to 36500', {
        pattern: `^${RETENTION_PAIR}(,${RETENTION_PAIR})*$`,
      }),
    ),
    auditRetentionDays: int(0, 36500, 'whole days from 1 to 36500, or 0 to keep the audit forever'),
    retentionIntervalSec: int(1, 86400, 'whole seconds from 1 to 86400'),
    retentionBatchSize: int(1, 10000, 'calls per batch, from 1 to 10000'),
    retentionPauseMs: int(0, 60000, 'milliseconds from 0 to 60000'),
    s3Bucket: Type.Optional(str('a bucket name', { minLength: 3, maxLength: 63 })),
    s3Region: str('an AWS region such as us-east-1', { minLength: 1 }),
    s3Endpoint: optionalUrl(),
    s3PublicEndpoint: optionalUrl(),
    s3ForcePathStyle: Type.Boolean({ expect: 'true or false' }),
    minioEndpoint: optionalUrl(),
    minioPublicEndpoint: optionalUrl(),
    minioBucket: Type.Optional(str('a bucket name', { minLength: 3, maxLength: 63 })),
    minioRegion: str('a region name such as us-east-1', { minLength: 1 }),
    minioAccessKey: Type.Optional(str('an access key', { minLength: 1 })),
    minioSecretKey: Type.Optional(str('a secret key', { minLength: 1 })),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;

/** Embedded defaults: `npm start` serves on its own with these. */
export const DEFAULTS: Config = {
  host: '127.0.0.1',
  port: 3000,
  dbPath: './data/index.db',
  storage: 'local',
  localRoot: './data/recordings',
  streamMode: 'presigned',
  streamTtl: 3600,
  downloadTtl: 300,
  streamUrlReuseSec: 60,
  signingKeyFile: './data/signing.key',
  authMode: 'api-key',
  jwtOrgClaim: 'org',
  trustedUserHeader: 'x-forwarded-user',
  rateLimitMax: 600,
  rateLimitWindowMs: 60_000,
  mediaRateLimitMax: 6000,
  authFailLimitMax: 100,
  storageTimeoutMs: 5000,
  shutdownGraceMs: 8000,
  maxEventLoopDelayMs: 1000,
  maxUploadBytes: 2 * 1024 ** 3,
  auditRetentionDays: 365,
  retentionIntervalSec: 3600,
  retentionBatchSize: 100,
  retentionPauseMs: 200,
  logLevel: 'info',
  s3Region: 'us-east-1',
  s3ForcePathStyle: false,
  minioRegion: 'us-east-1',
};

/** Settings whose values are never printed, in errors or logs. */
export const SECRET_KEYS: ReadonlySet<keyof Config> = new Set(['signingKeys', 'minioSecretKey', 'minioAccessKey', 'jwtSecret', 'metricsToken']);

/** The environment variable for a setting: HOST and PORT as is, the rest RECPROXY_UPPER_SNAKE. */
export function envName(key: string): string {
  if (key === 'host' || key === 'port') return key.toUpperCase();
  return 'RECPROXY_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export const CONFIG_KEYS = Object.keys(ConfigSchema.properties) as (keyof Config)[];

/**
 * RECPROXY_TRUST_PROXY as the server uses it: a hop count, or the IP addresses and CIDRs of the
 * trusted proxies; undefined when the value is neither (load.ts reports it). `true`/`false` are
 * refused: trusting every peer would let any client that reaches the daemon choose its own
 * address, and so its rate-limit bucket and the address the audit records.
 */
export function parseTrustProxy(value: string): number | string[] | undefined {
  if (/^[1-9][0-9]?$/.test(value)) return Number(value);
  const list = value.split(',').map((v) => v.trim());
  const valid = list.every((entry) => {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || extra !== undefined) return false;
    if (prefix === undefined) return true;
    return /^(0|[1-9][0-9]{0,2})$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
  });
  return valid ? list : undefined;
}

/**
 * RECPROXY_RETENTION_DAYS_BY_ORG as a map, organization → days (0: that organization's calls
 * are kept whatever RECPROXY_RETENTION_DAYS says). The value is already checked by the schema.
 */
export function parseRetentionByOrg(value: string | undefined): Map<string, number> {
  const byOrg = new Map<string, number>();
  for (const pair of value ? value.split(',') : []) {
    const at = pair.lastIndexOf('=');
    byOrg.set(pair.slice(0, at), Number(pair.slice(at + 1)));
  }
  return byOrg;
}

/**
 * The retention settings as a policy (src/calls/retention.ts `RetentionPolicy`): the default
 * period, and the organizations with one of their own.
 */
export function retentionPolicyOf(config: Pick<Config, 'retentionDays' | 'retentionDaysByOrg'>): {
  defaultDays?: number;
  byOrg: Map<string, number>;
} {
  return { defaultDays: config.retentionDays, byOrg: parseRetentionByOrg(config.retentionDaysByOrg) };
}
