/**
 * `calls add --file`: the recording's bytes from a file, opened safely, for the calls service to
 * register (src/calls/register.ts checks they are audio, stores and indexes them). Only a
 * regular file is opened, and not through a symbolic link unless asked: run as root, a link
 * must not turn /etc/shadow into a recording. The file is opened once; what was checked is what
 * is stored.
 */
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { InvalidRequest } from './core/errors.js';
import type { RecordingSource, RegisterFields, Registered } from './calls/register.js';

/** An opened recording file: its bytes as a source, and how to let go of it. */
export interface OpenedFile {
  source: RecordingSource;
  /** Stop reading and close the file. Safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Opens `file` (named as given in messages) and streams it from its start.
 * @throws InvalidRequest for a file that cannot be opened, a symbolic link (unless
 *         `followSymlinks`), or anything but a regular file
 */
export async function openRecordingFile(file: string, followSymlinks: boolean): Promise<OpenedFile> {
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
  const body = handle.createReadStream({ start: 0, autoClose: false });
  let closed: Promise<void> | undefined;
  return {
    source: { body, size: stats.size, name: file },
    close() {
      // No read may be left pending on the file when it closes.
      body.destroy();
      return (closed ??= handle.close());
    },
  };
}

/** What a non-regular file that open() accepts is: sockets cannot be opened. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a pipe';
  return 'a device';
}

/**
 * Registers the recording in `file` as the call `fields`: the file is opened once the service
 * has checked the fields and found the call new, and closed whatever happens.
 * @throws as openRecordingFile and CallsService.register
 */
export async function registerFile(
  calls: { register(fields: RegisterFields, source: () => Promise<RecordingSource>): Promise<Registered> },
  fields: RegisterFields,
  file: string,
  followSymlinks = false,
): Promise<Registered> {
  let opened: OpenedFile | undefined;
  try {
    return await calls.register(fields, async () => (opened = await openRecordingFile(file, followSymlinks)).source);
  } finally {
    await opened?.close();
  }
}
