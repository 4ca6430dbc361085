/**
 * The CLI's call-management commands: `calls list` (the listing of GET /api/calls, as a table or
 * JSON Lines), `calls delete` and `calls hold` (the rules of DELETE /api/calls/{sid} and of its
 * hold, for any organization), and `retention` (one retention pass, or with --dry-run the list of
 * what it would delete). The operator at the daemon's host is trusted with every organization;
 * each deletion and hold change is written to the access audit under the principal `cli:USER`.
 */
import { userInfo } from 'node:os';
import { UsageError, checkOrg, checkSid, option, requireOptions, type Command } from './cli-args.js';
import { Progress } from './cli-progress.js';
import { retentionActive, sweepsOf } from './calls/retention.js';
import { MAX_LIST_LIMIT, type ListQuery } from './calls/listing.js';
import { callData } from './routes/calls.js';
import { retentionPolicyOf } from '../config/schema.js';
import type { Principal } from './auth/authenticate.js';
import type { AppContext } from './context.js';

/** Who the audit names for the CLI's writes: `cli:` and the operating-system user. */
function operatorId(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/**
 * The operator as a principal, for the calls service's organization-scoped methods: every
 * organization, admin. (Its `kind` only keys rate limits and revocation, which the CLI has not.)
 */
const operator = (): Principal => ({ kind: 'trusted-header', id: operatorId(), orgs: '*', scope: 'admin' });

/** An ISO 8601 option's value, checked. @throws UsageError */
function isoOption(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && Number.isNaN(Date.parse(value))) throw new UsageError(`--${name} must be an ISO 8601 time`);
  return value;
}

interface CallsListInput {
  org: string;
  query: Omit<ListQuery, 'limit' | 'cursor'>;
  limit: number;
  json: boolean;
}

/** Without --limit, as many calls as one page of GET /api/calls has by default. */
export const CLI_LIST_DEFAULT = 100;

