/** The CLI's key and audit commands, and the advice `serve` prints before it listens. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { FastifyBaseLogger } from 'fastify';
import { ApiKeyNotFound, InvalidRequest } from './errors.js';
import type { AppContext } from './context.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export class UsageError extends Error {}

/**
 * First log lines: a new index, where; how to get a key when there is none; a warning for an
 * exposed trusted-header mode.
 */
export function startupAdvice(ctx: AppContext, log: FastifyBaseLogger): void {
  const { authMode, host } = ctx.config;
  if (ctx.index.created) log.info(newIndexNotice(ctx));
  if (authMode === 'api-key' && ctx.apiKeys.count() === 0) {
    log.warn('no API keys yet: every /api request will get 401. Create one with: bin/recproxy keys create --org ORG');
  }
  if (authMode === 'trusted-header' && !LOOPBACK.has(host)) {
    log.warn(
      `auth mode trusted-header while listening on ${host}: anyone who reaches this port can claim any user; ` +
        'listen on loopback or let only the authenticating proxy reach it',
    );
  }
}

/** Said whenever a command or the daemon starts a new, empty call index. */
export function newIndexNotice(ctx: AppContext): string {
  return `created a new, empty call index at ${resolve(ctx.config.dbPath)}`;
}

export async function keysCreate(ctx: AppContext, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { org: { type: 'string', multiple: true }, scope: { type: 'string' }, label: { type: 'string' } },
  });
  if (!values.org?.length) throw new UsageError('keys create needs at least one --org');
  if (values.scope !== undefined && values.scope !== 'read' && values.scope !== 'admin') {
    throw new InvalidRequest('--scope must be read or admin');
  }
  const created = ctx.apiKeys.create({ orgs: values.org, scope: values.scope, label: values.label });
  process.stdout.write(`${created.key}\n`);
  process.stderr.write(`key ${created.id} (${created.scope}, orgs ${created.orgs.join(', ')}): shown once, store it now\n`);
  return 0;
}

export async function keysList(ctx: AppContext, args: string[]): Promise<number> {
  parseArgs({ args, strict: true, options: {} });
  process.stdout.write(JSON.stringify(ctx.apiKeys.list(), null, 2) + '\n');
  return 0;
}

export async function keysRevoke(ctx: AppContext, args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: {} });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('keys revoke takes one key id');
  if (!ctx.apiKeys.get(id)) throw new ApiKeyNotFound(id);
  const changed = ctx.apiKeys.revoke(id);
  process.stderr.write(changed ? `key ${id} revoked\n` : `key ${id} was already revoked\n`);
  return 0;
}

export async function auditCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { sid: { type: 'string' }, org: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' } },
  });
  if (!values.sid && !values.org) throw new UsageError('audit needs --sid or --org');
  const since = values.since ? new Date(values.since) : undefined;
  if (since && Number.isNaN(since.getTime())) throw new InvalidRequest('--since must be an ISO 8601 time');
  const limit = values.limit ? Number(values.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new InvalidRequest('--limit must be a positive integer');
  const rows = ctx.audit.query({ sid: values.sid, org: values.org, since, limit });
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  return 0;
}
