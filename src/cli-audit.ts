/**
 * `recproxy audit export` and `recproxy audit prune`: the access audit's rows older than a date,
 * written out as JSON Lines, then deleted by hand (the daemon prunes by itself past
 * RECPROXY_AUDIT_RETENTION_DAYS; see the README's "Access audit").
 */
import { createWriteStream } from 'node:fs';
import { link, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UsageError, option, requireOptions, type Command } from './cli-args.js';
import type { AppContext } from './context.js';
import type { AuditRow } from './stores/types.js';

/** A date (`2025-01-31`, UTC midnight) or a date and time with its offset (`2025-01-31T12:00:00+01:00`). */
const INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** `--until`'s value as an instant. @throws UsageError when missing, malformed or in the future */
function untilOption(value: string, now = Date.now()): Date {
  const at = INSTANT.test(value) ? new Date(value) : undefined;
  if (!at || Number.isNaN(at.getTime())) {
    throw new UsageError('--until must be a date (2025-01-31, midnight UTC) or a date and time with its offset (2025-01-31T12:00:00Z)');
  }
  if (at.getTime() > now) throw new UsageError(`--until ${value} is in the future: rows are still being written before it`);
  return at;
}

interface ExportInput {
  until: Date;
  out?: string;
}

export const AUDIT_EXPORT: Command<ExportInput> = {
  usage: 'audit export --until DATE [--out FILE]',
  options: { until: { type: 'string' }, out: { type: 'string' } },
  check(args) {
    requireOptions(args, 'audit export', ['until']);
    return { until: untilOption(option(args, 'until')!), out: option(args, 'out') };
  },
};

/**
 * Every audit row older than `--until`, oldest first, one JSON object a line, to `--out` or to
 * standard output. `--out` is written beside itself and renamed when complete, so a cut-off
 * export never leaves a file that looks whole; an existing file is never overwritten.
 */
export async function auditExport(ctx: Pick<AppContext, 'audit'>, input: ExportInput): Promise<number> {
  let count = 0;
  async function* lines(rows: AsyncIterable<AuditRow>) {
    for await (const row of rows) {
      count++;
      yield JSON.stringify(row) + '\n';
    }
  }
  const source = Readable.from(lines(ctx.audit.rowsBefore(input.until)));
  if (input.out === undefined) {
    await pipeline(source, process.stdout, { end: false });
  } else {
    await writeNew(input.out, source);
  }
  process.stderr.write(`exported ${count} audit rows older than ${input.until.toISOString()}${input.out ? ` to ${input.out}` : ''}\n`);
  return 0;
}

const exists = (path: string) => new UsageError(`${path} already exists; move it away or choose another --out`);

/**
 * Writes `source` to `path`, which must not exist: into `path.partial`, then linked to `path`
 * (a link, unlike a rename, refuses to replace a file that appeared meanwhile). A failure leaves
 * neither file.
 */
async function writeNew(path: string, source: Readable): Promise<void> {
  const partial = `${path}.partial`;
  if (await stat(path).then(() => true, () => false)) throw exists(path);
  try {
    await pipeline(source, createWriteStream(partial, { flags: 'wx' }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw exists(partial);
    await rm(partial, { force: true });
    throw err;
  }
  try {
    await link(partial, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw exists(path);
    throw err;
  } finally {
    await rm(partial, { force: true });
  }
}

interface PruneInput {
  until: Date;
}

export const AUDIT_PRUNE: Command<PruneInput> = {
  usage: 'audit prune --until DATE',
  options: { until: { type: 'string' } },
  check(args) {
    requireOptions(args, 'audit prune', ['until']);
    return { until: untilOption(option(args, 'until')!) };
  },
};

/** Deletes the audit rows older than `--until` (export them first), a small transaction at a time. */
export async function auditPrune(ctx: Pick<AppContext, 'audit'>, input: PruneInput): Promise<number> {
  const deleted = await ctx.audit.prune(input.until);
  process.stderr.write(`deleted ${deleted} audit rows older than ${input.until.toISOString()}\n`);
  return 0;
}
