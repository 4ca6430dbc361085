/**
 * Everything a request needs, built once at start from the validated config:
 * the call index, the storage adapter, and the media-token signer.
 */
import type Database from 'better-sqlite3';
import { AuditLog, auditPathFor, moveLegacyAudit, openAuditDb } from './audit.js';
import { AuthFailures } from './auth-failures.js';
import { ApiKeyStore } from './auth/api-keys.js';
import { createAuthenticator, type AuthMode, type Authenticator } from './auth/authenticate.js';
import { createJwtVerifier } from './auth/jwt.js';
import { CallIndex } from './call-index.js';
import { loadSigningKeys } from './signing-keys.js';
import { createStorage } from './storage.js';
import { StreamUrlCache } from './stream-url.js';
import { TokenSigner } from './token.js';
import type { Config } from '../config/schema.js';
import type { SignOptions, SignedUrl, StorageAdapter } from './core/storage.js';

export interface AppContext {
  config: Config;
  index: CallIndex;
  storage: StorageAdapter;
  signer: TokenSigner;
  apiKeys: ApiKeyStore;
  /** Stream URLs recently issued, reused within RECPROXY_STREAM_URL_REUSE_SEC. */
  streamUrls: StreamUrlCache;
  audit: AuditLog;
  /** Request headers → Principal, per the configured auth mode. @throws Unauthorized */
  authenticate: Authenticator;
  /** Failed authentications per client address (RECPROXY_AUTH_FAIL_LIMIT_MAX). */
  authFailures: AuthFailures;
  /** Base URL browsers use to reach this daemon; known once the server listens. */
  publicUrl: string;
  /** A `{publicUrl}/media/{token}` URL for `key`. */
  mediaUrl(key: string, options: SignOptions, audit?: MediaAudit): SignedUrl;
  close(): Promise<void>;
}

/** What a media token carries for the access audit. */
export interface MediaAudit {
  org: string;
  sid: string;
  principal: string;
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
  const index = new CallIndex(config.dbPath);
  const apiKeys = new ApiKeyStore(index.db, { dataVersion: index.dataVersion });
  const auditPath = config.auditDbPath ?? auditPathFor(config.dbPath);
  let auditDb: Database.Database;
  try {
    auditDb = openAuditDb(auditPath);
    moveLegacyAudit(index.db, auditPath);
  } catch (err) {
    index.close();
    throw err;
  }
  if (options.indexBusyTimeoutMs !== undefined) index.db.pragma(`busy_timeout = ${Math.trunc(options.indexBusyTimeoutMs)}`);
  const audit = new AuditLog(auditDb, {
    onError: (err, pending) => process.emitWarning(`access audit write failed (${pending} pending): ${String(err)}`),
    background: options.backgroundAudit,
  });
  const ctx: AppContext = {
    config,
    index,
    signer,
    apiKeys,
    audit,
    streamUrls: new StreamUrlCache(config.streamUrlReuseSec * 1000),
    authenticate: createAuthenticator({
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
    }),
    authFailures: new AuthFailures(config.authFailLimitMax, config.rateLimitWindowMs),
    publicUrl: config.publicUrl ?? defaultPublicUrl(config.host, config.port),
    storage: undefined as unknown as StorageAdapter,
    mediaUrl(key, options, audit) {
      const exp = Math.floor(Date.now() / 1000) + options.expiresIn;
      const token = signer.sign({
        key,
        exp,
        disposition: options.disposition,
        filename: options.filename,
        contentType: options.contentType,
        ...audit,
      });
      return { url: `${ctx.publicUrl.replace(/\/+$/, '')}/media/${token}`, expiresAt: new Date(exp * 1000) };
    },
    async close() {
      await ctx.storage.close?.();
      apiKeys.close();
      audit.close();
      auditDb.close();
      index.close();
    },
  };
  try {
    ctx.storage = await createStorage(config, (key, options) => ctx.mediaUrl(key, options));
  } catch (err) {
    audit.close();
    auditDb.close();
    index.close();
    throw err;
  }
  return ctx;
}

export function defaultPublicUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
