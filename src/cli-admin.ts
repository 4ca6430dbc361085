/** The CLI's key and audit commands: their arguments, then their work. */
import { UsageError, checkOrg, checkSid, option, requireOptions, type Command } from './cli-args.js';
import { ApiKeyNotFound } from './core/errors.js';
import { diagnose, healthy } from './calls/doctor.js';
import { Progress } from './cli-progress.js';
import { backupSqliteStores } from './stores/sqlite/index.js';
import type { AuditQuery } from './stores/types.js';
import type { AppContext } from './context.js';

const AUDIT_ACTIONS = ['stream_url', 'download', 'media', 'delete', 'hold', 'release', 'denied'] as const;

interface KeysCreateInput {
  orgs: string[];
  scope?: 'read' | 'admin';
  label?: string;
}

export const KEYS_CREATE: Command<KeysCreateInput> = {
  usage: 'keys create --org ORG [--org ORG2 …] [--scope read|admin] [--label TEXT]',
  options: { org: { type: 'string', multiple: true }, scope: { type: 'string' }, label: { type: 'string' } },
  check(args) {
    requireOptions(args, 'keys create', ['org']);
    const orgs = (args.values.org as string[]).map(checkOrg);
    const scope = option(args, 'scope');
    if (scope !== undefined && scope !== 'read' && scope !== 'admin') throw new UsageError('--scope must be read or admin');
    return { orgs, scope, label: option(args, 'label') };
  },
};

export async function keysCreate(ctx: Pick<AppContext, 'apiKeys'>, input: KeysCreateInput): Promise<number> {
  const created = await ctx.apiKeys.create(input);
  process.stdout.write(`${created.key}\n`);
  process.stderr.write(`key ${created.id} (${created.scope}, orgs ${created.orgs.join(', ')}): shown once, store it now\n`);
  return 0;
}

export const KEYS_LIST: Command<void> = { usage: 'keys list', check: () => undefined };

export async function keysList(ctx: Pick<AppContext, 'apiKeys'>): Promise<number> {
  process.stdout.write(JSON.stringify(await ctx.apiKeys.list(), null, 2) + '\n');
  return 0;
}

export const KEYS_REVOKE: Command<string> = {
  usage: 'keys revoke ID',
  positionals: true,
  check({ positionals }) {
    if (positionals.length !== 1) throw new UsageError('keys revoke takes one key id');
    return positionals[0]!;
  },
};

export async function keysRevoke(ctx: Pick<AppContext, 'apiKeys'>, id: string): Promise<number> {
  if (!(await ctx.apiKeys.get(id))) throw new ApiKeyNotFound(id);
  const changed = await ctx.apiKeys.revoke(id);
  process.stderr.write(changed ? `key ${id} revoked\n` : `key ${id} was already revoked\n`);
  return 0;
}

export const AUDIT: Command<AuditQuery> = {
  usage: 'audit (--sid SID | --org ORG | --action ACTION) [--since ISO8601] [--limit N]',
  options: {
    sid: { type: 'string' },
    org: { type: 'string' },
    action: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
  },
  check(args) {
    const [sid, org, action, since, limit] = ['sid', 'org', 'action', 'since', 'limit'].map((name) => option(args, name));
    if (!sid && !org && !action) throw new UsageError('audit needs --sid, --org or --action');
    if (sid) checkSid(sid);
    if (org) checkOrg(org);
    if (action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(action)) {
      throw new UsageError(`--action must be one of ${AUDIT_ACTIONS.join(', ')}`);
    }
    const after = since === undefined ? undefined : new Date(since);
    if (after && Number.isNaN(after.getTime())) throw new UsageError('--since must be an ISO 8601 time');
    if (limit !== undefined && !/^[1-9]\d{0,8}$/.test(limit)) throw new UsageError('--limit must be a positive integer');
    return {
      sid,
      org,
      action: action as AuditQuery['action'],
      since: after,
      limit: limit === undefined ? undefined : Number(limit),
    };
  },
};

export async function auditCommand(ctx: Pick<AppContext, 'audit'>, query: AuditQuery): Promise<number> {
  process.stdout.write(JSON.stringify(await ctx.audit.query(query), null, 2) + '\n');
  return 0;
}

export const BACKUP: Command<string> = {
  usage: 'backup DEST_DIR',
  positionals: true,
  check({ positionals }) {
    if (positionals.length !== 1) throw new UsageError('backup takes one destination folder');
    return positionals[0]!;
  },
};

/**
 * A consistent copy of the index and the audit into `dest`, safe while the daemon serves
 * (src/stores/sqlite/backup.ts). Prints one line per file; the recordings themselves are the
 * storage's to back up.
 */
export async function backupCommand(ctx: Pick<AppContext, 'config'>, dest: string): Promise<number> {
  const copies = await backupSqliteStores(ctx.config.dbPath, ctx.config.auditDbPath, dest);
  for (const c of copies) {
    process.stdout.write(`${c.store}: ${c.from} → ${c.to} (${c.bytes} bytes, ${c.rows} ${c.store === 'index' ? 'calls' : 'audit rows'}, integrity ok)\n`);
  }
  return 0;
}

export const DOCTOR: Command<{ json: boolean; fix: boolean }> = {
  usage: 'doctor [--json] [--fix]',
  options: { json: { type: 'boolean' }, fix: { type: 'boolean' } },
  check: (args) => ({ json: args.values.json === true, fix: args.values.fix === true }),
};

/**
 * The index's integrity, the storage's reachability and their agreement (src/calls/doctor.ts):
 * a report, in words or JSON; exit 1 when something is wrong. `--fix` marks the rows whose
 * bytes are gone as deleted and never touches storage.
 */
export async function doctorCommand(ctx: Pick<AppContext, 'index' | 'storage'>, input: { json: boolean; fix: boolean }): Promise<number> {
  const progress = new Progress({ label: 'doctor', plainEvery: 100_000 });
  const report = await diagnose(ctx.index, ctx.storage, { fix: input.fix, onItem: () => progress.tick() });
  progress.stop();
  if (input.json) {
    process.stdout.write(JSON.stringify({ healthy: healthy(report), ...report }, null, 2) + '\n');
  } else {
    const lines = [
      `index: ${report.index.length ? `${report.index.length} problems: ${report.index.join('; ')}` : 'integrity ok'}`,
      `storage (${ctx.storage.name}): ${report.storage ?? 'answers'}`,
      `checked ${report.checked.rows} calls and ${report.checked.objects} stored objects`,
      ...report.missing.map((m) => `missing: ${m.call_sid} (${m.org_id}): nothing at ${m.storage_key}`),
      ...report.sizeMismatch.map((m) => `size mismatch: ${m.call_sid}: ${m.storage_key} is ${m.stored} bytes, the index says ${m.indexed}`),
      ...report.orphans.map((o) => `orphan: ${o.key} (${o.size} bytes): no call points to it`),
      ...report.fixed.map((sid) => `fixed: ${sid} marked deleted (its bytes were gone)`),
      healthy(report) ? 'healthy' : 'problems found',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  return healthy(report) ? 0 : 1;
}
