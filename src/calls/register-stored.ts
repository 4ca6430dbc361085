/**
 * Registering a recording that is already in storage, in place (`recproxy scan`): nothing is
 * copied, written or deleted in the store. The object is read once, to check it is audio, hash
 * it and learn its duration; then the index row is written with that object's key.
 *
 * The same idempotency rules as registering from a stream (src/calls/register.ts): the same
 * call_sid with the same bytes answers the existing row (`created: false`), whatever key that row
 * has; other bytes, another organization's call or a deleted one are CALL_EXISTS.
 */
import { createHash } from 'node:crypto';
import { SNIFF_BYTES, sniffAudio } from '../audio-sniff.js';
import { CallExists, InvalidRequest } from '../core/errors.js';
import { typeForName } from '../core/media-types.js';
import { wavDurationMs } from '../wav.js';
import { InvalidFields, fieldProblems, type RegisterDeps, type RegisterFields, type Registered } from './register.js';

/** What the bytes say: their content type (the fields', else the key's extension) and, for WAV, the duration; undefined when they are not audio. */
function describeBytes(head: Buffer, size: number, contentType: string): { contentType: string; durationMs: number | null } | undefined {
  if (!sniffAudio(head)) return undefined;
  return { contentType, durationMs: contentType === 'audio/wav' ? wavDurationMs(head, size) : null };
}

/**
 * Indexes the object at `key` as the call `fields`.
 * @throws InvalidFields, InvalidRequest (not audio), CallExists, ObjectNotFound, StorageUnavailable
 */
export async function registerStored(deps: RegisterDeps, fields: RegisterFields, key: string): Promise<Registered> {
  const problems = fieldProblems(fields);
  if (problems.length) throw new InvalidFields(problems);
  const existing = await deps.index.get(fields.sid);
  if (existing && (existing.org_id !== fields.org || existing.deleted_at !== null)) throw new CallExists(fields.sid);

  const { meta, body } = await deps.storage.read(key);
  const hash = createHash('sha256');
  const head: Buffer[] = [];
  let headLength = 0;
  let size = 0;
  for await (const chunk of body) {
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
  try {
    const call = await deps.index.insert({
      call_sid: fields.sid,
      org_id: fields.org,
      to_number: fields.to,
      from_number: fields.from ?? null,
      started_at: fields.startedAt ?? null,
      duration_ms: said.durationMs,
      storage_key: key,
      content_type: said.contentType,
      size_bytes: size || meta.size,
      sha256,
    });
    return { call, created: true };
  } catch (err) {
    // Another registration of this call_sid won the race: the same bytes are "already". The
    // object is never deleted here: it was in the store before, and is not this code's to remove.
    if (err instanceof CallExists) {
      const winner = await deps.index.get(fields.sid);
      if (winner && winner.org_id === fields.org && winner.deleted_at === null && winner.sha256 === sha256) return { call: winner, created: false };
    }
    throw err;
  }
}
