/**
 * Registering a recording that is already in storage, in place (`recproxy scan`): nothing is
 * copied, written or deleted in the store. The object is opened once (one lookup: metadata and
 * body) and read to check it is audio, hash it and learn its duration; then the index row is
 * written with that object's key.
 *
 * The same idempotency rules as registering from a stream (src/calls/register.ts): the same
 * call_sid with the same bytes answers the existing row (`created: false`), whatever key that row
 * has; other bytes, another organization's call or a deleted one are CALL_EXISTS.
 *
 * Rows of concurrent registrations are inserted together, in one transaction, when the index
 * offers `insertMany` (a commit per row was most of a scan's time); one at a time otherwise.
 */
import { createHash } from 'node:crypto';
import { SNIFF_BYTES, sniffAudio } from '../audio-sniff.js';
import { CallExists, InvalidRequest } from '../core/errors.js';
import { typeForName } from '../core/media-types.js';
import { wavDurationMs } from '../wav.js';
import { InvalidFields, fieldProblems, type RegisterFields, type Registered } from './register.js';
import type { StorageAdapter } from '../core/storage.js';
import type { CallIndex, CallRow, NewCall } from '../stores/types.js';

export interface StoredDeps {
  index: Pick<CallIndex, 'get' | 'insert' | 'insertMany'>;
  storage: StorageAdapter;
}

/** What the bytes say: their content type (the fields', else the key's extension) and, for WAV, the duration; undefined when they are not audio. */
function describeBytes(head: Buffer, size: number, contentType: string): { contentType: string; durationMs: number | null } | undefined {
  if (!sniffAudio(head)) return undefined;
  return { contentType, durationMs: contentType === 'audio/wav' ? wavDurationMs(head, size) : null };
}

/**
 * The object at `key` read as the call `fields`: the existing row when the call is indexed with
 * these bytes, else the row to insert.
 * @throws InvalidFields, InvalidRequest (not audio), CallExists, ObjectNotFound, StorageUnavailable
 */
async function examine(deps: StoredDeps, fields: RegisterFields, key: string): Promise<Registered | { row: NewCall }> {
  const problems = fieldProblems(fields);
  if (problems.length) throw new InvalidFields(problems);
  const existing = await deps.index.get(fields.sid);
  if (existing && (existing.org_id !== fields.org || existing.deleted_at !== null)) throw new CallExists(fields.sid);

  const opened = await deps.storage.open(key, { hint: 'whole' });
  const hash = createHash('sha256');
  const head: Buffer[] = [];
  let headLength = 0;
  let size = 0;
  for await (const chunk of opened.read()) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
    if (headLength < SNIFF_BYTES) {
      head.push(bytes);
      headLength += bytes.length;
    }
  }
  const sha256 = hash.digest('hex');
  if (existing) {
    if (sha256 === existing.sha256) return { call: existing, created: false };
    throw new CallExists(fields.sid);
  }
  const said = describeBytes(Buffer.concat(head).subarray(0, SNIFF_BYTES), size, fields.contentType ?? typeForName(key));
  if (!said) throw new InvalidRequest(`${key} is not audio: no WAV, MP3, Ogg, FLAC, GSM, M4A, WebM, AMR, AIFF or AU header`);
  const row: NewCall = {
    call_sid: fields.sid,
    org_id: fields.org,
    to_number: fields.to,
    from_number: fields.from ?? null,
    started_at: fields.startedAt === undefined ? null : new Date(fields.startedAt).toISOString(),
    duration_ms: said.durationMs,
    storage_key: key,
    content_type: said.contentType,
    size_bytes: size,
    sha256,
  };
  return { row };
}

/**
 * Another registration of `row`'s call_sid won: the same bytes of the same live call are
 * "already". The object is never deleted here: it was in the store before, and is not this
 * code's to remove.
 */
async function lostRace(deps: StoredDeps, row: NewCall, err?: unknown): Promise<Registered> {
  const winner = await deps.index.get(row.call_sid);
  if (winner && winner.org_id === row.org_id && winner.deleted_at === null && winner.sha256 === row.sha256) return { call: winner, created: false };
  throw err ?? new CallExists(row.call_sid);
}

/**
 * Indexes the object at `key` as the call `fields`, on its own.
 * @throws InvalidFields, InvalidRequest (not audio), CallExists, ObjectNotFound, StorageUnavailable
 */
export async function registerStored(deps: StoredDeps, fields: RegisterFields, key: string): Promise<Registered> {
  const examined = await examine(deps, fields, key);
  if ('call' in examined) return examined;
  try {
    return { call: await deps.index.insert(examined.row), created: true };
  } catch (err) {
    if (err instanceof CallExists) return lostRace(deps, examined.row, err);
    throw err;
  }
}

/** Most rows in one transaction. */
const BATCH = 256;

/**
 * `registerStored` for many objects at once: rows examined by concurrent registrations go into
 * the index together, in one `insertMany` transaction, as soon as the event loop has nothing
 * more to add (or BATCH are waiting). Without `insertMany`, as `registerStored`.
 */
export class StoredRegistrar {
  readonly #deps: StoredDeps;
  #queue: { row: NewCall; done: (inserted: CallRow | undefined, err?: unknown) => void }[] = [];
  #scheduled = false;

  constructor(deps: StoredDeps) {
    this.#deps = deps;
  }

  /** @throws as registerStored */
  async register(fields: RegisterFields, key: string): Promise<Registered> {
    if (!this.#deps.index.insertMany) return registerStored(this.#deps, fields, key);
    const examined = await examine(this.#deps, fields, key);
    if ('call' in examined) return examined;
    const inserted = await new Promise<CallRow | undefined>((resolve, reject) => {
      this.#queue.push({ row: examined.row, done: (call, err) => (err ? reject(err) : resolve(call)) });
      if (this.#queue.length >= BATCH) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
    return inserted ? { call: inserted, created: true } : lostRace(this.#deps, examined.row);
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (!batch.length) return;
    this.#deps.index.insertMany!(batch.map((b) => b.row)).then(
      (rows) => batch.forEach((b, i) => b.done(rows[i])),
      (err: unknown) => batch.forEach((b) => b.done(undefined, err)),
    );
  }
}
