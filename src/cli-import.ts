/**
 * `recproxy import FILE`: call metadata from CSV, JSON Lines or Asterisk's Master.csv (the row
 * rules: src/calls/import.ts; reading: src/import-read.ts). Each row enriches its call when the
 * call is indexed in the row's organization, registers the recording it names when the call is
 * not (src/register-file.ts), and is otherwise skipped; a bad row is reported by its line and
 * the rest go in. Re-running changes nothing: rows that would change nothing count as already
 * indexed, and of several rows for one call only the first is used. Exit 0, or 1 when a row failed.
 */
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { UsageError, checkOrg, option, type Command } from './cli-args.js';
import { Progress } from './cli-progress.js';
import {
  IMPORT_FORMATS, RowProblem, checkHeader, checkTimeZone, looksLikeCdr, rowFromCdr, rowFromRecord,
  type ImportFormat, type ImportRow, type RowOptions,
} from './calls/import.js';
import { InvalidRequest } from './core/errors.js';
import { countLines, csvRecords, fileLines, jsonRecords } from './import-read.js';
import { registerFile } from './register-file.js';
import type { AppContext } from './context.js';

export interface ImportInput {
  file: string;
  /** Given, or from the extension; `csv` may still turn out to be a Master.csv (by its first line). */
  format: ImportFormat;
  /** True when --format named it (no guessing from the content then). */
  formatGiven: boolean;
  org?: string;
  timeZone: string;
}

export const IMPORT: Command<ImportInput> = {
  usage: 'import FILE [--format csv|jsonl|asterisk-cdr] [--org ORG] [--timezone ZONE]',
  positionals: true,
  options: { format: { type: 'string' }, org: { type: 'string' }, timezone: { type: 'string' } },
  check(args) {
    if (args.positionals.length !== 1) throw new UsageError('import takes one FILE');
    const file = args.positionals[0]!;
    const given = option(args, 'format');
    if (given !== undefined && !(IMPORT_FORMATS as readonly string[]).includes(given)) {
      throw new UsageError(`--format must be one of ${IMPORT_FORMATS.join(', ')} (got "${given}")`);
    }
    const ext = extname(file).toLowerCase();
    const format = (given ?? (ext === '.csv' ? 'csv' : ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : undefined)) as ImportFormat | undefined;
    if (!format) throw new UsageError(`cannot tell the format of ${file} from its extension: pass --format ${IMPORT_FORMATS.join('|')}`);
    const org = option(args, 'org');
    if (org !== undefined) checkOrg(org);
    if (format === 'asterisk-cdr' && org === undefined) throw new UsageError('a Master.csv names no organization: pass --org');
    let timeZone = option(args, 'timezone') ?? 'UTC';
    try {
      timeZone = checkTimeZone(timeZone);
    } catch (err) {
      throw new UsageError(`--timezone: ${(err as Error).message}`);
    }
    return { file, format, formatGiven: given !== undefined, org, timeZone };
  },
};

/** One row read: checked, or what is wrong with it. */
type Read = { line: number; row: ImportRow } | { line: number; problem: string };

