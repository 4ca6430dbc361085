/**
 * Registering a recording: the bytes go to storage first and the index row second, so the index
 * never points at nothing. The SHA-256 and size are computed while the bytes stream through.
 * Only a regular file whose header is audio (src/audio-sniff.ts) is taken, and not through a
 * symbolic link unless asked: run as root, a link must not turn /etc/shadow into a recording.
 * The file is opened once; what was checked is what is stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { SNIFF_BYTES, sniffAudio } from './audio-sniff.js';
import { CallExists, InvalidRequest } from './core/errors.js';
import { extensionForType, isMediaType, typeForName } from './core/media-types.js';
import { normalizeKey } from './core/keys.js';
import { isCallSid, isOrgId } from './core/ids.js';
import { wavDurationMs } from './wav.js';
import type { CallRow } from './stores/types.js';
import type { AppContext } from './context.js';

export interface RegisterInput {
  org: string;
  sid: string;
  to: string;
  from?: string;
  file: string;
  contentType?: string;
  startedAt?: string;
  /** Read `file` through a symbolic link (refused by default). */
  followSymlinks?: boolean;
}

/**
 * @throws InvalidRequest (bad input, unreadable file), CallExists, StorageUnavailable
 */
export async function registerRecording(ctx: AppContext, input: RegisterInput): Promise<CallRow> {
  const problems = registrationProblems(input);
  if (problems.length) throw new InvalidRequest(problems.join('; '));
  if (await ctx.index.get(input.sid)) throw new CallExists(input.sid);

  const { handle, size } = await openRecording(input.file, input.followSymlinks ?? false);
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    const head = buffer.subarray(0, bytesRead);
    if (!sniffAudio(head)) {
      throw new InvalidRequest(`${input.file} is not audio: no WAV, MP3, Ogg, FLAC, GSM, M4A, WebM, AMR, AIFF or AU header`);
    }
    return await store(ctx, input, handle, head, size);
  } finally {
    await handle.close();
  }
}

/** @throws InvalidRequest for a file that cannot be opened, a symbolic link, or not a regular file */
async function openRecording(file: string, followSymlinks: boolean): Promise<{ handle: FileHandle; size: number }> {
  // O_NONBLOCK: opening a FIFO must not wait for a writer before it is refused.
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (followSymlinks ? 0 : constants.O_NOFOLLOW);
  let handle: FileHandle;
  try {
    handle = await open(file, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' && !followSymlinks) {
      throw new InvalidRequest(`${file} is a symbolic link; pass --follow-symlinks to read what it points to`);
    }
    throw new InvalidRequest(`cannot read ${file}: ${code ?? (err as Error).message}`);
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    throw new InvalidRequest(`${file} is not a regular file (${kindOf(stats)})`);
  }
  return { handle, size: stats.size };
}

/** What a non-regular file that open() accepts is: sockets cannot be opened. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a pipe';
  return 'a device';
}

async function store(ctx: AppContext, input: RegisterInput, handle: FileHandle, head: Buffer, size: number): Promise<CallRow> {
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
  const bytes = handle.createReadStream({ start: 0, autoClose: false });
  const body = bytes.pipe(hashing);
  bytes.once('error', (err) => body.destroy(err));
  let meta;
  try {
    meta = await ctx.storage.write(key, body, { contentType, size });
  } finally {
    // The caller closes the file: no read may be left pending on it.
    bytes.destroy();
  }
  try {
    return await ctx.index.insert({
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
  if (!isCallSid(input.sid)) problems.push('--sid must be call_ followed by 1-64 letters or digits');
  if (!isOrgId(input.org)) problems.push('--org must be 1-128 letters, digits or _ . : -');
  if (!input.to || input.to.length > 64) problems.push('--to must be a phone number or address of 1-64 characters');
  if (input.from !== undefined && input.from.length > 64) problems.push('--from must be at most 64 characters');
  if (input.contentType !== undefined && !isMediaType(input.contentType)) problems.push('--content-type must be a media type such as audio/wav');
  if (input.startedAt !== undefined && Number.isNaN(Date.parse(input.startedAt))) problems.push('--started-at must be an ISO 8601 time');
  return problems;
}
