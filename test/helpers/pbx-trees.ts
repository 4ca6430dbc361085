/**
 * PBX recording trees made in code, for ingest and scan (src/cli-ingest.ts): an Asterisk spool
 * (`YYYY/MM/DD/{direction}-{to}-{from}-{YYYYMMDD}-{HHMMSS}-{uniqueid}.wav`) and a FusionPBX
 * archive (`{domain}/archive/{YYYY}/{Mon}/{DD}/{uuid}.wav`) of tiny WAVs (`n` ms of 8 kHz 16-bit
 * mono: 44 + 16·n bytes), each with the call fields its path must give.
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CallRow } from '../../src/stores/types.js';

/** What a tree's file must become in the index. */
export interface ExpectedCall {
  path: string;
  sid: string;
  org?: string;
  to: string;
  from: string | null;
  startedAt: string;
  durationMs: number;
  size: number;
}

/** A WAV of `ms` milliseconds (1 ms = 16 bytes of PCM), its samples made from `seed`. */
export function tinyWav(ms: number, seed: number): Buffer {
  const data = 16 * ms;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  for (let i = 44; i + 4 <= b.length; i += 4) b.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
  return b;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Writes files, a few directories at a time. */
async function writeAll(root: string, files: Map<string, Buffer>): Promise<void> {
  const dirs = new Set([...files.keys()].map((p) => p.slice(0, p.lastIndexOf('/'))));
  for (const d of dirs) await mkdir(join(root, d), { recursive: true });
  const entries = [...files];
  for (let i = 0; i < entries.length; i += 64) {
    await Promise.all(entries.slice(i, i + 64).map(([p, b]) => writeFile(join(root, p), b)));
  }
}

/** An Asterisk spool of `count` recordings under `root`, over 28 days of November 2026. */
export async function makeAsteriskTree(root: string, count: number): Promise<ExpectedCall[]> {
  const files = new Map<string, Buffer>();
  const expected: ExpectedCall[] = [];
  for (let i = 0; i < count; i++) {
    const day = pad(1 + (i % 28), 2);
    const hh = pad(i % 24, 2);
    const mm = pad(Math.floor(i / 24) % 60, 2);
    const ss = pad(Math.floor(i / 1440) % 60, 2);
    const uniqueid = `${1764000000 + i}.${i % 100}`;
    const to = `1555${pad(i, 7)}`;
    const from = i % 10 === 0 ? '' : String(200 + (i % 50));
    const name = `${i % 2 ? 'out' : 'in'}-${to}-${from}-202611${day}-${hh}${mm}${ss}-${uniqueid}.wav`;
    const path = `2026/11/${day}/${name}`;
    const ms = 1 + (i % 40);
    files.set(path, tinyWav(ms, i));
    expected.push({
      path,
      sid: `call_${uniqueid.replace('.', '')}`,
      to,
      from: from || null,
      startedAt: `2026-11-${day}T${hh}:${mm}:${ss}.000Z`,
      durationMs: ms,
      size: 44 + 16 * ms,
    });
  }
  await writeAll(root, files);
  return expected;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A FusionPBX archive of `count` recordings under `root`, spread over `domains`, in 2026. */
export async function makeFreeswitchTree(root: string, count: number, domains: string[]): Promise<ExpectedCall[]> {
  const files = new Map<string, Buffer>();
  const expected: ExpectedCall[] = [];
  for (let i = 0; i < count; i++) {
    const domain = domains[i % domains.length]!;
    const month = i % 12;
    const day = pad(1 + (i % 28), 2);
    const hex = i.toString(16).padStart(12, '0');
    const uuid = `${hex.slice(4)}-a1b2-4c3d-8e4f-${hex}`;
    const path = `${domain}/archive/2026/${MONTHS[month]}/${day}/${uuid}.wav`;
    const ms = 1 + (i % 40);
    files.set(path, tinyWav(ms, 100_000 + i));
    expected.push({
      path,
      sid: `call_${uuid.replace(/-/g, '')}`,
      org: domain,
      to: 'unknown',
      from: null,
      startedAt: `2026-${pad(month + 1, 2)}-${day}T00:00:00.000Z`,
      durationMs: ms,
      size: 44 + 16 * ms,
    });
  }
  await writeAll(root, files);
  return expected;
}

/** Every row of the call index at `dbPath`, read straight from SQLite. */
export function indexRows(dbPath: string): CallRow[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT * FROM calls').all() as CallRow[];
  } finally {
    db.close();
  }
}

/** The expected calls whose row is missing or differs, as `path: found ≠ wanted` (none: all right). */
export function wrongRows(found: CallRow[], calls: ExpectedCall[], org?: string): string[] {
  const bySid = new Map(found.map((r) => [r.call_sid, r]));
  const wrong: string[] = [];
  for (const e of calls) {
    const r = bySid.get(e.sid);
    const fields = r && [r.org_id, r.to_number, r.from_number, r.started_at, r.duration_ms, r.size_bytes, r.content_type];
    const want = [e.org ?? org, e.to, e.from, e.startedAt, e.durationMs, e.size, 'audio/wav'];
    if (JSON.stringify(fields) !== JSON.stringify(want)) wrong.push(`${e.path}: ${JSON.stringify(fields)} ≠ ${JSON.stringify(want)}`);
  }
  return wrong;
}

/** The summary line of a run's stderr (`ingest: 3 indexed, … 0 failed`). */
export const summaryLine = (stderr: string, label: string): string | undefined =>
  stderr.split('\n').find((l) => l.startsWith(`${label}: `) && / failed$/.test(l));

/** Where a test's CLI runs keep their index and store: one pair per run name, in `dir`. */
export function runEnv(dir: string) {
  return {
    /** The environment of the run `name`: its own index and local store, one signing key. */
    env: (name: string, extra: Record<string, string> = {}): Record<string, string> => ({
      RECPROXY_DB_PATH: join(dir, `${name}.db`),
      RECPROXY_LOCAL_ROOT: join(dir, `${name}-store`),
      RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'),
      ...extra,
    }),
    /** The rows the run `name` indexed (none when it made no index). */
    rows: (name: string): CallRow[] => (existsSync(join(dir, `${name}.db`)) ? indexRows(join(dir, `${name}.db`)) : []),
  };
}

/** Every expected call has its row, with the fields its path gives and its file's bytes. */
export function checkRows(t: { same(a: unknown, b: unknown, m: string): boolean }, found: CallRow[], calls: ExpectedCall[], org?: string): void {
  t.same(wrongRows(found, calls, org).slice(0, 5), [], `all ${calls.length} calls have their path's fields and duration`);
}

/**
 * An Asterisk spool of `count` recordings in `dir`/spool, and four files outside the grammar:
 * a note, a name whose date disagrees with its directories, a file at the top, a symbolic link.
 */
export async function asteriskSpool(dir: string, count: number): Promise<{ tree: string; expected: ExpectedCall[]; outside: number }> {
  const tree = join(dir, 'spool');
  const expected = await makeAsteriskTree(tree, count);
  await writeFile(join(tree, '2026/11/28/notes.txt'), 'not a recording');
  await mkdir(join(tree, '2026/11/27'), { recursive: true });
  await writeFile(join(tree, '2026/11/27/out-15550001111-201-20261128-093012-1764999999.1.wav'), tinyWav(5, 1));
  await writeFile(join(tree, 'stray.wav'), tinyWav(5, 2));
  await symlink(join(tree, expected[0]!.path), join(tree, 'link.wav'));
  return { tree, expected, outside: 4 };
}

/** The FusionPBX domain directory in `fusionArchive` that is no organization id. */
export const BAD_DOMAIN_FILE = 'bad domain!/archive/2026/Nov/28/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.wav';

/**
 * A FusionPBX archive of `count` recordings over `domains` in `dir`/fusionpbx, and two files
 * outside what --org-from-domain takes: a domain directory that is no organization id
 * (BAD_DOMAIN_FILE), and a file outside the grammar.
 */
export async function fusionArchive(dir: string, count: number, domains: string[]): Promise<{ tree: string; expected: ExpectedCall[]; outside: number }> {
  const tree = join(dir, 'fusionpbx');
  const expected = await makeFreeswitchTree(tree, count, domains);
  await mkdir(join(tree, 'bad domain!/archive/2026/Nov/28'), { recursive: true });
  await writeFile(join(tree, BAD_DOMAIN_FILE), tinyWav(3, 3));
  await writeFile(join(tree, 'pbx1.example.com/archive/2026/Jan/01/voicemail.wav'), tinyWav(3, 4));
  return { tree, expected, outside: 2 };
}