export async function importCommand(ctx: Pick<AppContext, 'calls'>, input: ImportInput): Promise<number> {
  const options: RowOptions = { org: input.org, timeZone: input.timeZone };
  const progress = new Progress({ label: 'import' });
  // A bar needs a total: the lines, counted first (a quick read); plain lines need none.
  if (process.stderr.isTTY) progress.setTotal(await countLines(input.file).catch(() => 0));
  const base = dirname(resolve(input.file));
  /** The line that named each call first: later rows for it are skipped (Master.csv repeats a uniqueid on transfers). */
  const firstLine = new Map<string, number>();
  let enriched = 0;
  let registered = 0;
  let stop = false;
  const interrupt = () => (stop = true);
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    for await (const read of rows(input, options)) {
      if (stop) {
        progress.interrupt();
        break;
      }
      const item = `line ${read.line}`;
      if ('problem' in read) {
        progress.note('failed', item, read.problem);
        continue;
      }
      const { row } = read;
      const earlier = firstLine.get(row.sid);
      if (earlier !== undefined) {
        progress.note('skipped', item, `${row.sid} was named first by line ${earlier}; only that row is used`);
        continue;
      }
      firstLine.set(row.sid, read.line);
      try {
        const done = await ctx.calls.enrich(row.org, row.sid, row);
        if (done) {
          if (done.changed) enriched++;
          progress.note(done.changed ? 'indexed' : 'already', item);
        } else if (row.file === undefined) {
          progress.note('skipped', item, `${row.sid} is not indexed in ${row.org} and the row names no file`);
        } else if (row.to === undefined) {
          progress.note('failed', item, `${row.sid} is not indexed and registering ${row.file} needs a to number`);
        } else {
          const file = isAbsolute(row.file) ? row.file : resolve(base, row.file);
          const fields = { org: row.org, sid: row.sid, to: row.to, from: row.from, startedAt: row.startedAt };
          const { created } = await registerFile(ctx.calls, fields, file);
          // The duration from the row, where the bytes gave none.
          if (created && row.durationMs !== undefined) await ctx.calls.enrich(row.org, row.sid, row);
          if (created) registered++;
          progress.note(created ? 'indexed' : 'already', item);
        }
      } catch (err) {
        const code = (err as { code?: string }).code;
        progress.note('failed', item, `${row.sid}: ${code && /^[A-Z_]+$/.test(code) ? `${code}: ` : ''}${(err as Error).message}`);
      }
    }
  } finally {
    process.removeListener('SIGINT', interrupt);
    process.removeListener('SIGTERM', interrupt);
  }
  const summary = progress.finish();
  process.stderr.write(`import: ${enriched} indexed calls enriched, ${registered} registered from their files\n`);
  return summary.failed.length || summary.interrupted ? 1 : 0;
}

/**
 * The rows of the file, in order, each checked.
 * @throws InvalidRequest when the file cannot be read, or a CSV header has an unknown column
 */
async function* rows(input: ImportInput, options: RowOptions): AsyncGenerator<Read> {
  const lines = fileLines(input.file);
  try {
    // Open now: a missing file is the run's failure, not a row's.
    const first = await lines.next();
    async function* all(): AsyncGenerator<string> {
      if (first.done) return;
      yield first.value;
      yield* lines;
    }
    if (input.format === 'jsonl') {
      for await (const r of jsonRecords(all())) yield 'problem' in r ? r : checkedRow(r.line, () => rowFromRecord(r.value, options));
      return;
    }
    let format: ImportFormat = input.format;
    let header: string[] | undefined;
    for await (const r of csvRecords(all())) {
      if (format === 'csv' && !header) {
        if ('problem' in r) throw new InvalidRequest(`${input.file} line ${r.line}: ${r.problem}`);
        if (!input.formatGiven && looksLikeCdr(r.fields)) {
          if (options.org === undefined) throw new InvalidRequest(`${input.file} is an Asterisk Master.csv (its first line is a CDR record), which names no organization: pass --org`);
          format = 'asterisk-cdr';
        } else {
          try {
            header = checkHeader(r.fields);
          } catch (err) {
            throw new InvalidRequest(`${input.file} line ${r.line}: ${(err as Error).message}`);
          }
          continue;
        }
      }
      if ('problem' in r) yield r;
      else if (format === 'asterisk-cdr') yield checkedRow(r.line, () => rowFromCdr(r.fields, options));
      else yield checkedRow(r.line, () => rowFromRecord(byHeader(header!, r.fields), options));
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code && /^E[A-Z]+$/.test(code)) throw new InvalidRequest(`cannot read ${input.file}: ${code}`, { cause: err });
    throw err;
  } finally {
    await lines.return(undefined);
  }
}

/** A CSV record as an object by the header's names. @throws RowProblem for more fields than columns */
function byHeader(header: string[], fields: string[]): Record<string, unknown> {
  if (fields.length > header.length) throw new RowProblem(`${fields.length} fields for ${header.length} columns`);
  return Object.fromEntries(fields.map((value, i) => [header[i]!, value]));
}

function checkedRow(line: number, make: () => ImportRow): Read {
  try {
    return { line, row: make() };
  } catch (err) {
    if (err instanceof RowProblem) return { line, problem: err.message };
    throw err;
  }
}
