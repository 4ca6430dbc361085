/**
 * PBX recording layouts: a recording's path, relative to the root of the tree it lies in (a
 * folder given to `recproxy ingest`, a storage prefix given to `recproxy scan`), read as a call's
 * fields, or the reason it does not fit. Nothing is guessed: a path outside the layout's grammar
 * is refused with a reason, never half-read. Pure: no I/O.
 *
 * Times in paths are wall-clock times at the UTC offset given (`--utc-offset`, default `+00:00`,
 * i.e. UTC): `started_at` is written with that offset (`2026-11-28T09:30:12Z`,
 * `…T09:30:12+01:00`). The grammars are the README's ("PBX layouts").
 */
import { isOrgId, sidFromPbxId } from '../core/ids.js';

export const LAYOUTS = ['asterisk', 'freeswitch', 'flat'] as const;
export type LayoutName = (typeof LAYOUTS)[number];

export const isLayout = (value: string): value is LayoutName => (LAYOUTS as readonly string[]).includes(value);

/**
 * `to` of a call whose path carries no number (freeswitch, flat): registration needs one, and
 * `recproxy import` of the PBX's CDR replaces it with the real number.
 */
export const UNKNOWN_NUMBER = 'unknown';

/** What a path says about its call. */
export interface LayoutCall {
  sid: string;
  to: string;
  from?: string;
  /** ISO 8601 with the offset given. */
  startedAt?: string;
  /** The organization the path names (freeswitch's domain directory), when asked for. */
  org?: string;
}

export type LayoutResult = { call: LayoutCall } | { reason: string };

export interface LayoutOptions {
  /** The offset of the times in paths, `+HH:MM` or `-HH:MM` (default UTC). */
  utcOffset?: string;
  /** freeswitch: the domain directory is the call's organization. */
  orgFromDomain?: boolean;
}

/** `+HH:MM` / `-HH:MM`, hours 00–14, minutes 00–59. */
const OFFSET = /^[+-](0\d|1[0-4]):[0-5]\d$/;
export const isUtcOffset = (value: string): boolean => OFFSET.test(value);

const ASTERISK_NAME = /^([a-z]+)-([^-]+)-([^-]*)-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(\d+\.\d+)\.(wav|WAV|mp3|gsm)$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const UUID_NAME = /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.(wav|mp3)$/;
const FLAT_NAME = /^(call_[A-Za-z0-9]{1,64})\.(wav|WAV|mp3|gsm|ogg|opus|flac|m4a|webm)$/;

/**
 * The call `path` (slash-separated, relative to the tree's root) names under `layout`, or why
 * it names none.
 */
export function parseLayoutPath(layout: LayoutName, path: string, options: LayoutOptions = {}): LayoutResult {
  const offset = options.utcOffset ?? '+00:00';
  const parts = path.split('/');
  const name = parts.at(-1)!;
  if (layout === 'flat') {
    if (parts.length !== 1) return { reason: 'not in the flat layout: a file in a subdirectory (expected {call_sid}.{ext} at the top)' };
    const m = FLAT_NAME.exec(name);
    if (!m) return { reason: 'not in the flat layout: expected {call_sid}.{ext}, call_ and 1-64 letters or digits, an audio extension' };
    return { call: { sid: m[1]!, to: UNKNOWN_NUMBER } };
  }
  if (layout === 'asterisk') {
    if (parts.length !== 4 || !/^\d{4}$/.test(parts[0]!) || !/^\d{2}$/.test(parts[1]!) || !/^\d{2}$/.test(parts[2]!)) {
      return { reason: 'not in the asterisk layout: expected YYYY/MM/DD/{file}' };
    }
    const m = ASTERISK_NAME.exec(name);
    if (!m) return { reason: 'not in the asterisk layout: expected {direction}-{to}-{from}-{YYYYMMDD}-{HHMMSS}-{uniqueid}.{wav|WAV|mp3|gsm}' };
    const [, , to, from, y, mo, d, h, mi, s, uniqueid] = m as unknown as string[];
    if (parts[0] !== y || parts[1] !== mo || parts[2] !== d) {
      return { reason: `the date directories ${parts.slice(0, 3).join('/')} disagree with the name's date ${y}${mo}${d}` };
    }
    const startedAt = wallTime(y!, mo!, d!, h!, mi!, s!, offset);
    if (!startedAt) return { reason: `no such date and time: ${y}${mo}${d}-${h}${mi}${s}` };
    const sid = sidFromPbxId(uniqueid!);
    if (!sid) return { reason: `uniqueid ${uniqueid} is too long for a call_sid` };
    return { call: { sid, to: to!, ...(from ? { from } : {}), startedAt } };
  }
  // freeswitch (FusionPBX): {domain}/archive/{YYYY}/{Mon}/{DD}/{uuid}.{wav|mp3}
  const [domain, archive, y, mon, d] = parts;
  const month = MONTHS.indexOf(mon ?? '') + 1;
  if (parts.length !== 6 || !domain || archive !== 'archive' || !/^\d{4}$/.test(y!) || month === 0 || !/^\d{2}$/.test(d!)) {
    return { reason: 'not in the freeswitch layout: expected {domain}/archive/{YYYY}/{Mon}/{DD}/{file}' };
  }
  const m = UUID_NAME.exec(name);
  if (!m) return { reason: 'not in the freeswitch layout: expected {uuid}.{wav|mp3}' };
  const startedAt = wallTime(y!, String(month).padStart(2, '0'), d!, '00', '00', '00', offset);
  if (!startedAt) return { reason: `no such date: ${y}/${mon}/${d}` };
  const call: LayoutCall = { sid: sidFromPbxId(m[1]!)!, to: UNKNOWN_NUMBER, startedAt };
  if (options.orgFromDomain) {
    if (!isOrgId(domain)) return { reason: `the domain directory "${domain}" is not an organization id (1-128 letters, digits or _ . : -)` };
    call.org = domain;
  }
  return { call };
}

/** `YYYY-MM-DDTHH:MM:SS` at `offset` (`Z` for UTC), or undefined when no such time exists. */
function wallTime(y: string, mo: string, d: string, h: string, mi: string, s: string, offset: string): string | undefined {
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  const back = new Date(ms);
  if (
    back.getUTCFullYear() !== +y || back.getUTCMonth() !== +mo - 1 || back.getUTCDate() !== +d ||
    back.getUTCHours() !== +h || back.getUTCMinutes() !== +mi || back.getUTCSeconds() !== +s
  ) {
    return undefined;
  }
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${offset === '+00:00' || offset === '-00:00' ? 'Z' : offset}`;
}
