/**
 * Loads the configuration once at start: embedded defaults, then the JSON file named by
 * RECPROXY_CONFIG, then the environment (which wins). Every invalid value is reported in one
 * ConfigInvalid error, one line per problem, naming the variable (or file key) that set it.
 * RECPROXY_* variables that name no setting are not errors (a shell may export old ones), but
 * unknownVariables() words a warning for each.
 */
import { readFileSync } from 'node:fs';
import Value from 'typebox/value';
import { ConfigInvalid } from '../src/core/errors.js';
import { nearest } from './nearest.js';
import { CONFIG_KEYS, ConfigSchema, DEFAULTS, SECRET_KEYS, envName, parseTrustProxy, type Config } from './schema.js';

type Env = Record<string, string | undefined>;

/** Every environment variable recproxy reads. */
const KNOWN_VARIABLES = ['RECPROXY_CONFIG', ...CONFIG_KEYS.map(envName)];
const PROPERTIES = ConfigSchema.properties as Record<string, { type?: string; expect?: string }>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const source = new Map<string, string>();
  const merged: Record<string, unknown> = { ...DEFAULTS };

  const file = env.RECPROXY_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      problems.push(`RECPROXY_CONFIG: cannot read ${file} as JSON (${(err as Error).message})`);
    }
    if (parsed !== undefined && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) {
      problems.push(`RECPROXY_CONFIG: ${file} must hold a JSON object`);
    } else if (parsed) {
      for (const [key, value] of Object.entries(parsed)) {
        if (!(CONFIG_KEYS as string[]).includes(key)) {
          problems.push(`${file}: unknown key "${key}"`);
          continue;
        }
        // The JSON file may give the per-organization retention as an object, {"org_a": 30}.
        merged[key] = key === 'retentionDaysByOrg' ? retentionObjectAsPairs(value) : value;
        source.set(key, `${file}: "${key}"`);
      }
    }
  }

  for (const key of CONFIG_KEYS) {
    const raw = env[envName(key)];
    if (raw === undefined || raw === '') continue;
    merged[key] = raw;
    source.set(key, envName(key));
  }

  // Convert may coerce in place: keep what the user wrote for the error messages.
  const converted = Value.Convert(ConfigSchema, structuredClone(merged)) as Record<string, unknown>;
  // Convert also truncates ("3000.5" and 3000.5 become 3000): integers are checked as written.
  const invalid = new Map<string, string | undefined>(
    CONFIG_KEYS.filter((key) => !writtenAsInteger(key, merged[key])).map((key) => [key, undefined]),
  );
  for (const error of Value.Errors(ConfigSchema, converted)) {
    const key = error.instancePath.split('/')[1];
    if (key && !invalid.has(key)) invalid.set(key, error.message);
  }
  // Values a pattern cannot check well: IP addresses and CIDR prefixes.
  const trustProxy = converted.trustProxy;
  if (!invalid.has('trustProxy') && typeof trustProxy === 'string' && parseTrustProxy(trustProxy) === undefined) {
    invalid.set('trustProxy', 'a hop count or IP addresses and CIDRs');
  }
  for (const [key, message] of invalid) {
    const where = source.get(key) ?? envName(key);
    const shown = SECRET_KEYS.has(key as keyof Config) ? '' : ` (got ${JSON.stringify(merged[key])})`;
    problems.push(`${where}: must be ${PROPERTIES[key]?.expect ?? message}${shown}`);
  }
  if (problems.length === 0) problems.push(...crossChecks(converted as Config));
  if (problems.length > 0) throw new ConfigInvalid(problems.join('\n'));
  return converted as Config;
}

/** One warning per RECPROXY_* variable that names no setting, with the nearest known name. */
export function unknownVariables(env: Env = process.env): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('RECPROXY_') && !KNOWN_VARIABLES.includes(name))
    .sort()
    .map((name) => `${name} is not a recproxy setting and is ignored; did you mean ${nearest(name, KNOWN_VARIABLES, 'RECPROXY_')}?`);
}

/** `{"org_a": 30, "org_b": 0}` as `org_a=30,org_b=0` (the environment's form); any other value as it is. */
function retentionObjectAsPairs(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.entries(value).map(([org, days]) => `${org}=${String(days)}`).join(',');
}

/** False for a value of an integer setting that is not written as an integer. */
function writtenAsInteger(key: string, value: unknown): boolean {
  if (PROPERTIES[key]?.type !== 'integer' || value === undefined) return true;
  return typeof value === 'number' ? Number.isInteger(value) : typeof value === 'string' && /^-?\d+$/.test(value);
}

/** Rules that involve more than one setting. */
function crossChecks(config: Config): string[] {
  const problems: string[] = [];
  if (config.storage === 's3' && !config.s3Bucket) {
    problems.push(`${envName('s3Bucket')}: required when RECPROXY_STORAGE=s3`);
  }
  if (config.storage === 'minio') {
    for (const key of ['minioEndpoint', 'minioBucket', 'minioAccessKey', 'minioSecretKey'] as const) {
      if (!config[key]) problems.push(`${envName(key)}: required when RECPROXY_STORAGE=minio`);
    }
  }
  if (config.streamUrlReuseSec * 2 > config.streamTtl) {
    problems.push(`${envName('streamUrlReuseSec')}: must be at most half of RECPROXY_STREAM_TTL (${config.streamTtl})`);
  }
  if (config.authMode === 'jwt' && !config.jwtSecret === !config.jwtJwksUrl) {
    problems.push(`${envName('jwtSecret')} / ${envName('jwtJwksUrl')}: set exactly one when RECPROXY_AUTH_MODE=jwt`);
  }
  return problems;
}