export const CALLS_LIST: Command<CallsListInput> = {
  usage: 'calls list --org ORG [--to N] [--from N] [--since ISO8601] [--until ISO8601] [--limit N] [--json]',
  options: {
    org: { type: 'string' },
    to: { type: 'string' },
    from: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  check(args) {
    requireOptions(args, 'calls list', ['org']);
    const limit = option(args, 'limit');
    if (limit !== undefined && !/^[1-9]\d{0,8}$/.test(limit)) throw new UsageError('--limit must be a positive integer');
    for (const name of ['to', 'from']) {
      const value = option(args, name);
      if (value !== undefined && (value.length === 0 || value.length > 65)) throw new UsageError(`--${name} must be 1-65 characters`);
    }
    return {
      org: checkOrg(option(args, 'org')!),
      query: {
        to: option(args, 'to'),
        from: option(args, 'from'),
        since: isoOption('since', option(args, 'since')),
        until: isoOption('until', option(args, 'until')),
      },
      limit: limit === undefined ? CLI_LIST_DEFAULT : Number(limit),
      json: args.values.json === true,
    };
  },
};

/** The listing of GET /api/calls, page after page until `limit` calls: JSON Lines, or a table. */
export async function callsList({ calls }: Pick<AppContext, 'calls'>, input: CallsListInput): Promise<number> {
  const rows: ReturnType<typeof callData>[] = [];
  const principal = operator();
  let cursor: string | undefined;
  let left = input.limit;
  do {
    const page = await calls.listCalls(input.org, { ...input.query, limit: Math.min(left, MAX_LIST_LIMIT), cursor }, principal);
    for (const call of page.calls) {
      const data = callData(call);
      if (input.json) process.stdout.write(`${JSON.stringify(data)}\n`);
      else rows.push(data);
    }
    left -= page.calls.length;
    cursor = page.next_cursor ?? undefined;
  } while (cursor && left > 0);
  if (!input.json) process.stdout.write(table(rows));
  return 0;
}

function table(rows: ReturnType<typeof callData>[]): string {
  const head = ['CALL_SID', 'TO', 'FROM', 'STARTED_AT', 'DURATION_MS', 'SIZE_BYTES', 'HOLD'];
  const cells = rows.map((r) => [
    r.call_sid, r.to, r.from ?? '-', r.started_at ?? '-', r.duration_ms === null ? '-' : String(r.duration_ms),
    String(r.size_bytes), r.legal_hold ? 'held' : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells].map((line) => line.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export const CALLS_DELETE: Command<string> = {
  usage: 'calls delete --sid SID',
  options: { sid: { type: 'string' } },
  check(args) {
    requireOptions(args, 'calls delete', ['sid']);
    return checkSid(option(args, 'sid')!);
  },
};

/** Deletes a call of any organization: bytes, then row; LEGAL_HOLD while held; done again when deleted. */
export async function callsDelete({ calls, audit }: Pick<AppContext, 'calls' | 'audit'>, sid: string): Promise<number> {
  const { call, deleted } = await calls.deleteAnyCall(sid);
  if (deleted) {
    audit.record({ action: 'delete', org: call.org_id, callSid: sid, principal: operatorId() });
    process.stderr.write(`recproxy: ${sid} (${call.org_id}) deleted: its recording is gone from storage\n`);
  } else {
    process.stderr.write(`recproxy: ${sid} was already deleted; nothing changed\n`);
  }
  return 0;
}

interface CallsHoldInput {
  sid: string;
  release: boolean;
}

export const CALLS_HOLD: Command<CallsHoldInput> = {
  usage: 'calls hold --sid SID [--release]',
  options: { sid: { type: 'string' }, release: { type: 'boolean' } },
  check(args) {
    requireOptions(args, 'calls hold', ['sid']);
    return { sid: checkSid(option(args, 'sid')!), release: args.values.release === true };
  },
};

/** Puts a live call on legal hold, or releases it; prints the call's metadata. */
export async function callsHold({ calls, index, audit }: Pick<AppContext, 'calls' | 'index' | 'audit'>, input: CallsHoldInput): Promise<number> {
  const found = await index.get(input.sid);
  const org = found && found.deleted_at === null ? found.org_id : '';
  const call = await calls.setHold(org, input.sid, operator(), !input.release);
  audit.record({ action: input.release ? 'release' : 'hold', org: call.org_id, callSid: input.sid, principal: operatorId() });
  process.stdout.write(`${JSON.stringify(callData(call), null, 2)}\n`);
  return 0;
}

interface RetentionInput {
  dryRun: boolean;
  org?: string;
}

export const RETENTION: Command<RetentionInput> = {
  usage: 'retention [--dry-run] [--org ORG]',
  options: { 'dry-run': { type: 'boolean' }, org: { type: 'string' } },
  check(args) {
    const org = option(args, 'org');
    return { dryRun: args.values['dry-run'] === true, org: org === undefined ? undefined : checkOrg(org) };
  },
};

/**
 * One retention pass under the configured periods; with --dry-run, each call it would delete on
 * stdout (`call_sid`, organization, `started_at` or `-`, tab-separated) and nothing deleted.
 * Exit 1 when a call could not be deleted (the summary says why).
 */
export async function retentionCommand({ calls, audit, config }: Pick<AppContext, 'calls' | 'audit' | 'config'>, input: RetentionInput): Promise<number> {
  const policy = retentionPolicyOf(config);
  if (!retentionActive(policy) || sweepsOf(policy, new Date(), input.org).length === 0) {
    process.stderr.write(
      `retention: no retention period applies${input.org ? ` to ${input.org}` : ''} (RECPROXY_RETENTION_DAYS, RECPROXY_RETENTION_DAYS_BY_ORG); nothing to do\n`,
    );
    return 0;
  }
  const progress = new Progress({
    label: 'retention',
    words: { indexed: input.dryRun ? 'would be deleted' : 'deleted', already: 'already deleted' },
  });
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await calls.retentionPass(policy, audit, {
      batchSize: config.retentionBatchSize,
      dryRun: input.dryRun,
      org: input.org,
      signal: abort.signal,
      onCall(call, outcome, reason) {
        if (outcome === 'listed') process.stdout.write(`${call.call_sid}\t${call.org_id}\t${call.started_at ?? '-'}\n`);
        progress.note(outcome === 'failed' ? 'failed' : 'indexed', call.call_sid, reason);
      },
    });
    if (result.interrupted) progress.interrupt();
    progress.finish();
    return result.failed > 0 || result.interrupted ? 1 : 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
