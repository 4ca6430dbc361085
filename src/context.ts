/**
 * Everything a request needs, built once at start from the validated config:
 * the call index, the storage adapter, and the media-token signer.
 */
import { AuthFailures } from './auth-failures.js';
import { createAuthenticator, type AuthMode, type Authenticator } from './auth/authenticate.js';
import { createJwtVerifier } from './auth/jwt.js';
import { loadSigningKeys } from './signing-keys.js';
import { createStorage } from './storage.js';
import { StreamUrlCache } from './stream-url.js';
import { TokenSigner } from './token.js';
import { openSqliteStores } from './stores/sqlite/index.js';
import type { ApiKeys, AuditSink, CallIndex } from './stores/types.js';
import type { Config } from '../config/schema.js';
import type { SignOptions, SignedUrl, StorageAdapter } from './core/storage.js';

export interface AppContext {
  config: Config;
  index: CallIndex;
  storage: StorageAdapter;
  signer: TokenSigner;
  apiKeys: ApiKeys;
  /** Stream URLs recently issued, reused within RECPROXY_STREAM_URL_REUSE_SEC. */
  streamUrls: StreamUrlCache;
  audit: AuditSink;
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
  const stores = await openSqliteStores({
    dbPath: config.dbPath,
    auditDbPath: config.auditDbPath,
    backgroundAudit: options.backgroundAudit,
    indexBusyTimeoutMs: options.indexBusyTimeoutMs,
    onAuditError: (err, pending) => process.emitWarning(`access audit write failed (${pending} pending): ${String(err)}`),
  });
  const { index, apiKeys, audit } = stores;
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
      await stores.close();
    },
  };
  try {
    ctx.storage = await createStorage(config, (key, options) => ctx.mediaUrl(key, options));
  } catch (err) {
    await stores.close();
    throw err;
  }
  return ctx;
}

export function defaultPublicUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
