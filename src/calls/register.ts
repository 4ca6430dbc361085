/**
 * Registering a recording from a stream of its bytes: the bytes go to storage first and the
 * index row second, so the index never points at nothing. Only bytes whose header is audio are
 * taken (else UNSUPPORTED_MEDIA_TYPE); the SHA-256 is computed, and the bytes are probed for
 * their content type and duration (src/calls/probe.ts), while they stream through, once.
 * Where the bytes come from (a file the CLI opened: src/register-file.ts; an upload:
 * src/routes/upload.ts) is the caller's business, and so is closing it: the stream is read,
 * never destroyed, here.
 *
 * Registering is idempotent by content: the same call_sid with the same bytes (SHA-256) again
 * answers the existing row (`created: false`) and stores nothing; different bytes are CALL_EXISTS,
 * and the first recording is never overwritten. A retried upload, a re-run ingest, and two racing
 * registrations of one file all end with one row and one object.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import { Scavenger } from './scavenge.js';
import { CallExists, InvalidRequest, UnsupportedMediaType } from '../core/errors.js';
import { isCallSid, isOrgId } from '../core/ids.js';
import { normalizeKey } from '../core/keys.js';
import { extensionForType, isMediaType } from '../core/media-types.js';
import { AudioProbe, PROBE_HEAD_BYTES } from './probe.js';
import type { StorageAdapter } from '../core/storage.js';
import type { CallIndex, CallRow } from '../stores/types.js';

/** A call's fields, as given: checked by `fieldProblems`. */
export interface RegisterFields {
  org: string;
  sid: string;
  to: string;
  from?: string;
  /**
   * The media type the sender declares. Checked, but the row's content type is what the bytes
   * say (src/calls/probe.ts), whatever the name, the extension or this.
   */
  contentType?: string;
  /** ISO 8601; stored in UTC (`toISOString()`). */
  startedAt?: string;
  /** The sender's duration, used only when the bytes do not tell (a body the parser cannot read). */
  durationMs?: number;
}

export type RegisterField = keyof RegisterFields;

/** One problem with one field; `message` follows the field's name (`sid must be …`). */
export interface FieldProblem {
  field: RegisterField;
  message: string;
}

/** The bytes of a recording, from their start. */
export interface RecordingSource {
  body: Readable;
  /** Its length in bytes when known (a file's size, an upload's Content-Length); a stored length that differs fails. */
  size?: number;
  /** What messages call it (a file path as given, an upload's file name). */
  name: string;
  /**
   * Called once the bytes are stored (or, for a call already indexed, hashed), before the row is
   * written: a rejection removes the stored bytes, and registering throws its error (an upload
   * whose request turns out malformed after its file part).
   */
  complete?(): Promise<void>;
}

/**
 * Fields that break the rules: INVALID_REQUEST, its message each `{field} {message}`, joined by
 * "; ", and `problems` naming the fields (a caller words them its own way: the CLI as options).
 */
export class InvalidFields extends InvalidRequest {
  constructor(readonly problems: FieldProblem[]) {
    super(problems.map((p) => `${p.field} ${p.message}`).join('; '));
  }

  /** By prototype: @fastify/error's own test would take every INVALID_REQUEST for one of these. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** What is wrong with the call's fields, one problem per field, in the order of the fields. */
export function fieldProblems(fields: RegisterFields): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const problem = (field: RegisterField, message: string) => problems.push({ field, message });
  if (!isCallSid(fields.sid)) problem('sid', 'must be call_ followed by 1-64 letters or digits');
  if (!isOrgId(fields.org)) problem('org', 'must be 1-128 letters, digits or _ . : -');
  if (!fields.to || fields.to.length > 64) problem('to', 'must be a phone number or address of 1-64 characters');
  if (fields.from !== undefined && fields.from.length > 64) problem('from', 'must be at most 64 characters');
  if (fields.contentType !== undefined && !isMediaType(fields.contentType)) problem('contentType', 'must be a media type such as audio/wav');
  if (fields.startedAt !== undefined && Number.isNaN(Date.parse(fields.startedAt))) problem('startedAt', 'must be an ISO 8601 time');
  if (fields.durationMs !== undefined && !(Number.isSafeInteger(fields.durationMs) && fields.durationMs >= 0)) {
    problem('durationMs', 'must be a whole number of milliseconds');
  }
  return problems;
}

/**
 * A whole-number field given as text (an option, a form field, a query parameter) as
 * RegisterFields takes it: undefined when absent, NaN when not plain digits (fieldProblems
 * then names the field).
 */
export function wholeNumberField(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN;
}

/** The index as registration uses it. */
export type RegisterIndex = Pick<CallIndex, 'get' | 'insert'>;

/** What registering did: `created` is false when the call was already indexed with these bytes. */
export interface Registered {
  call: CallRow;
  created: boolean;
}

export interface RegisterDeps {
  index: RegisterIndex;
  storage: StorageAdapter;
}

