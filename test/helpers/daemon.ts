/**
 * Starts a real recproxy (config → context → server) listening on a free loopback port,
 * with its index and store in a fresh temporary directory; `stop()` closes it and removes the
 * directory. Tests reach it over real HTTP.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { SERVING_BUSY_TIMEOUT_MS } from '../../src/stores/sqlite/index.js';
import { SqliteApiKeys } from '../../src/stores/sqlite/api-keys.js';
import type { RegisterFields } from '../../src/calls/register.js';
import { createContext, type AppContext, type ContextOptions } from '../../src/context.js';
import { registerFile } from '../../src/register-file.js';
import { buildServer } from '../../src/server.js';
import type { FastifyInstance } from 'fastify';

export interface Daemon {
  url: string;
  dir: string;
  ctx: AppContext;
  app: FastifyInstance;
  /** Request headers for `org`: an API key holding it (made once, cached) and X-Organization-Id. */
  headers(org: string): Record<string, string>;
  /** Registers `bytes` as the recording of a call, through the same path as `calls add`. */
  addCall(input: RegisterFields & { bytes: Buffer; name?: string }): Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** Pino options for the daemon's logger (tests that read the log); none by default. */
  logger?: object;
  /** Opens the stores instead of SQLite's (a daemon on other implementations of the interfaces). */
  openStores?: ContextOptions['openStores'];
}

export async function startDaemon(env: Record<string, string> = {}, options: DaemonOptions = {}): Promise<Daemon> {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-test-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    RECPROXY_DB_PATH: join(dir, 'index.db'),
    RECPROXY_LOCAL_ROOT: join(dir, 'recordings'),
    RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'),
    RECPROXY_LOG_LEVEL: 'silent',
    // No load shedding on the event loop's delay: a test machine running many files at once is
    // slow, not overloaded (test/load-shedding.test.ts turns it on).
    RECPROXY_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env,
  });
  const ctx = await createContext(config, { backgroundAudit: true, indexBusyTimeoutMs: SERVING_BUSY_TIMEOUT_MS, openStores: options.openStores });
  const app = await buildServer(ctx, { logger: options.logger ?? false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  ctx.origin.listening(port);
  let n = 0;
  const keys = new Map<string, string>();
  return {
    headers(org) {
      if (!keys.has(org)) keys.set(org, sqliteKeys(ctx).createNow({ orgs: [org], label: 'test' }).key);
      return { Authorization: `Bearer ${keys.get(org)}`, 'X-Organization-Id': org };
    },
    url: `http://127.0.0.1:${port}`,
    dir,
    ctx,
    app,
    async addCall({ bytes, name, ...input }) {
      const file = join(dir, `${name ?? `upload-${n++}`}.wav`);
      await writeFile(file, bytes);
      await registerFile(ctx.calls, input, file);
    },
    async stop() {
      await app.close();
      await ctx.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The daemon's key store as SQLite: `headers()` stays synchronous (SQLite writes at once), so
 * the many tests that build headers inline need no await.
 */
function sqliteKeys(ctx: AppContext): SqliteApiKeys {
  if (!(ctx.apiKeys instanceof SqliteApiKeys)) throw new TypeError('the test daemon runs on the SQLite stores');
  return ctx.apiKeys;
}

export interface ByteRoute {
  url: string;
  headers: Record<string, string>;
}

/**
 * The two byte-serving routes of one call — its download URL (with the org's headers) and a
 * media URL from its stream endpoint (no headers) — and the validators a HEAD reports for it.
 */
export async function byteRoutes(
  d: Daemon,
  org: string,
  sid: string,
): Promise<{ routes: { download: ByteRoute; media: ByteRoute }; meta: { etag: string; lastModified: string } }> {
  const stream = await fetch(`${d.url}/api/calls/${sid}/recording/stream`, { headers: d.headers(org) });
  const mediaUrl = ((await stream.json()) as { data: { url: string } }).data.url;
  const routes = {
    download: { url: `${d.url}/api/calls/${sid}/recording/download`, headers: d.headers(org) },
    media: { url: mediaUrl, headers: {} },
  };
  const probe = await fetch(routes.download.url, { method: 'HEAD', headers: routes.download.headers });
  return { routes, meta: { etag: probe.headers.get('etag')!, lastModified: probe.headers.get('last-modified')! } };
}
