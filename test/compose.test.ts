/**
 * Static checks of the container wiring: docker-compose.yml and the Dockerfile are read and
 * parsed, never run (no container engine is needed). When a Compose CLI is on PATH, the file
 * is also handed to `docker compose config -q` as an extra check.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPOSE_FILE = fileURLToPath(new URL('../docker-compose.yml', import.meta.url));
const DOCKERFILE = fileURLToPath(new URL('../Dockerfile', import.meta.url));

/** Every RECPROXY_* variable the daemon reads (config/schema.ts); compose may name no other. */
const RECPROXY_VARS = new Set([
  'RECPROXY_PUBLIC_URL',
  'RECPROXY_DB_PATH',
  'RECPROXY_STORAGE',
  'RECPROXY_LOCAL_ROOT',
  'RECPROXY_STREAM_MODE',
  'RECPROXY_STREAM_TTL',
  'RECPROXY_DOWNLOAD_TTL',
  'RECPROXY_SIGNING_KEYS',
  'RECPROXY_SIGNING_KEY_FILE',
  'RECPROXY_STORAGE_TIMEOUT_MS',
  'RECPROXY_LOG_LEVEL',
  'RECPROXY_CONFIG',
  'RECPROXY_S3_BUCKET',
  'RECPROXY_S3_REGION',
  'RECPROXY_S3_ENDPOINT',
  'RECPROXY_S3_PUBLIC_ENDPOINT',
  'RECPROXY_S3_FORCE_PATH_STYLE',
  'RECPROXY_MINIO_ENDPOINT',
  'RECPROXY_MINIO_PUBLIC_ENDPOINT',
  'RECPROXY_MINIO_BUCKET',
  'RECPROXY_MINIO_REGION',
  'RECPROXY_MINIO_ACCESS_KEY',
  'RECPROXY_MINIO_SECRET_KEY',
]);

type Env = Record<string, string | undefined>;
type Service = Record<string, unknown>;

// ---------------------------------------------------------------------------------------
// Compose helpers

/**
 * Compose-style interpolation: `$$` → `$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}` and `$VAR`, resolved against `env`.
 */
function interpolate(value: string, env: Env): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (match === '$$') return '$';
      const name = braced ?? bare ?? '';
      const v = env[name];
      const set = v !== undefined;
      const nonEmpty = set && v !== '';
      switch (op) {
        case ':-':
          return nonEmpty ? v : (arg ?? '');
        case '-':
          return set ? v : (arg ?? '');
        case ':+':
          return nonEmpty ? (arg ?? '') : '';
        case '+':
          return set ? (arg ?? '') : '';
        case ':?':
        case '?':
          if (op === ':?' ? !nonEmpty : !set) throw new Error(`required variable ${name}: ${arg ?? ''}`);
          return v ?? '';
        default:
          return v ?? '';
      }
    },
  );
}

/** A service's `environment` (map or KEY=VALUE list) with values interpolated against `env`. */
function serviceEnv(service: Service, env: Env): Record<string, string> {
  const raw = service.environment;
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const s = String(item);
      const eq = s.indexOf('=');
      if (eq > 0) out[s.slice(0, eq)] = interpolate(s.slice(eq + 1), env);
      else if (env[s] !== undefined) out[s] = env[s] as string;
    }
  } else if (raw && typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (v === null || v === undefined) {
        if (env[k] !== undefined) out[k] = env[k] as string;
      } else {
        out[k] = interpolate(String(v), env);
      }
    }
  }
  return out;
}

/** The raw names in a service's `environment`. */
function envNames(service: Service): string[] {
  const raw = service.environment;
  if (Array.isArray(raw)) return raw.map((s) => String(s).split('=')[0] ?? '');
  if (raw && typeof raw === 'object') return Object.keys(raw);
  return [];
}

interface PortMapping {
  host: number | undefined;
  container: number;
}

/** Short (`[ip:]host:container[/proto]`, `container`) and long (`{target, published}`) syntax. */
function portMappings(service: Service, env: Env): PortMapping[] {
  const raw = service.ports;
  if (!Array.isArray(raw)) return [];
  const out: PortMapping[] = [];
  for (const p of raw) {
    if (p && typeof p === 'object') {
      const o = p as { target?: unknown; published?: unknown };
      const published = o.published === undefined ? undefined : Number(interpolate(String(o.published), env));
      out.push({ host: published, container: Number(o.target) });
      continue;
    }
    const spec = interpolate(String(p), env).replace(/\/(tcp|udp|sctp)$/, '');
    const parts = spec.split(':');
    const container = Number(parts[parts.length - 1]);
    const host = parts.length >= 2 ? Number(parts[parts.length - 2]) : undefined;
    out.push({ host, container });
  }
  return out;
}

