/**
 * `recproxy import` reads its file as a stream of records, each with the line it starts on, so
 * a file of any size is read in constant memory and a bad record is reported by its line and
 * skipped. CSV: physical lines are gathered until their quotes balance (a quoted field may hold
 * a newline or a comma), then csv-parse reads that one record; a quote left open is reported at
 * its line and reading resumes on the next one. JSON Lines: one JSON object per line.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse/sync';

/** One record of the file, or what is wrong with it, and the line it starts on (1-based). */
export type CsvRecord = { line: number; fields: string[] } | { line: number; problem: string };
export type JsonRecord = { line: number; value: Record<string, unknown> } | { line: number; problem: string };

/** A quoted field open for longer than this is taken for a stray quote. */
const MAX_RECORD_LINES = 100;
const MAX_RECORD_CHARS = 1 << 20;

/** The file's lines, without their line ends (LF or CRLF) and without a leading byte order mark. */
export async function* fileLines(path: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let first = true;
  try {
    for await (const line of lines) {
      yield first && line.startsWith('\uFEFF') ? line.slice(1) : line;
      first = false;
    }
  } finally {
    lines.close();
  }
}

/** How many lines the file has (a last line without a line end counts): the size of a progress bar. */
export async function countLines(path: string): Promise<number> {
  let count = 0;
  let last = 0x0a;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) count++;
    if (chunk.length) last = chunk[chunk.length - 1]!;
  }
  return last === 0x0a ? count : count + 1;
}

/** The CSV records of `lines`; blank lines are passed over. */
export async function* csvRecords(lines: AsyncIterable<string>): AsyncGenerator<CsvRecord> {
  const source = lines[Symbol.asyncIterator]();
  /** Lines read but to be looked at again (after a quote that was never closed). */
  const again: { n: number; text: string }[] = [];
  let count = 0;
  let group: { n: number; text: string }[] = [];
  let quotes = 0;
  let chars = 0;
  const next = async () => {
    if (again.length) return again.shift();
    const r = await source.next();
    return r.done ? undefined : { n: ++count, text: r.value };
  };
  for (;;) {
    const line = await next();
    if (line === undefined && !group.length) return;
    if (line !== undefined) {
      if (!group.length && line.text.trim() === '') continue;
      group.push(line);
      for (const c of line.text) if (c === '"') quotes++;
      chars += line.text.length;
    }
    if (quotes % 2 === 1) {
      if (line !== undefined && group.length < MAX_RECORD_LINES && chars < MAX_RECORD_CHARS) continue;
      // A quote that never closes: report its line, read the lines after it afresh.
      yield { line: group[0]!.n, problem: 'a quoted field is never closed' };
      again.unshift(...group.slice(1));
    } else {
      const text = group.map((l) => l.text).join('\n');
      try {
        const [fields = []] = parse(text, { relax_column_count: true }) as string[][];
        yield { line: group[0]!.n, fields };
      } catch (err) {
        yield { line: group[0]!.n, problem: `not CSV: ${(err as Error).message.replace(/ at line \d+/, '')}` };
      }
    }
    group = [];
    quotes = 0;
    chars = 0;
  }
}

/** The JSON Lines records of `lines`: each non-blank line one JSON object. */
export async function* jsonRecords(lines: AsyncIterable<string>): AsyncGenerator<JsonRecord> {
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      yield { line: n, problem: `not JSON: ${(err as Error).message}` };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { line: n, problem: 'not a JSON object' };
      continue;
    }
    yield { line: n, value: value as Record<string, unknown> };
  }
}
