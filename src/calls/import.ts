/**
 * The rules of `recproxy import` (src/cli-import.ts): what a row of call metadata may hold and
 * what it means, in the three formats the command reads: CSV with a header row of the columns
 * below, JSON Lines with the same names as keys, and Asterisk's cdr_csv `Master.csv` (no header;
 * the standard column order). A row names one call and some of its metadata; `enrichment` says
 * what of it would change an indexed call. Reading files is the command's business, not this one's.
 *
 * Times without an offset (every Master.csv time, and a CSV/JSONL `started_at` written without
 * one) are wall-clock times in the import's time zone (`--timezone`, UTC by default) and are
 * stored as ISO 8601 with that zone's offset at that moment.
 */
import { isOrgId, sidFromPbxId, isCallSid } from '../core/ids.js';
import type { CallPatch, CallRow } from '../stores/types.js';

/** The columns (CSV header names, JSON Lines keys) an import row may have. */
export const IMPORT_COLUMNS = ['call_sid', 'pbx_id', 'uniqueid', 'to', 'from', 'started_at', 'duration_ms', 'org', 'file'] as const;
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

export const IMPORT_FORMATS = ['csv', 'jsonl', 'asterisk-cdr'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** One row, checked: the call it names and what it says about it. */
export interface ImportRow {
  sid: string;
  org: string;
  to?: string;
  from?: string;
  /** ISO 8601 with an offset. */
  startedAt?: string;
  durationMs?: number;
  /** The recording's path as written in the row (the command resolves it). */
  file?: string;
}

export interface RowOptions {
  /** The organization of rows that name none (`--org`). */
  org?: string;
  /** The IANA time zone of times written without an offset (`--timezone`). */
  timeZone: string;
}

/** A row that cannot be imported, and why (the message is the reason shown for its line). */
export class RowProblem extends Error {}

/** Asterisk cdr_csv's columns, in the order it writes them; the last five only when cdr.conf asks. */
export const CDR_COLUMNS = [
  'accountcode', 'src', 'dst', 'dcontext', 'clid', 'channel', 'dstchannel', 'lastapp', 'lastdata',
  'start', 'answer', 'end', 'duration', 'billsec', 'disposition', 'amaflags',
  'uniqueid', 'userfield', 'peeraccount', 'linkedid', 'sequence',
] as const;
const CDR = Object.fromEntries(CDR_COLUMNS.map((name, i) => [name, i])) as Record<(typeof CDR_COLUMNS)[number], number>;
/** Fields in every Master.csv line (up to amaflags). */
const CDR_BASE = 16;

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;
/** Asterisk's own call ids: `[systemname-]epoch.sequence`. */
const ASTERISK_UNIQUEID = /^(?:[A-Za-z0-9_.-]+-)?\d+\.\d+$/;

const DAY_MS = 86_400_000;

/** @throws RowProblem when `zone` is not a time zone this Node knows (`Europe/Berlin`, `UTC`) */
export function checkTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new RowProblem(`unknown time zone "${zone}" (an IANA name such as UTC or America/New_York)`);
  }
  return zone;
}

/** One formatter per time zone: making one costs far more than using it. */
const FORMATS = new Map<string, Intl.DateTimeFormat>();

/** The offset of `zone` from UTC at the instant `ms`, in minutes (east positive). */
function offsetMinutes(zone: string, ms: number): number {
  let format = FORMATS.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    FORMATS.set(zone, format);
  }
  const parts = format.formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((wall - Math.floor(ms / 1000) * 1000) / 60_000);
}

/**
 * A time as ISO 8601 with an offset. One written with an offset (`Z`, `+01:00`) is kept as
 * written; one without is read as wall-clock time in `zone`. A wall-clock time that a daylight
 * saving change repeats takes the earlier instant; one it skips, the offset before the change.
 * @throws RowProblem for anything but `YYYY-MM-DD HH:MM[:SS[.fff]]` (a `T` may stand for the
 *         space) with an optional offset, or a date that does not exist
 */