/** `depends_on` as a map of service → condition (the list form means `service_started`). */
function dependsOn(service: Service): Record<string, string> {
  const raw = service.depends_on;
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) for (const name of raw) out[String(name)] = 'service_started';
  else if (raw && typeof raw === 'object') {
    for (const [name, v] of Object.entries(raw as Record<string, { condition?: string }>)) {
      out[name] = v?.condition ?? 'service_started';
    }
  }
  return out;
}

/** Splits an image reference into repository, tag and digest. */
function imageRef(image: string): { repo: string; tag: string | undefined; digest: string | undefined } {
  const [nameTag = '', digest] = image.split('@');
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  if (colon > slash) return { repo: nameTag.slice(0, colon), tag: nameTag.slice(colon + 1), digest };
  return { repo: nameTag, tag: undefined, digest };
}

function commandText(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join(' ');
  return value === undefined || value === null ? '' : String(value);
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

// ---------------------------------------------------------------------------------------
// Dockerfile helpers

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions in order, comments dropped and `\` continuations joined. */
function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (current === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (current !== '' && trimmed.startsWith('#')) continue; // comment inside a continuation
    if (trimmed.endsWith('\\')) {
      current += trimmed.slice(0, -1) + ' ';
      continue;
    }
    current += trimmed;
    const m = /^(\S+)\s*(.*)$/s.exec(current);
    if (m) out.push({ keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim() });
    current = '';
  }
  return out;
}

/** `KEY=value KEY2="value 2"` (or the legacy `KEY value`) as a map. */
function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|(\S*))/g;
  let found = false;
  for (const m of args.matchAll(re)) {
    found = true;
    out[m[1] as string] = m[3] ?? m[4] ?? m[5] ?? '';
  }
  if (!found) {
    const legacy = /^(\S+)\s+(.*)$/.exec(args);
    if (legacy) out[legacy[1] as string] = legacy[2] ?? '';
  }
  return out;
}

// ---------------------------------------------------------------------------------------

const composeText = readFileSync(COMPOSE_FILE, 'utf8');
const compose = parse(composeText) as { version?: unknown; services?: Record<string, Service>; volumes?: unknown };
const services = compose.services ?? {};
const minio = services.minio ?? {};
const init = services['minio-init'] ?? {};
const recproxy = services.recproxy ?? {};

// Two environments: no overrides (the file's defaults) and explicit overrides, so values
// that must agree are shown to follow the same variables, not merely the same defaults.
const ENVS: { name: string; env: Env }[] = [
  { name: 'defaults', env: {} },
  {
    name: 'overridden',
    env: { MINIO_ROOT_USER: 'user-from-env', MINIO_ROOT_PASSWORD: 'password-from-env', RECPROXY_LOG_LEVEL: 'debug' },
  },
];

t.test('compose file shape', async (t) => {
  t.equal(compose.version, undefined, 'no top-level version: (Compose spec)');
  for (const name of ['minio', 'minio-init', 'recproxy']) t.ok(services[name], `service ${name} exists`);
  const volumes = Object.keys((compose.volumes ?? {}) as object);
  t.ok(volumes.includes('recproxy-data'), 'named volume recproxy-data declared');
  t.ok(
    (recproxy.volumes as unknown[] | undefined)?.map(String).includes('recproxy-data:/app/data'),
    'recproxy mounts recproxy-data at /app/data',
  );
  t.equal(recproxy.build === '.' || (recproxy.build as { context?: string })?.context === '.', true, 'recproxy builds .');
  t.equal(recproxy.restart, 'unless-stopped', 'recproxy restarts unless stopped');
});

t.test('MinIO is built from pinned source releases that include the CVE-2025-62506 fix', async (t) => {
  const releases: Record<string, string> = {};
  for (const [name, service, target, release] of [
    ['minio', minio, 'minio', 'MINIO_RELEASE'],
    ['minio-init', init, 'mc', 'MC_RELEASE'],
  ] as const) {
    const build = (service.build ?? {}) as { context?: string; target?: string; args?: Record<string, unknown> };
    t.equal(build.context, 'docker/minio', `${name} builds docker/minio`);
    t.equal(build.target, target, `${name} builds its ${target} target`);
    for (const arg of ['MINIO_RELEASE', 'MC_RELEASE']) {
      const value = String(build.args?.[arg] ?? '');
      t.match(value, /^RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$/, `${name}: ${arg} is a MinIO release tag (${value})`);
      if (releases[arg] !== undefined) t.equal(value, releases[arg], `${name}: the same ${arg} as minio`);
      releases[arg] = value;
    }
    const image = String(service.image ?? '');
    const { repo, tag } = imageRef(image);
    t.notOk(/\$/.test(image), `${name} image is not chosen by a variable`);
    t.notOk(repo.includes('/'), `${name} image (${image}) is a local name, never pulled from a registry`);
    t.equal(tag, releases[release], `${name} image is tagged with the release it builds`);
  }
  t.ok((releases.MINIO_RELEASE ?? '') >= 'RELEASE.2025-10-15T17-29-55Z', `MinIO ${releases.MINIO_RELEASE} has the CVE-2025-62506 fix`);

  const stages = dockerStages(fileURLToPath(new URL('../docker/minio/Dockerfile', import.meta.url)));
  const names = stages.map((s) => s.name);
  t.ok(names.includes('minio') && names.includes('mc'), 'docker/minio/Dockerfile has the minio and mc targets');
  for (const s of stages) {
    if (names.includes(s.image)) continue; // FROM an earlier stage
    const { tag } = imageRef(s.image);
    t.ok(tag && tag !== 'latest', `FROM ${s.image} is pinned to a tag`);
  }
  const runs = stages.flatMap((s) => s.body).filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
  t.match(runs, /git clone [^\n]*--branch "\$MINIO_RELEASE" https:\/\/github\.com\/minio\/minio\b/, 'the server is built from its release tag');
  t.match(runs, /git clone [^\n]*--branch "\$MC_RELEASE" https:\/\/github\.com\/minio\/mc\b/, 'mc is built from its release tag');
  const mcStage = stages.find((s) => s.name === 'mc');
  const minioStage = stages.find((s) => s.name === 'minio');
  t.equal(minioStage?.image, 'mc', 'the server image builds on the mc one (mc ready for the healthcheck)');
  t.ok(mcStage?.body.some((i) => i.keyword === 'COPY' && /\/usr\/bin\/mc\b/.test(i.args)), 'mc is installed as /usr/bin/mc');
});

t.test('start-up order', async (t) => {
  t.equal(dependsOn(init).minio, 'service_healthy', 'minio-init waits for minio to be healthy');
  t.ok(minio.healthcheck && typeof minio.healthcheck === 'object', 'minio has a healthcheck for that condition');
  t.notOk((minio.healthcheck as { disable?: boolean } | undefined)?.disable, 'minio healthcheck is not disabled');
  t.equal(
    dependsOn(recproxy)['minio-init'],
    'service_completed_successfully',
    'recproxy waits for minio-init to complete successfully',
  );
  t.not(init.restart, 'always', 'minio-init is one-shot');
  t.not(init.restart, 'unless-stopped', 'minio-init is one-shot');
});

t.test('recproxy reaches minio inside, the browser outside', async (t) => {
  for (const { name, env } of ENVS) {
    const r = serviceEnv(recproxy, env);
    t.equal(r.HOST, '0.0.0.0', `[${name}] HOST is 0.0.0.0`);
    t.equal(r.RECPROXY_STORAGE, 'minio', `[${name}] storage is minio`);

    const internal = new URL(r.RECPROXY_MINIO_ENDPOINT ?? 'invalid:');
    t.equal(internal.hostname, 'minio', `[${name}] RECPROXY_MINIO_ENDPOINT names the minio service`);
    const containerPorts = portMappings(minio, env).map((p) => p.container);
    t.ok(containerPorts.includes(portOf(internal)), `[${name}] internal endpoint port is minio's API port`);

    const pub = new URL(r.RECPROXY_MINIO_PUBLIC_ENDPOINT ?? 'invalid:');
    t.not(pub.hostname, 'minio', `[${name}] public endpoint is not the in-network service name`);
    const hostPorts = portMappings(minio, env)
      .filter((p) => p.container === portOf(internal))
      .map((p) => p.host);
    t.ok(
      hostPorts.includes(portOf(pub)),
      `[${name}] public endpoint port ${portOf(pub)} is published by minio for its API port (${hostPorts.join(', ')})`,
    );

    const publicUrl = new URL(r.RECPROXY_PUBLIC_URL ?? 'invalid:');
    const appPort = Number(r.PORT ?? 3000);
    const published = portMappings(recproxy, env)
      .filter((p) => p.container === appPort)
      .map((p) => p.host);
    t.ok(published.includes(portOf(publicUrl)), `[${name}] RECPROXY_PUBLIC_URL port is published by recproxy`);
  }
});

