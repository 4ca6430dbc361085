/**
 * The wiring, in one place: everything the daemon and the CLI commands use, built once at start
 * from the validated config, each part from the parts before it: config → media-token signer →
 * media URLs → storage → stores (index, API keys, audit) → calls service → authenticator. The
 * context is complete when it is returned and none of its parts is replaced afterwards; the one
 * thing a daemon on `PORT=0` learns later, its port, is bound explicitly once it listens
 * (`origin.listening(port)`, src/calls/media-urls.ts).
 */
import type Database from 'better-sqlite3';
import { AuditLog, auditPathFor, moveLegacyAudit, openAuditDb } from './audit.js';
import { AuthFailures } from './auth-failures.js';
import { ApiKeyStore } from './auth/api-keys.js';
import { createAuthenticator, type AuthMode, type Authenticator } from './auth/authenticate.js';
import { createJwtVerifier } from './auth/jwt.js';
import { CallIndex } from './call-index.js';
import { MediaUrls, PublicOrigin } from './calls/media-urls.js';
import { CallsService } from './calls/service.js';
import { loadSigningKeys } from './signing-keys.js';
import { createStorage } from './storage.js';
import { TokenSigner } from './token.js';
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
  readonly apiKeys: ApiKeyStore;
  readonly audit: AuditLog;
  /** Find a call, issue its stream URL, register a recording. */
  readonly calls: CallsService;
  /** Request headers → Principal, per the configured auth mode. @throws Unauthorized */
  readonly authenticate: Authenticator;
  /** Failed authentications per client address (RECPROXY_AUTH_FAIL_LIMIT_MAX). */
  readonly authFailures: AuthFailures;
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
}

export async function createContext(config: Config, options: ContextOptions = {}): Promise<AppContext> {
  const signer = new TokenSigner(loadSigningKeys(config.signingKeys, config.signingKeyFile));
  const origin = new PublicOrigin(config.publicUrl, config.host, config.port);
  const mediaUrls = new MediaUrls(signer, origin);
  const storage = await createStorage(config);

  // The stores.
  let index: CallIndex;
  let auditDb: Database.Database;
  try {
    index = new CallIndex(config.dbPath);
  } catch (err) {
    await storage.close?.();
    throw err;
  }
  const apiKeys = new ApiKeyStore(index.db, { dataVersion: index.dataVersion });
  const auditPath = config.auditDbPath ?? auditPathFor(config.dbPath);
  try {
    auditDb = openAuditDb(auditPath);
    moveLegacyAudit(index.db, auditPath);
  } catch (err) {
    index.close();
    await storage.close?.();
    throw err;
  }
  if (options.indexBusyTimeoutMs !== undefined) index.db.pragma(`busy_timeout = ${Math.trunc(options.indexBusyTimeoutMs)}`);
  const audit = new AuditLog(auditDb, {
    onError: (err, pending) => process.emitWarning(`access audit write failed (${pending} pending): ${String(err)}`),
    background: options.backgroundAudit,
  });

  const calls = new CallsService({
    index,
    storage,
    mediaUrls,
    streamTtl: config.streamTtl,
    streamMode: config.streamMode as 'presigned' | 'proxy',
    streamUrlReuseSec: config.streamUrlReuseSec,
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
    async close() {
      await storage.close?.();
      apiKeys.close();
      audit.close();
      auditDb.close();
      index.close();
    },
  };
}
