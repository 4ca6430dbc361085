/**
 * Registering a recording: the bytes go to storage first and the index row second, so the index
 * never points at nothing. The SHA-256 and size are computed while the bytes stream through.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { CallExists, InvalidRequest } from './errors.js';
import { extensionForType, isMediaType, typeForName } from './media-types.js';
import { normalizeKey } from './keys.js';
import { CALL_SID_PATTERN, ORG_ID_PATTERN } from './schemas.js';
import { wavDurationMs } from './wav.js';
import type { CallRow } from './call-index.js';
import type { AppContext } from './context.js';

export interface RegisterInput {
  org: string;
  sid: string;
  to: string;
  from?: string;
  file: string;
  contentType?: string;
  startedAt?: string;
}

/**
 * @throws InvalidRequest (bad input, unreadable file), CallExists, StorageUnavailable
 */
export async function registerRecording(ctx: AppContext, input: RegisterInput): Promise<CallRow> {
  const problems = registrationProblems(input);
  if (problems.length) throw new InvalidRequest(problems.join('; '));
  if (ctx.index.get(input.sid)) throw new CallExists(input.sid);

  let head: Buffer;
  let size: number;
  try {
    const handle = await open(input.file, 'r');
    try {
      size = (await handle.stat()).size;
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new InvalidRequest(`cannot read ${input.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }

  const contentType = input.contentType ?? typeForName(input.file);
  // A suffix per registration: two racing registrations of one call_sid never share a key,
  // so the loser can delete its own bytes without touching the winner's.
  const unique = randomBytes(4).toString('hex');
  const key = normalizeKey(`${keyPrefix(ctx)}${input.org}/${input.sid}-${unique}.${extensionForType(contentType)}`);
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const meta = await ctx.storage.write(key, createReadStream(input.file).pipe(hashing), { contentType, size });
  try {
    return ctx.index.insert({
      call_sid: input.sid,
      org_id: input.org,
      to_number: input.to,
      from_number: input.from ?? null,
      started_at: input.startedAt ?? null,
      duration_ms: contentType === 'audio/wav' ? wavDurationMs(head, size) : null,
      storage_key: key,
      content_type: contentType,
      size_bytes: meta.size,
      sha256: hash.digest('hex'),
    });
  } catch (err) {
    // The row lost a race for this call_sid: remove the bytes only this registration wrote.
    await ctx.storage.delete(key).catch(() => undefined);
    throw err;
  }
}

/**
 * Where new recordings go inside the store. The local root is already the recordings directory
 * (./data/recordings), so local keys start at the organization; a bucket may hold other things,
 * so S3 and MinIO keys stay under `recordings/` (the prefix of docs/deploy.md's IAM policy).
 * Each row keeps the key it was written with: local recordings registered as
 * `recordings/{org}/…` before this still resolve where they are.
 */
function keyPrefix(ctx: AppContext): string {
  return ctx.storage.name === 'local' ? '' : 'recordings/';
}

/** What is wrong with the call's fields (the file aside), one message per problem. */
export function registrationProblems(input: Omit<RegisterInput, 'file'>): string[] {
  const problems: string[] = [];
  if (!new RegExp(CALL_SID_PATTERN).test(input.sid)) problems.push('--sid must be call_ followed by 1-64 letters or digits');
  if (!new RegExp(ORG_ID_PATTERN).test(input.org)) problems.push('--org must be 1-128 letters, digits or _ . : -');
  if (!input.to || input.to.length > 64) problems.push('--to must be a phone number or address of 1-64 characters');
  if (input.from !== undefined && input.from.length > 64) problems.push('--from must be at most 64 characters');
  if (input.contentType !== undefined && !isMediaType(input.contentType)) problems.push('--content-type must be a media type such as audio/wav');
  if (input.startedAt !== undefined && Number.isNaN(Date.parse(input.startedAt))) problems.push('--started-at must be an ISO 8601 time');
  return problems;
}
