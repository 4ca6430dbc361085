/**
 * Benchmark fixtures in a temp directory: WAV files made in code, registered through the real
 * CLI (`recproxy calls add`), and two call indexes (1,000 and 1,000,000 rows) filled straight
 * into SQLite for the growth scenario (through src/stores/sqlite/index.ts, built into dist/).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/** A fresh temp dir, readable by nginx's unprivileged worker. */
export async function makeTempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-bench-'));
  await chmod(dir, 0o755);
  return dir;
}

/**
 * The 44-byte RIFF/WAVE header of 16-bit mono 8 kHz PCM with `data` bytes of samples (sizes
 * past 4 GiB are clamped, as a streaming writer would leave them).
 */
export function wavHeader(data) {
  const head = Buffer.alloc(44);
  head.write('RIFF', 0, 'ascii');
  head.writeUInt32LE(Math.min(36 + data, 0xffffffff), 4);
  head.write('WAVEfmt ', 8, 'ascii');
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20); // PCM
  head.writeUInt16LE(1, 22); // mono
  head.writeUInt32LE(8000, 24);
  head.writeUInt32LE(16000, 28);
  head.writeUInt16LE(2, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36, 'ascii');
  head.writeUInt32LE(Math.min(data, 0xffffffff), 40);
  return head;
}

/** A valid WAV of exactly `bytes` bytes: 44-byte RIFF header, 16-bit mono 8 kHz PCM (a tone). */
export function makeWav(bytes) {
  const data = bytes - 44;
  const buf = Buffer.alloc(bytes);
  wavHeader(data).copy(buf, 0);
  // One second of a 440 Hz tone, repeated.
  const second = Buffer.alloc(16000);
  for (let i = 0; i < 8000; i++) second.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), i * 2);
  for (let off = 44; off < bytes; off += second.length) second.copy(buf, off, 0, Math.min(second.length, bytes - off));
  return buf;
}

/**
 * Environment shared by the CLI and the daemons: everything inside `dir`. The rate limits stay
 * on, so their cost is measured, but far above any rate reached here (1,000,000 a second).
 */
export function recproxyEnv(dir, extra = {}) {
  return {
    RECPROXY_DB_PATH: join(dir, 'index.db'),
    RECPROXY_LOCAL_ROOT: join(dir, 'recordings'),
    RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'),
    RECPROXY_LOG_LEVEL: process.env.BENCH_RECPROXY_LOG_LEVEL ?? 'warn',
    RECPROXY_RATE_LIMIT_MAX: '1000000',
    RECPROXY_RATE_LIMIT_WINDOW_MS: '1000',
    RECPROXY_MEDIA_RATE_LIMIT_MAX: '1000000',
    ...extra,
  };
}

/** `recproxy keys create --org ORG [--scope SCOPE]`: the new API key (printed once, on stdout). */
export async function cliKeyCreate(env, org, scope = 'read') {
  const { stdout } = await run(process.execPath, [join(ROOT, 'bin/recproxy'), 'keys', 'create', '--org', org, '--scope', scope, '--label', 'bench'], {
    env: { ...process.env, ...env },
    cwd: ROOT,
  });
  return stdout.trim();
}

/** The SQLite stores' fixture functions, from the built tree. */
const sqliteStores = () => import(join(ROOT, 'dist/src/stores/sqlite/index.js'));

/** A consistent copy of the index at `from` (calls, API keys, everything) into `to`. */
export async function copyIndex(from, to) {
  (await sqliteStores()).copySqliteIndex(from, to);
}

/** `recproxy calls add` through bin/recproxy; returns the printed index row. */
export async function cliAdd(env, { org, sid, to, file }) {
  const { stdout } = await run(
    process.execPath,
    [join(ROOT, 'bin/recproxy'), 'calls', 'add', '--org', org, '--sid', sid, '--to', to, '--file', file],
    { env: { ...process.env, ...env }, cwd: ROOT },
  );
  return JSON.parse(stdout);
}

/** Write the two WAVs into `dir`; returns their paths. */
export async function writeWavs(dir) {
  const small = join(dir, 'bench-2mb.wav');
  const large = join(dir, 'bench-50mb.wav');
  await writeFile(small, makeWav(2 * 1024 * 1024));
  await writeFile(large, makeWav(50 * 1024 * 1024));
  return { small, large };
}

/**
 * Adds `count` calls `call_g0 … call_g{count-1}` of `org` to the index at `dbPath`, all
 * pointing at `template`'s storage key. The schema comes from recproxy itself (the SQLite
 * index runs the migrations); the rows go in with one prepared insert in one transaction.
 */
export async function fillIndex(dbPath, count, org, template) {
  (await sqliteStores()).fillSqliteIndex(dbPath, count, org, template);
}

/** nginx.conf for `root`, listening on `port`, everything it writes inside `dir` (files named after `name`). */
export async function writeNginxConf(dir, root, port, { name = 'nginx', connections = 1024 } = {}) {
  const conf = join(dir, `${name}.conf`);
  await writeFile(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
events { worker_connections ${connections}; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { audio/wav wav; }
  default_type application/octet-stream;
  client_body_temp_path ${join(dir, 'nginx-body')};
  proxy_temp_path ${join(dir, 'nginx-proxy')};
  fastcgi_temp_path ${join(dir, 'nginx-fastcgi')};
  uwsgi_temp_path ${join(dir, 'nginx-uwsgi')};
  scgi_temp_path ${join(dir, 'nginx-scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`,
  );
  return conf;
}
