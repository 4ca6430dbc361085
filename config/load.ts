/**
 * Loads the configuration once at start: embedded defaults, then the JSON file named by
 * RECPROXY_CONFIG, then the environment (which wins). Every invalid value is reported in one
 * ConfigInvalid error, one line per problem, naming the variable (or file key) that set it.
 */
import { readFileSync } from 'node:fs';
import Value from 'typebox/value';
import { ConfigInvalid } from '../src/errors.js';
import { CONFIG_KEYS, ConfigSchema, DEFAULTS, SECRET_KEYS, envName, parseTrustProxy, type Config } from './schema.js';

type Env = Record<string, string | undefined>;

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
        merged[key] = value;
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
  const seen = new Set<string>();
  const invalid = (key: string, fallback: string) => {
    seen.add(key);
    const schema = (ConfigSchema.properties as Record<string, { expect?: string }>)[key];
    const where = source.get(key) ?? envName(key);
    const shown = SECRET_KEYS.has(key as keyof Config) ? '' : ` (got ${JSON.stringify(merged[key])})`;
    problems.push(`${where}: must be ${schema?.expect ?? fallback}${shown}`);
  };
  for (const error of Value.Errors(ConfigSchema, converted)) {
    const key = error.instancePath.split('/')[1];
    if (key && !seen.has(key)) invalid(key, error.message);
  }
  // Values a pattern cannot check well: IP addresses and CIDR prefixes.
  const trustProxy = converted.trustProxy;
  if (!seen.has('trustProxy') && typeof trustProxy === 'string' && parseTrustProxy(trustProxy) === undefined) {
    invalid('trustProxy', 'a hop count or IP addresses and CIDRs');
  }
  if (problems.length === 0) problems.push(...crossChecks(converted as Config));
  if (problems.length > 0) throw new ConfigInvalid(problems.join('\n'));
  return converted as Config;
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
