/**
 * `recproxy ingest DIR` and `recproxy scan`: a PBX's recordings in bulk. `ingest` walks a folder
 * and copies each recording through the configured storage adapter (src/register-file.ts opens
 * it safely, the calls service stores and indexes it); with `--watch` it keeps watching the
 * folder and ingests each new recording once it has stopped growing (chokidar's
 * awaitWriteFinish). `scan` walks the configured storage itself and indexes what is there, in
 * place (CallsService.registerStored). Paths become calls by the layouts of
 * src/calls/layouts.ts; runs report through Progress (src/cli-progress.ts).
 *
 * Both are safe to re-run (registration is idempotent by content) and to interrupt: SIGINT or
 * SIGTERM lets the files in flight finish, then the summary is printed.
 */
import { lstat, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { watch } from 'chokidar';
import { UsageError, checkOrg, option, type Command } from './cli-args.js';
import { LAYOUTS, isLayout, isUtcOffset, parseLayoutPath, type LayoutName, type LayoutOptions } from './calls/layouts.js';
import { Progress, type Outcome } from './cli-progress.js';
import { InvalidRequest, hasCode } from './core/errors.js';
import { normalizePrefix } from './core/keys.js';
import { registerFile } from './register-file.js';
import type { AppContext } from './context.js';
import type { RegisterFields, Registered } from './calls/register.js';
import type { CallRow } from './stores/types.js';

/** What both commands share. */
interface BulkInput {
  layout: LayoutName;
  /** The organization of every call; absent with --org-from-domain. */
  org?: string;
  layoutOptions: LayoutOptions;
  /** Files at a time. */
  concurrency: number;
  /** A file changed less than this long ago may still be being written (ms). */
  settleMs: number;
}

interface IngestInput extends BulkInput {
  dir: string;
  watch: boolean;
  /** --watch: how often a settling file's size is looked at (ms). */
  pollMs: number;
}

interface ScanInput extends BulkInput {
  /** The tree's root in the store ('' or ending in '/'). */
  prefix: string;
}

const DEFAULT_CONCURRENCY = 8;
const DEFAULT_SETTLE_MS = 2000;
const DEFAULT_POLL_MS = 250;

const BULK_OPTIONS = {
  layout: { type: 'string' },
  org: { type: 'string' },
  'org-from-domain': { type: 'boolean' },
  'utc-offset': { type: 'string' },
  concurrency: { type: 'string' },
  'settle-ms': { type: 'string' },
} as const;

/** A whole number option within [min, max], or `fallback` when absent. */
function wholeOption(args: Parameters<Command<unknown>['check']>[0], name: string, fallback: number, min: number, max: number): number {
  const raw = option(args, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  return Number(raw);
}

function checkBulk(args: Parameters<Command<unknown>['check']>[0], command: string): BulkInput {
  const layout = option(args, 'layout');
  if (!layout) throw new UsageError(`${command} needs --layout (${LAYOUTS.join(', ')})`);
  if (!isLayout(layout)) throw new UsageError(`unknown layout "${layout}": --layout must be ${LAYOUTS.join(', ')}`);
  const org = option(args, 'org');
  const fromDomain = args.values['org-from-domain'] === true;
  if ((org === undefined) === !fromDomain) throw new UsageError(`${command} needs exactly one of --org ORG and --org-from-domain`);
  if (fromDomain && layout !== 'freeswitch') throw new UsageError(`--org-from-domain needs --layout freeswitch (only its paths name a domain)`);
  const utcOffset = option(args, 'utc-offset');
  if (utcOffset !== undefined && !isUtcOffset(utcOffset)) throw new UsageError(`--utc-offset must be +HH:MM or -HH:MM (got "${utcOffset}")`);
  return {
    layout,
    ...(org === undefined ? {} : { org: checkOrg(org) }),
    layoutOptions: { orgFromDomain: fromDomain, ...(utcOffset ? { utcOffset } : {}) },
    concurrency: wholeOption(args, 'concurrency', DEFAULT_CONCURRENCY, 1, 64),
    settleMs: wholeOption(args, 'settle-ms', DEFAULT_SETTLE_MS, 0, 3_600_000),
  };
}

export const INGEST: Command<IngestInput> = {
  usage:
    'ingest DIR --layout asterisk|freeswitch|flat (--org ORG | --org-from-domain) [--watch]\n' +
    '                   [--utc-offset +HH:MM] [--concurrency N] [--settle-ms MS] [--poll-ms MS]',
  options: { ...BULK_OPTIONS, watch: { type: 'boolean' }, 'poll-ms': { type: 'string' } },
  positionals: true,
  check(args) {
    if (args.positionals.length !== 1) throw new UsageError(`ingest needs one folder (got ${args.positionals.length})`);
    const bulk = checkBulk(args, 'ingest');
    return {
      ...bulk,
      dir: args.positionals[0]!,
      watch: args.values.watch === true,
      pollMs: wholeOption(args, 'poll-ms', DEFAULT_POLL_MS, 10, 60_000),
    };
  },
};

export const SCAN: Command<ScanInput> = {
  usage:
    'scan --layout asterisk|freeswitch|flat (--org ORG | --org-from-domain) [--prefix P]\n' +
    '                   [--utc-offset +HH:MM] [--concurrency N] [--settle-ms MS]',
  options: { ...BULK_OPTIONS, prefix: { type: 'string' } },
  check(args) {
    const bulk = checkBulk(args, 'scan');
    const raw = option(args, 'prefix') ?? '';
    let prefix: string;
    try {
      prefix = normalizePrefix(raw);
    } catch (err) {
      throw new UsageError(`--prefix must be a path inside the store (${(err as Error).message})`);
    }
    if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
    return { ...bulk, prefix };
  },
};

/** SIGINT and SIGTERM, while `run` runs: `stop` is called once, and the default exit is held off. */
async function onSignals<T>(stop: (signal: string) => void, run: () => Promise<T>): Promise<T> {
  let stopped = false;
  const handler = (signal: string) => {
    if (stopped) return;
    stopped = true;
    stop(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    return await run();
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}

/** Runs `work` on every item, `concurrency` at a time, until done or `stopped()`. */
async function pool<T>(items: T[], concurrency: number, stopped: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (!stopped() && next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Why a call was not indexed, in the summary's words. */
function reasonOf(err: unknown, sid: string, org: string, existing: CallRow | undefined): string {
  if (hasCode(err, 'CALL_EXISTS')) {
    if (existing && existing.org_id !== org) return `conflict: ${sid} is indexed for another organization`;
    return `conflict: ${sid} is already indexed with other bytes${existing ? ` (sha256 ${existing.sha256.slice(0, 12)}…)` : ''}; the first recording stays`;
  }
  const code = (err as { code?: string }).code;
  return `${code && /^[A-Z_]+$/.test(code) ? `${code}: ` : ''}${(err as Error).message}`;
}

/**
 * One path of the tree through the layout, the tombstone check and `register`: the outcome
 * for Progress, with its reason.
 */
async function indexOne(
  ctx: Pick<AppContext, 'index'>,
  input: BulkInput,
  rel: string,
  register: (fields: RegisterFields) => Promise<Registered>,
): Promise<{ outcome: Outcome; reason?: string; sid?: string }> {
  const parsed = parseLayoutPath(input.layout, rel, input.layoutOptions);
  if ('reason' in parsed) return { outcome: 'skipped', reason: parsed.reason };
  const { sid, to, from, startedAt } = parsed.call;
  const org = parsed.call.org ?? input.org!;
  const existing = await ctx.index.get(sid);
  if (existing?.deleted_at) return { outcome: 'skipped', sid, reason: `${sid} was deleted on ${existing.deleted_at}; not ingested again` };
  try {
    const fields: RegisterFields = { org, sid, to, ...(from === undefined ? {} : { from }), ...(startedAt === undefined ? {} : { startedAt }) };
    const { created } = await register(fields);
    return { outcome: created ? 'indexed' : 'already', sid };
  } catch (err) {
    return { outcome: 'failed', sid, reason: reasonOf(err, sid, org, existing) };
  }
}

/** Every file under `dir` (relative, '/'-separated), and what is not a regular file, by name. */
async function walk(dir: string): Promise<{ files: string[]; others: { rel: string; reason: string }[] }> {
  const files: string[] = [];
  const others: { rel: string; reason: string }[] = [];
  const pending = [''];
  for (let sub = pending.pop(); sub !== undefined; sub = pending.pop()) {
    const entries = await readdir(join(dir, sub), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const rel = sub + entry.name;
      if (entry.isDirectory()) pending.push(`${rel}/`);
      else if (entry.isFile()) files.push(rel);
      else others.push({ rel, reason: entry.isSymbolicLink() ? 'a symbolic link (not followed)' : 'not a regular file' });
    }
  }
  return { files, others };
}

/** Waits until the file at `path` has kept its size and mtime for `settleMs`. */
async function waitStable(path: string, settleMs: number, pollMs: number, stopped: () => boolean): Promise<'stable' | 'gone' | 'stopped'> {
  let last = '';
  let since = Date.now();
  for (;;) {
    if (stopped()) return 'stopped';
    const info = await lstat(path).catch(() => undefined);
    if (!info) return 'gone';
    const now = `${info.size}:${info.mtimeMs}`;
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= settleMs) {
      return 'stable';
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

const toRel = (dir: string, path: string) => relative(dir, path).split(sep).join('/');

export async function ingestCommand(ctx: AppContext, input: IngestInput): Promise<number> {
  const dir = input.dir;
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new InvalidRequest(`${dir} is not a folder`);
  const progress = new Progress({ label: 'ingest' });
  let stopping = false;
  let signalled: string | undefined;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const perFile = input.watch; // a watching run says what became of each file as it goes
  const note = (rel: string, r: { outcome: Outcome; reason?: string; sid?: string }) => {
    progress.note(r.outcome, rel, r.reason);
    if (perFile) process.stderr.write(`ingest: ${r.outcome === 'already' ? 'already indexed' : r.outcome} ${rel}${r.sid ? ` (${r.sid})` : ''}${r.reason ? `: ${r.reason}` : ''}\n`);
  };
  const ingestPath = (rel: string) => indexOne(ctx, input, rel, (fields) => registerFile(ctx.calls, fields, join(dir, rel)));

  return onSignals(
    (signal) => {
      stopping = true;
      signalled = signal;
      wake();
    },
    async () => {
      // --watch: the watcher starts first, so nothing written during the first pass is missed;
      // it reports files that have stopped growing (awaitWriteFinish) as `add` or `change`.
      const inFlight = new Set<Promise<void>>();
      let watcher: ReturnType<typeof watch> | undefined;
      if (input.watch) {
        watcher = watch(dir, {
          ignoreInitial: true,
          followSymlinks: false,
          awaitWriteFinish: { stabilityThreshold: input.settleMs, pollInterval: input.pollMs },
        });
        // At most `concurrency` files at a time, however many settle at once; the rest wait their turn.
        const waiting: string[] = [];
        const next = () => {
          while (!stopping && waiting.length && inFlight.size < input.concurrency) {
            const rel = waiting.shift()!;
            const job = ingestPath(rel).then((r) => note(rel, r));
            inFlight.add(job);
            void job.finally(() => {
              inFlight.delete(job);
              next();
            });
          }
        };
        const handle = (path: string) => {
          if (stopping) return;
          waiting.push(toRel(dir, path));
          next();
        };
        watcher.on('add', handle);
        watcher.on('change', handle);
        watcher.on('error', (err) => process.stderr.write(`ingest: watch error: ${(err as Error).message}\n`));
        await new Promise<void>((resolve) => watcher!.once('ready', () => resolve()));
      }

      const { files, others } = await walk(dir);
      progress.setTotal(files.length + others.length);
      for (const o of others) note(o.rel, { outcome: 'skipped', reason: o.reason });
      await pool(files, input.concurrency, () => stopping, async (rel) => {
        if (input.settleMs > 0) {
          const mtime = (await lstat(join(dir, rel)).catch(() => undefined))?.mtimeMs;
          if (mtime === undefined) return note(rel, { outcome: 'skipped', reason: 'removed before it was read' });
          if (Date.now() - mtime < input.settleMs) {
            if (!input.watch) {
              return note(rel, { outcome: 'skipped', reason: `changed in the last ${input.settleMs} ms: may still be being written; run again later` });
            }
            // Still being written when the watcher started: wait here until it stops growing.
            const stable = await waitStable(join(dir, rel), input.settleMs, input.pollMs, () => stopping);
            if (stable === 'gone') return note(rel, { outcome: 'skipped', reason: 'removed before it settled' });
            if (stable === 'stopped') return;
          }
        }
        note(rel, await ingestPath(rel));
      });

      if (watcher) {
        if (!stopping) process.stderr.write(`ingest: watching ${dir} for new recordings (stable for ${input.settleMs} ms); Ctrl-C stops\n`);
        await stopped;
        await watcher.close();
        while (inFlight.size) await Promise.all([...inFlight]);
      }
      if (stopping && !input.watch) progress.interrupt();
      const summary = progress.finish();
      if (signalled && input.watch) process.stderr.write(`ingest: ${signalled}: stopped watching\n`);
      if (summary.interrupted) return 130;
      return summary.failed.length ? 1 : 0;
    },
  );
}

export async function scanCommand(ctx: AppContext, input: ScanInput): Promise<number> {
  const progress = new Progress({ label: 'scan' });
  let stopping = false;
  return onSignals(
    () => (stopping = true),
    async () => {
      const objects: { key: string; rel: string; lastModified: Date }[] = [];
      for await (const o of ctx.storage.list(input.prefix)) {
        if (stopping) break;
        objects.push({ key: o.key, rel: o.key.slice(input.prefix.length), lastModified: o.lastModified });
      }
      progress.setTotal(objects.length);
      await pool(objects, input.concurrency, () => stopping, async ({ key, rel, lastModified }) => {
        // Listings give mtimes to the second: a second more, so a file just written is never read half.
        if (input.settleMs > 0 && Date.now() - lastModified.getTime() < input.settleMs + 1000) {
          return progress.note('skipped', key, `changed in the last ${input.settleMs} ms: may still be being written; run again later`);
        }
        const r = await indexOne(ctx, input, rel, (fields) => ctx.calls.registerStored(fields, key));
        progress.note(r.outcome, key, r.reason);
      });
      if (stopping) progress.interrupt();
      const summary = progress.finish();
      if (summary.interrupted) return 130;
      return summary.failed.length ? 1 : 0;
    },
  );
}