t.test('bucket and credentials agree', async (t) => {
  const script = commandText(init.entrypoint) + '\n' + commandText(init.command);
  const alias = /mc\s+alias\s+set\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(script);
  t.ok(alias, 'minio-init sets an mc alias');
  const mb = /mc\s+mb\b[^\n]*?\s([A-Za-z0-9_.-]+)\/([a-z0-9][a-z0-9.-]*[a-z0-9])\s*$/m.exec(script);
  t.ok(mb, 'minio-init runs mc mb <alias>/<bucket>');
  t.match(script, /mc\s+mb\s+(?:.*\s)?--ignore-existing\b/, 'mc mb uses --ignore-existing (re-runs exit 0)');
  if (!alias || !mb) return;
  t.equal(mb[1], alias[1], 'the bucket is created through the alias that was set');
  t.equal(new URL(alias[2] ?? 'invalid:').hostname, 'minio', 'the alias points at the minio service');

  for (const { name, env } of ENVS) {
    const m = serviceEnv(minio, env);
    const i = serviceEnv(init, env);
    const r = serviceEnv(recproxy, env);
    t.equal(mb[2], r.RECPROXY_MINIO_BUCKET, `[${name}] bucket created equals RECPROXY_MINIO_BUCKET`);
    t.ok(m.MINIO_ROOT_USER, `[${name}] minio root user set`);
    t.ok((m.MINIO_ROOT_PASSWORD ?? '').length >= 8, `[${name}] minio root password has at least 8 characters`);
    t.equal(r.RECPROXY_MINIO_ACCESS_KEY, m.MINIO_ROOT_USER, `[${name}] access key = MINIO_ROOT_USER`);
    t.equal(r.RECPROXY_MINIO_SECRET_KEY, m.MINIO_ROOT_PASSWORD, `[${name}] secret key = MINIO_ROOT_PASSWORD`);
    // The alias arguments go through Compose interpolation (`$$` → `$`), then through the
    // init container's shell, which expands them from that container's environment.
    const unquote = (s: string) => s.replace(/^["']|["']$/g, '');
    const user = interpolate(interpolate(unquote(alias[3] ?? ''), env), i);
    const pass = interpolate(interpolate(unquote(alias[4] ?? ''), env), i);
    t.equal(user, m.MINIO_ROOT_USER, `[${name}] mc alias user = minio root user`);
    t.equal(pass, m.MINIO_ROOT_PASSWORD, `[${name}] mc alias password = minio root password`);
  }
});

t.test('only known RECPROXY_* variables', async (t) => {
  const named = new Set<string>(composeText.match(/\bRECPROXY_[A-Z0-9_]+/g) ?? []);
  for (const service of Object.values(services)) {
    for (const n of envNames(service)) if (n.startsWith('RECPROXY_')) named.add(n);
  }
  t.ok(named.size > 0, 'compose names RECPROXY_* variables');
  for (const n of named) t.ok(RECPROXY_VARS.has(n), `${n} is a variable recproxy reads`);
});

/** A Dockerfile's stages: base image (global ARG defaults resolved), name, instructions. */
function dockerStages(path: string): { image: string; name: string | undefined; body: Instruction[] }[] {
  const instructions = dockerInstructions(readFileSync(path, 'utf8'));
  const firstFrom = instructions.findIndex((i) => i.keyword === 'FROM');
  const args: Env = {};
  for (const i of instructions.slice(0, Math.max(firstFrom, 0))) {
    if (i.keyword !== 'ARG') continue;
    const [name = '', value] = i.args.split('=', 2);
    args[name.trim()] = value?.replace(/^["']|["']$/g, '');
  }
  const stages: { image: string; name: string | undefined; body: Instruction[] }[] = [];
  for (const i of firstFrom < 0 ? [] : instructions.slice(firstFrom)) {
    if (i.keyword === 'FROM') {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = interpolate(words[0] ?? '', args);
      const asIdx = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ image, name: asIdx >= 0 ? words[asIdx + 1] : undefined, body: [] });
    } else {
      stages[stages.length - 1]?.body.push(i);
    }
  }
  return stages;
}

t.test('Dockerfile', async (t) => {
  const stages = dockerStages(DOCKERFILE);
  t.ok(stages.length > 0, 'has a FROM');

  t.ok(stages.length >= 2, `multi-stage (${stages.length} stages)`);
  const stageNames = new Set(stages.map((s) => s.name).filter(Boolean));
  for (const s of stages) {
    if (stageNames.has(s.image)) continue; // FROM an earlier stage
    const { tag } = imageRef(s.image);
    t.ok(tag, `FROM ${s.image} has a tag`);
    t.not(tag, 'latest', `FROM ${s.image} is not :latest`);
    t.match(tag ?? '', /^\d+\.\d+\.\d+/, `FROM ${s.image} pins an exact version`);
    t.match(tag ?? '', /slim/, `FROM ${s.image} is a slim image`);
  }
  const bases = new Set(stages.filter((s) => !stageNames.has(s.image)).map((s) => s.image));
  t.equal(bases.size, 1, 'build and runtime share one base image (native addon ABI)');

  const build = stages[0]?.body ?? [];
  const buildRuns = build.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  t.ok(buildRuns.some((r) => /\bnpm ci\b/.test(r)), 'build stage runs npm ci');
  t.notOk(buildRuns.some((r) => /--ignore-scripts/.test(r)), 'build stage keeps install scripts (better-sqlite3)');
  t.ok(buildRuns.some((r) => /npm run build\b/.test(r)), 'build stage runs npm run build');
  t.ok(buildRuns.some((r) => /npm prune --omit=dev\b/.test(r)), 'build stage prunes dev dependencies');

  const runtime = stages[stages.length - 1]?.body ?? [];
  const runtimeRuns = runtime.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  t.notOk(runtimeRuns.some((r) => /\b(g\+\+|gcc|make|python3|build-essential)\b/.test(r)), 'no compilers in runtime');

  const users = runtime.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]);
  const user = users[users.length - 1];
  t.ok(user, 'runtime stage sets USER');
  t.not(user, 'root', 'USER is not root');
  t.not(user, '0', 'USER is not uid 0');

  const exposed = runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  t.ok(exposed.some((p) => p.replace(/\/tcp$/, '') === '3000'), 'EXPOSE 3000');

  const health = runtime.filter((i) => i.keyword === 'HEALTHCHECK');
  t.equal(health.length, 1, 'runtime stage has one HEALTHCHECK');
  t.notMatch(health[0]?.args ?? 'NONE', /^NONE\b/i, 'HEALTHCHECK is not NONE');
  t.match(health[0]?.args ?? '', /\/healthz/, 'HEALTHCHECK probes /healthz');
  t.match(health[0]?.args ?? '', /--timeout=/, 'HEALTHCHECK has a timeout');

  const env: Record<string, string> = {};
  for (const i of runtime.filter((i) => i.keyword === 'ENV')) Object.assign(env, envPairs(i.args));
  t.equal(env.HOST, '0.0.0.0', 'ENV HOST=0.0.0.0');
  t.equal(env.NODE_ENV, 'production', 'ENV NODE_ENV=production');

  t.ok(
    runtime.some((i) => i.keyword === 'WORKDIR' && i.args === '/app'),
    'WORKDIR /app',
  );
  t.ok(
    runtime.some((i) => i.keyword === 'VOLUME' && /\/app\/data/.test(i.args)),
    'VOLUME /app/data',
  );
  const cmd = runtime.filter((i) => i.keyword === 'CMD').pop()?.args ?? '';
  t.same(JSON.parse(cmd || 'null'), ['node', '--no-memory-reducer', 'bin/recproxy', 'serve'], 'CMD runs the daemon');
});

t.test('docker compose config (only where a Compose CLI exists)', async (t) => {
  const candidates: string[][] = [
    ['docker', 'compose'],
    ['docker-compose'],
  ];
  const cli = candidates.find(([bin = '', ...rest]) => {
    const r = spawnSync(bin, [...rest, 'version'], { encoding: 'utf8', timeout: 15_000 });
    return r.status === 0;
  });
  if (!cli) {
    t.comment(
      'no Compose CLI on PATH (`docker compose` / `docker-compose`): skipped the extra ' +
        '`docker compose config -q` check; the YAML checks above ran in full',
    );
    t.pass('static checks only');
    return;
  }
  const [bin = '', ...rest] = cli;
  const r = spawnSync(bin, [...rest, '-f', COMPOSE_FILE, 'config', '-q'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.equal(r.status, 0, `${cli.join(' ')} -f docker-compose.yml config -q exits 0 ${r.stderr ?? ''}`.trim());
});