/**
 * `source` may be given as a function that opens it, called once the fields are checked (the
 * CLI opens its file only then). When the call is already indexed, the source is only read
 * through to hash it, never stored.
 * @throws InvalidFields, UnsupportedMediaType (the bytes are not audio), CallExists (the call_sid is
 *         taken, by other bytes or by another organization), StorageUnavailable, and whatever
 *         opening or reading the source throws
 */
export async function registerRecording(
  deps: RegisterDeps,
  fields: RegisterFields,
  source: RecordingSource | (() => Promise<RecordingSource>),
): Promise<Registered> {
  const problems = fieldProblems(fields);
  if (problems.length) throw new InvalidFields(problems);
  const existing = await deps.index.get(fields.sid);
  if (existing && (existing.org_id !== fields.org || existing.deleted_at !== null)) throw new CallExists(fields.sid);
  const { body, size, name, complete } = typeof source === 'function' ? await source() : source;
  if (existing) {
    if ((await sha256Of(body)) !== existing.sha256) throw new CallExists(fields.sid);
    await complete?.();
    return { call: existing, created: false };
  }

  const { head, bytes, failure } = await peek(body, PROBE_HEAD_BYTES);
  const probe = AudioProbe.start(head, size);
  if (!probe) {
    throw new UnsupportedMediaType(`${name} is not audio: no WAV, MP3, Ogg, FLAC, GSM, M4A, WebM, AMR, AIFF or AU header`);
  }
  const contentType = probe.contentType;
  // A suffix per registration: two racing registrations of one call_sid never share a key,
  // so the loser can delete its own bytes without touching the winner's.
  const unique = randomBytes(4).toString('hex');
  const key = normalizeKey(`${deps.storage.recordingsPrefix}${fields.org}/${fields.sid}-${unique}.${extensionForType(contentType)}`);
  const hash = createHash('sha256');
  // The chunks an upload arrives in are dead once written: freed every few MiB (scavenge.ts)
  // rather than left to pile up outside the heap (BENCHMARKS.md, the 1 GiB upload).
  const scavenger = new Scavenger();
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      scavenger.read(chunk.length);
      hash.update(chunk);
      // The probe sees the same chunks; when it must catch up, the stream waits for it.
      const wait = probe.feed(chunk);
      if (wait) void wait.then(() => done(null, chunk));
      else done(null, chunk);
    },
  });
  let meta;
  try {
    // pipeline, not pipe: a failing source destroys the hashing stream, whose error the write reports.
    meta = await deps.storage.write(key, pipeline(bytes, hashing, () => undefined), { contentType, size });
  } catch (err) {
    probe.abort();
    // The source's own failure (an upload cut off, over its limit), not the adapter's wording of it.
    throw failure() ?? err;
  } finally {
    // Nothing is left reading from the source once the write is over (its owner closes it).
    bytes.destroy();
  }
  const sha256 = hash.digest('hex');
  try {
    const probed = await probe.finish(meta.size);
    await complete?.();
    const call = await deps.index.insert({
      call_sid: fields.sid,
      org_id: fields.org,
      to_number: fields.to,
      from_number: fields.from ?? null,
      started_at: fields.startedAt === undefined ? null : new Date(fields.startedAt).toISOString(),
      duration_ms: probed.durationMs ?? fields.durationMs ?? null,
      storage_key: key,
      content_type: contentType,
      size_bytes: meta.size,
      sha256,
    });
    return { call, created: true };
  } catch (err) {
    // The request failed after all, or the row lost a race for this call_sid: remove the bytes
    // only this registration wrote.
    await deps.storage.delete(key).catch(() => undefined);
    if (err instanceof CallExists) {
      const winner = await deps.index.get(fields.sid);
      if (winner && winner.org_id === fields.org && winner.deleted_at === null && winner.sha256 === sha256) return { call: winner, created: false };
    }
    throw err;
  }
}

/** The SHA-256 of everything `body` holds, read to its end (hex). */
async function sha256Of(body: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The first `n` bytes of `body` (fewer when it is shorter), and a stream of all its bytes from
 * the start: what was read to look at the head comes first, then the rest of `body`. `failure()`
 * is the error `body` itself failed with while `bytes` read it, if it did.
 */
async function peek(body: Readable, n: number): Promise<{ head: Buffer; bytes: Readable; failure: () => unknown }> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const read: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < n) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = asBuffer(next.value);
    read.push(chunk);
    length += chunk.length;
  }
  const start = Buffer.concat(read);
  let failed: unknown;
  const next = () =>
    chunks.next().catch((err: unknown) => {
      failed = err;
      throw err;
    });
  async function* all(): AsyncGenerator<Buffer> {
    if (start.length) yield start;
    if (ended) return;
    for (let step = await next(); !step.done; step = await next()) yield asBuffer(step.value);
  }
  return { head: start.subarray(0, n), bytes: Readable.from(all(), { objectMode: false }), failure: () => failed };
}

const asBuffer = (chunk: Buffer | string): Buffer => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
