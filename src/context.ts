/**
 * The wiring, in one place: everything the daemon and the CLI commands use, built once at start
 * from the validated config, each part from the parts before it: config → media-token signer →
 * media URLs → storage → stores (index, API keys, audit) → metrics (which count the storage's
 * operations and the audit's queue) → calls service → authenticator. The
 * context is complete when it is returned and none of its parts is replaced afterwards; the one
 * thing a daemon on `PORT=0` learns later, its port, is bound explicitly once it listens
 * (`origin.listening(port)`, src/calls/media-urls.ts).
 */
import { AuthFailures } from './auth-failures.js';
import { createAuthenticator, type AuthMode, type Authenticator } from './auth/authenticate.js';
import { createJwtVerifier } from './auth/jwt.js';
import { MediaUrls, PublicOrigin } from './calls/media-urls.js';
import { CallsService } from './calls/service.js';
import { Metrics } from './metrics.js';
import { loadSigningKeys } from './signing-keys.js';
import { createStorage } from './storage.js';
import { TokenSigner } from './token.js';
import { openSqliteStores, type SqliteStoreOptions, type Stores } from './stores/sqlite/index.js';
import type { ApiKeys, AuditSink, CallIndex } from './stores/types.js';
import type { Config } from '../config/schema.js';
import type { StorageAdapter } from './core/storage.js';

export interface AppContext {
  readonly config: Config;
  /** Signs and verifies media tokens. */
  readonly signer: TokenSigner;
  /** Base URL browsers use to reach this daemon (bound to the listening port by `serve` when PORT=0). */
  readonly origin: PublicOrigin;
  /** `{publicUrl}/media/{token}` URLs. */
  readonly mediaUrls: MediaUrls;
  readonly storage: StorageAdapter;
  readonly index: CallIndex;
  readonly apiKeys: ApiKeys;
  readonly audit: AuditSink;
  /** Find a call, issue its stream URL, register a recording. */
  readonly calls: CallsService;
  /** Request headers → Principal, per the configured auth mode. @throws Unauthorized */
  readonly authenticate: Authenticator;
  /** Failed authentications per client address (RECPROXY_AUTH_FAIL_LIMIT_MAX). */
  readonly authFailures: AuthFailures;
  /** Prometheus metrics; `storage` is counted through it. */
  readonly metrics: Metrics;
  close(): Promise<void>;
}

export interface ContextOptions {
  /** Audit inserts on a writer thread (the daemon); one-shot CLI commands write in-line. */
  backgroundAudit?: boolean;
  /**
   * The index's busy timeout once the context is built (the daemon: SERVING_BUSY_TIMEOUT_MS);
   * migrations and the audit move at start wait the default 5 s.
   */
  indexBusyTimeoutMs?: number;
  /** Opens the stores: SQLite's by default (tests hand over other implementations of the interfaces). */
  openStores?: (options: SqliteStoreOptions) => Promise<Stores>;
}

export async function createContext(config: Config, options: ContextOptions = {}): Promise<AppContext> {
  const signer = new TokenSigner(loadSigningKeys(config.signingKeys, config.signingKeyFile));
  const origin = new PublicOrigin(config.publicUrl, config.host, config.port);
  const mediaUrls = new MediaUrls(signer, origin);
  const rawStorage = await createStorage(config);

  let stores: Stores;
  try {
    stores = await (options.openStores ?? openSqliteStores)({
      dbPath: config.dbPath,
      auditDbPath: config.auditDbPath,
      backgroundAudit: options.backgroundAudit,
      indexBusyTimeoutMs: options.indexBusyTimeoutMs,
      onAuditError: (err, pending) => process.emitWarning(`access audit write failed (${pending} pending): ${String(err)}`),
    });
  } catch (err) {
    // openSqliteStores closed what it had opened; the storage was opened here.
    await rawStorage.close?.();
    throw err;
  }
  const { index, apiKeys, audit } = stores;
  const metrics = new Metrics(audit);
  const storage = metrics.instrumentStorage(rawStorage);

  const calls = new CallsService({
    index,
    storage,
    mediaUrls,
    streamTtl: config.streamTtl,
    streamMode: config.streamMode as 'presigned' | 'proxy',
    streamUrlReuseSec: config.streamUrlReuseSec,
    onStreamUrl: (kind) => metrics.streamUrls.inc({ kind }),
  });
  const authenticate = createAuthenticator({
    mode: config.authMode as AuthMode,
    apiKeys,
    jwt:
      config.authMode === 'jwt'
        ? createJwtVerifier({
            secret: config.jwtSecret,
            jwksUrl: config.jwtJwksUrl,
            issuer: config.jwtIssuer,
            audience: config.jwtAudience,
            orgClaim: config.jwtOrgClaim,
            adminScope: config.jwtAdminScope,
            jwksTimeoutMs: config.storageTimeoutMs,
          })
        : undefined,
    trustedHeader: { userHeader: config.trustedUserHeader, orgsHeader: config.trustedOrgsHeader },
  });
  const authFailures = new AuthFailures(config.authFailLimitMax, config.rateLimitWindowMs);

  return {
    config,
    signer,
    origin,
    mediaUrls,
    storage,
    index,
    apiKeys,
    audit,
    calls,
    authenticate,
    authFailures,
    metrics,
    async close() {
      await storage.close?.();
      await stores.close();
    },
  };
}