export function toIsoTime(text: string, zone: string, field: string): string {
  const m = LOCAL_TIME.exec(text);
  const bad = () => new RowProblem(`${field} must be a time such as 2026-11-28 09:30:12 or 2026-11-28T09:30:12Z (got "${text}")`);
  if (!m) throw bad();
  const [, y, mo, d, h, mi, s = '00', frac = '', offset] = m;
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const back = new Date(wall);
  if (back.getUTCMonth() !== Number(mo) - 1 || back.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw bad();
  const clock = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac}`;
  if (offset) return `${clock}${offset.length === 5 ? `${offset.slice(0, 3)}:${offset.slice(3)}` : offset}`;
  // The zone's offsets a day either side (a change, if any, lies between): each that names this
  // wall-clock time is a candidate; the earliest instant wins; none (a skipped time): the one before.
  const before = offsetMinutes(zone, wall - DAY_MS);
  const candidates = [before, offsetMinutes(zone, wall + DAY_MS)].filter((o) => offsetMinutes(zone, wall - o * 60_000) === o);
  const minutes = candidates.length ? Math.max(...candidates) : before;
  if (minutes === 0) return `${clock}Z`;
  const abs = Math.abs(minutes);
  return `${clock}${minutes < 0 ? '-' : '+'}${String(Math.trunc(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The value of a text field: trimmed; empty or absent → undefined. @throws RowProblem for a non-string */
function text(record: Record<string, unknown>, field: string): string | undefined {
  const value = record[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new RowProblem(`${field} must be a string (got ${JSON.stringify(value)})`);
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * The checked row of a CSV record (by header name) or a JSON Lines object.
 * @throws RowProblem naming the first field that breaks its rule, or an unknown field
 */
export function rowFromRecord(record: Record<string, unknown>, options: RowOptions): ImportRow {
  for (const key of Object.keys(record)) {
    if (!(IMPORT_COLUMNS as readonly string[]).includes(key)) throw new RowProblem(`unknown field "${key}"`);
  }
  const sidText = text(record, 'call_sid');
  const pbxId = text(record, 'pbx_id') ?? text(record, 'uniqueid');
  let sid: string | undefined;
  if (sidText !== undefined) {
    if (!isCallSid(sidText)) throw new RowProblem(`call_sid must be call_ followed by 1-64 letters or digits (got "${sidText}")`);
    sid = sidText;
  } else if (pbxId !== undefined) {
    sid = sidFromPbxId(pbxId);
    if (!sid) throw new RowProblem(`pbx_id "${pbxId}" gives no call_sid (1-64 letters or digits once the rest is removed)`);
  } else {
    throw new RowProblem('no call: give call_sid, pbx_id or uniqueid');
  }
  let durationMs: number | undefined;
  const duration = record.duration_ms;
  if (typeof duration === 'number') durationMs = duration;
  else if (duration !== undefined && duration !== null) {
    const d = text(record, 'duration_ms');
    if (d !== undefined) durationMs = /^\d+$/.test(d) ? Number(d) : NaN;
  }
  if (durationMs !== undefined && (!Number.isSafeInteger(durationMs) || durationMs < 0)) {
    throw new RowProblem(`duration_ms must be a whole number of milliseconds (got ${JSON.stringify(duration)})`);
  }
  const startedAt = text(record, 'started_at');
  return checked(
    {
      sid,
      org: text(record, 'org') ?? options.org ?? '',
      to: text(record, 'to'),
      from: text(record, 'from'),
      startedAt: startedAt === undefined ? undefined : toIsoTime(startedAt, options.timeZone, 'started_at'),
      durationMs,
      file: text(record, 'file'),
    },
  );
}

/** @throws RowProblem for an organization, `to` or `from` outside the rules of registration */
function checked(row: ImportRow): ImportRow {
  if (!row.org) throw new RowProblem('no organization: give an org column or --org');
  if (!isOrgId(row.org)) throw new RowProblem(`org must be 1-128 letters, digits or _ . : - (got "${row.org}")`);
  if (row.to !== undefined && row.to.length > 64) throw new RowProblem('to must be at most 64 characters');
  if (row.from !== undefined && row.from.length > 64) throw new RowProblem('from must be at most 64 characters');
  for (const key of Object.keys(row) as (keyof ImportRow)[]) if (row[key] === undefined) delete row[key];
  return row;
}

/**
 * @returns the header's column names, checked
 * @throws RowProblem for an unknown or repeated column, or a header without a call column
 */
export function checkHeader(fields: string[]): string[] {
  const names = fields.map((f) => f.trim());
  const seen = new Set<string>();
  for (const name of names) {
    if (!(IMPORT_COLUMNS as readonly string[]).includes(name)) {
      throw new RowProblem(`unknown column "${name}" in the header (the columns: ${IMPORT_COLUMNS.join(', ')})`);
    }
    if (seen.has(name)) throw new RowProblem(`column "${name}" appears twice in the header`);
    seen.add(name);
  }
  if (!names.some((n) => n === 'call_sid' || n === 'pbx_id' || n === 'uniqueid')) {
    throw new RowProblem('the header names no call column: call_sid, pbx_id or uniqueid');
  }
  return names;
}

/** True when `fields` (a file's first line) are a cdr_csv Master.csv record rather than a header. */
export function looksLikeCdr(fields: string[]): boolean {
  return (
    fields.length >= CDR_BASE &&
    fields.length <= CDR_COLUMNS.length &&
    /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(fields[CDR.start]!) &&
    /^\d+$/.test(fields[CDR.duration]!) &&
    /^\d+$/.test(fields[CDR.billsec]!)
  );
}

/**
 * The checked row of one Master.csv record: its `uniqueid` names the call (sidFromPbxId), `dst` is
 * `to`, `src` is `from`, `start` is `started_at` (wall-clock time in `options.timeZone`) and
 * `billsec` (seconds from answer to hangup) the duration when it is not 0. Nothing else is used.
 * @throws RowProblem for a wrong number of fields, no uniqueid, or a bad time or number
 */
export function rowFromCdr(fields: string[], options: RowOptions): ImportRow {
  if (fields.length < CDR_BASE || fields.length > CDR_COLUMNS.length) {
    throw new RowProblem(`a Master.csv line has ${CDR_BASE} to ${CDR_COLUMNS.length} fields; this one has ${fields.length}`);
  }
  const field = (name: keyof typeof CDR) => fields[CDR[name]]?.trim() || undefined;
  const uniqueid = field('uniqueid');
  if (!uniqueid || !ASTERISK_UNIQUEID.test(uniqueid)) {
    throw new RowProblem(
      `no uniqueid in column 17${uniqueid ? ` ("${uniqueid}" is not one)` : ''}: Asterisk writes it with loguniqueid=yes in cdr.conf [csv]`,
    );
  }
  const sid = sidFromPbxId(uniqueid);
  if (!sid) throw new RowProblem(`uniqueid "${uniqueid}" gives no call_sid (more than 64 letters and digits)`);
  const billsec = field('billsec');
  if (billsec !== undefined && !/^\d+$/.test(billsec)) throw new RowProblem(`billsec must be a whole number of seconds (got "${billsec}")`);
  const start = field('start');
  return checked({
    sid,
    org: options.org ?? '',
    to: field('dst'),
    from: field('src'),
    startedAt: start === undefined ? undefined : toIsoTime(start, options.timeZone, 'start'),
    durationMs: billsec && billsec !== '0' ? Number(billsec) * 1000 : undefined,
  });
}

/**
 * What of `row` would change `call`: `to`, `from` and `started_at` when they differ (a start time
 * naming the same instant in another form is no change), the duration only when the call has
 * none. An empty patch: the row changes nothing.
 */
export function enrichment(call: CallRow, row: Pick<ImportRow, 'to' | 'from' | 'startedAt' | 'durationMs'>): CallPatch {
  const patch: CallPatch = {};
  if (row.to !== undefined && row.to !== call.to_number) patch.to_number = row.to;
  if (row.from !== undefined && row.from !== call.from_number) patch.from_number = row.from;
  if (row.startedAt !== undefined && !(call.started_at !== null && Date.parse(call.started_at) === Date.parse(row.startedAt))) {
    // Stored in UTC, as registration stores it (src/calls/register.ts).
    patch.started_at = new Date(row.startedAt).toISOString();
  }
  if (row.durationMs !== undefined && call.duration_ms === null) patch.duration_ms = row.durationMs;
  return patch;
}
