/**
 * What `serve` says before it listens, and what every command says of a new index. Kept apart
 * from the CLI's argument handling, so the server side can use it without loading the CLI.
 */
import { resolve } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { parseTrustProxy } from '../config/schema.js';
import type { AppContext } from './context.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * First log lines: how to get a key when there is none; a new index, where; a warning for an
 * exposed trusted-header mode, and for a proxy hop count (it believes whoever connects).
 */
export async function startupAdvice(ctx: Pick<AppContext, 'config' | 'apiKeys' | 'index'>, log: FastifyBaseLogger): Promise<void> {
  const { authMode, host, trustProxy } = ctx.config;
  if (authMode === 'api-key' && (await ctx.apiKeys.count()) === 0) {
    log.warn('no API keys yet: every /api request will get 401. Create one with: bin/recproxy keys create --org ORG');
  }
  if (ctx.index.created) log.info(newIndexNotice(ctx));
  if (authMode === 'trusted-header' && !LOOPBACK.has(host)) {
    log.warn(
      `auth mode trusted-header while listening on ${host}: anyone who reaches this port can claim any user; ` +
        'listen on loopback or let only the authenticating proxy reach it',
    );
  }
  if (trustProxy !== undefined && typeof parseTrustProxy(trustProxy) === 'number' && !LOOPBACK.has(host)) {
    log.warn(
      `RECPROXY_TRUST_PROXY is a hop count while listening on ${host}: a client that reaches this port directly ` +
        'can set its own X-Forwarded-For; list the proxy addresses instead, or let only the proxy reach it',
    );
  }
}

/** Said whenever a command or the daemon starts a new, empty call index. */
export function newIndexNotice(ctx: Pick<AppContext, 'config'>): string {
  return `created a new, empty call index at ${resolve(ctx.config.dbPath)}`;
}
