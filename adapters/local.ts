/**
 * Local filesystem adapter. Objects are files under `root`. It hands out no URLs of its own
 * (no presigned-URL capability): browsers reach its bytes through the daemon's `/media/{token}`
 * URLs. A key can never name a file outside the root: the resolved path, and the real path
 * behind any symlink, must lie inside it (open() then remembers the file it found, and opens
 * only that same file again without the check: `#openFound`).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, createWriteStream, fstat, fstatSync, open, openSync, realpathSync, statSync } from 'node:fs';
import { access, lstat, mkdir, readdir, realpath, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { InvalidKey, ObjectNotFound, StorageUnavailable } from '../src/core/errors.js';
import { normalizePrefix } from '../src/core/keys.js';
import { typeForName } from '../src/core/media-types.js';
import { FileBody, ONE_READ, ReadBudget, readOnce, type ReadBudgetOptions } from './file-body.js';
import type {
  ByteRange, ListedObject, ObjectMeta, OpenedObject, ReadOptions, ReadResult, StorageAdapter, WriteOptions,
} from '../src/core/storage.js';

export interface LocalAdapterOptions {
  root: string;
  /** Read sizes: a budget shared by the open downloads (see adapters/file-body.ts). */
  readBudget?: ReadBudgetOptions;
}

const openFd = promisify(open);
const fstatFd = promisify(fstat);
/** Nothing readable at the key (ENXIO: a socket, which open refuses). */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENXIO']);
/**
 * How objects are opened for reading. O_NONBLOCK: opening a FIFO (or a device) left in the
 * tree would otherwise wait until something opens its other end, holding the event loop
 * (open) or a thread-pool thread (read) for as long; the fstat after it then refuses anything
 * that is not a regular file. For regular files the flag changes nothing, and costs no call.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;
/** open()'s remembered files (`#found`): past this many it forgets them all and starts again. */
const FOUND_MAX = 4096;
/** A file's identity as open() remembers it: device, inode, and ctime (any rename, link, chmod or write changes it). */
const identityOf = (info: { dev: number; ino: number; ctimeMs: number }) => `${info.dev}:${info.ino}:${info.ctimeMs}`;
/** The temp file `write` renames into place (`.{16 hex}.part`): a write in flight, never listed. */
const TEMP_FILE = /^\.[0-9a-f]{16}\.part$/;

export class LocalAdapter implements StorageAdapter {
  readonly name = 'local';
  /** The root is the recordings directory itself (./data/recordings): keys start at the organization. */
  readonly recordingsPrefix = '';
  readonly presignedUrls = false;
  readonly #root: string;
  readonly #budget: ReadBudget;
  #realRoot: Promise<string> | undefined;
  /** Files open() found inside the root, by their lexical path: their identity (identityOf). */
  #found = new Map<string, string>();

  constructor(options: LocalAdapterOptions) {
    this.#root = resolve(options.root);
    this.#budget = new ReadBudget(options.readBudget);
  }

  /**
   * @throws ObjectNotFound (missing, not a regular file — a directory, FIFO, socket or device —
   *         or a dangling link), InvalidKey (outside the root),
   *         StorageUnavailable (any other filesystem failure)
   */
  async stat(key: string): Promise<ObjectMeta> {
    // Synchronous, as open() is, and for the same reason: this runs for every stream URL issued
    // that is not reused; with 1,000,000 calls the two thread-pool round trips were a third of
    // the daemon's CPU time (growth scenario profile).
    const real = await this.#existing(key);
    try {
      const info = statSync(real);
      if (!info.isFile()) throw new ObjectNotFound(key);
      return metaOf(key, info);
    } catch (err) {
      throw mapError(err, key);
    }
  }

  /** @throws as `stat`; the body errors with StorageUnavailable if a read fails mid-way */
  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    const path = await this.#existing(key);
    let fd: number;
    try {
      fd = await openFd(path, READ_FLAGS);
    } catch (err) {
      throw mapError(err, key);
    }
    try {
      const info = await fstatFd(fd);
      if (!info.isFile()) throw new ObjectNotFound(key);
      const meta = metaOf(key, info);
      const body = this.#body(fd, meta, options);
      abortWith(body, options.signal);
      return { meta, body };
    } catch (err) {
      closeSync(fd);
      throw mapError(err, key);
    }
  }

  /**
   * The serving fast path: one real-path check, one open, one fstat, and the bytes then stream
   * from that descriptor, so they are the file the metadata describes. The three metadata calls
   * are synchronous (as nginx makes them): on a local disk they take microseconds from the
   * kernel's caches, where three thread-pool round trips cost more than the work. Reads of the
   * data itself stay asynchronous.
   * @throws ObjectNotFound, InvalidKey (outside the root), StorageUnavailable
   */
  async open(key: string): Promise<OpenedObject> {
    const path = this.#inside(key);
    const again = this.#openFound(path, key);
    if (again) return again;
    const real = await this.#existing(key);
    let fd: number | undefined;
    let meta: ObjectMeta;
    try {
      fd = openSync(real, READ_FLAGS);
      const info = fstatSync(fd);
      if (!info.isFile()) throw new ObjectNotFound(key);
      meta = metaOf(key, info);
      if (this.#found.size >= FOUND_MAX) this.#found.clear();
      this.#found.set(path, identityOf(info));
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      throw mapError(err, key);
    }
    return this.#opened(fd, meta);
  }

  /**
   * A file open() found inside the root before, opened again without the real-path check (one
   * `realpath` is a `readlink` per path component: ~25 µs, 8% of a 64 KiB Range's CPU in the bench):
   * the lexical path is opened (O_NOFOLLOW: a file replaced by a link is not followed) and kept
   * only if its descriptor is the same file, unchanged: same device and inode, same ctime (a
   * rename, link, chmod or write changes it). So it serves that file's bytes or nothing: a path
   * that now leads elsewhere (a directory replaced by a link, a new file) reaches another inode
   * and gets the full check. (A directory above it moved out of the root and linked back keeps
   * serving the file it held, unchanged since it was found inside, never another one.)
   * @returns undefined when the path is not remembered or no longer leads to that file
   */
  #openFound(path: string, key: string): OpenedObject | undefined {
    const known = this.#found.get(path);
    if (known === undefined) return undefined;
    let fd: number | undefined;
    try {
      fd = openSync(path, READ_FLAGS | constants.O_NOFOLLOW);
      const info = fstatSync(fd);
      if (identityOf(info) === known && info.isFile()) return this.#opened(fd, metaOf(key, info));
    } catch {
      // missing, a link, unreadable: the full check below says which
    }
    if (fd !== undefined) closeSync(fd);
    this.#found.delete(path);
    return undefined;
  }

  /** The OpenedObject of a descriptor open() vetted: its body, or its release unread. */
  #opened(handle: number, meta: ObjectMeta): OpenedObject {
    let released = false;
    return {
      meta,
      read: (options: ReadOptions = {}) => {
        if (released) throw new Error('read after close');
        released = true;
        const body = this.#body(handle, meta, options);
        abortWith(body, options.signal);
        return body;
      },
      bytes: (range?: ByteRange) => {
        const { start, end } = range ?? { start: 0, end: meta.size - 1 };
        if (released || end - start + 1 > ONE_READ || end < start) return undefined;
        released = true;
        return readOnce(handle, start, end);
      },
      close: () => {
        if (released) return;
        released = true;
        closeSync(handle);
      },
    };
  }

  /**
   * Writes to a temporary file beside the target, then renames it into place.
   * @throws InvalidKey (outside the root), StorageUnavailable (disk full, permissions, body error)
   */
  async write(key: string, body: Readable | Buffer, options: WriteOptions): Promise<ObjectMeta> {
    const path = this.#inside(key);
    const dir = dirname(path);
    const tmp = join(dir, `.${randomBytes(8).toString('hex')}.part`);
    try {
      await mkdir(dir, { recursive: true });
      const realDir = await realpath(dir);
      if (!isDirWithin(realDir, await this.#rootReal())) throw new InvalidKey(`${key} leaves the storage root`);
      await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, createWriteStream(tmp, { flags: 'wx' }));
      const written = await stat(tmp);
      if (options.size !== undefined && written.size !== options.size) {
        throw new Error(`expected ${options.size} bytes, got ${written.size}`);
      }
      await rename(tmp, path);
      return { ...metaOf(key, written), contentType: options.contentType };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if ((err as { code?: string }).code === 'INVALID_STORAGE_KEY') throw err;
      throw new StorageUnavailable(`cannot write ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** @throws InvalidKey, StorageUnavailable; a missing key is not an error */
  /**
   * The root is made when missing (as the first write would make it), then must be a readable,
   * writable directory.
   * @throws StorageUnavailable naming the root and the reason
   */
  async probe(): Promise<void> {
    try {
      await mkdir(this.#root, { recursive: true });
      if (!(await stat(this.#root)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      await access(this.#root, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new StorageUnavailable(`local root ${this.#root} is not a readable, writable directory (${code})`, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#inside(key);
    try {
      const real = await realpath(dirname(path));
      if (!isDirWithin(real, await this.#rootReal())) throw new InvalidKey(`${key} leaves the storage root`);
      await unlink(path);
    } catch (err) {
      if (MISSING.has((err as NodeJS.ErrnoException).code ?? '')) return;
      throw mapError(err, key);
    }
  }

  /**
   * A walk of the directories under the root that can hold keys starting with `prefix`, one
   * directory read at a time as the caller iterates. Directories are entered only as what they
   * are (never through a symbolic link), so the walk stays inside the root and meets no cycle;
   * a symbolic link to a file is listed when its target lies inside the root (as `stat` serves
   * it), with the target's size and mtime. Skipped: the temp files of writes in flight, and
   * anything that is not a regular file (FIFOs, sockets, devices: `stat` refuses them too).
   * A directory or file removed while the walk runs is passed over.
   * @throws InvalidKey (prefix), StorageUnavailable (the root or a directory cannot be read)
   */
  async *list(prefix: string): AsyncGenerator<ListedObject> {
    const wanted = normalizePrefix(prefix);
    let root: string;
    try {
      root = await this.#rootReal();
    } catch (err) {
      this.#realRoot = undefined; // a root that appears later is looked up again
      throw new StorageUnavailable(`cannot open the storage root: ${(err as Error).message}`, { cause: err });
    }
    const pending = [''];
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      let entries;
      try {
        entries = await readdir(join(root, dir), { withFileTypes: true });
      } catch (err) {
        if (dir !== '' && MISSING.has((err as NodeJS.ErrnoException).code ?? '')) continue;
        throw new StorageUnavailable(`cannot list ${dir || 'the storage root'}: ${(err as Error).message}`, { cause: err });
      }
      entries.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0)); // popped last first: a stable order
      const files: [key: string, link: boolean][] = [];
      for (const entry of entries) {
        const key = dir + entry.name;
        if (entry.isDirectory()) {
          const sub = `${key}/`;
          if (sub.startsWith(wanted) || wanted.startsWith(sub)) pending.push(sub);
        } else if ((entry.isFile() || entry.isSymbolicLink()) && key.startsWith(wanted) && !TEMP_FILE.test(entry.name)) {
          files.push([key, entry.isSymbolicLink()]);
        }
      }
      for (const [key, link] of files.reverse()) {
        const found = await this.#listed(key, root, link);
        if (found) yield found;
      }
    }
  }

  /**
   * `key` as listed, or undefined when it is gone, not a regular file, or a link out of the
   * root. Only a link needs its real path: the walk's directories are real ones inside the root.
   */
  async #listed(key: string, root: string, link: boolean): Promise<ListedObject | undefined> {
    const path = join(root, key);
    try {
      const real = link ? await realpath(path) : path;
      if (!isWithin(real, root)) return undefined;
      // lstat for what was not a link: one swapped for a link since the directory was read is skipped.
      const info = link ? await stat(real) : await lstat(path);
      return info.isFile() ? { key, size: info.size, lastModified: info.mtime } : undefined;
    } catch (err) {
      if (MISSING.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw new StorageUnavailable(`cannot list ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The bytes of `range`, or of the whole object as `meta` sized it: a file that grew since is
   * not sent past the Content-Length already promised; one that shrank fails the body.
   */
  #body(fd: number, meta: ObjectMeta, options: ReadOptions): FileBody {
    const { start, end } = options.range ?? { start: 0, end: meta.size - 1 };
    return new FileBody(fd, { start, end, budget: this.#budget });
  }

  #rootReal(): Promise<string> {
    this.#realRoot ??= mkdir(this.#root, { recursive: true }).then(() => realpath(this.#root));
    return this.#realRoot;
  }

  /** The lexical path of `key`, refused if it leaves the root. */
  #inside(key: string): string {
    if (key.includes('\0')) throw new InvalidKey('NUL in key');
    const path = resolve(this.#root, key);
    if (!isWithin(path, this.#root) || path === this.#root) throw new InvalidKey(`${key} leaves the storage root`);
    return path;
  }

  /** The real path of an existing `key`, refused if it (or a link on the way) leaves the root. */
  async #existing(key: string): Promise<string> {
    const path = this.#inside(key);
    const root = await this.#rootReal();
    let real: string;
    try {
      real = realpathSync.native(path); // synchronous: see open()
    } catch (err) {
      throw mapError(err, key);
    }
    if (!isWithin(real, root)) throw new InvalidKey(`${key} leaves the storage root`);
    return real;
  }
}

/** Destroys `body` when `signal` aborts (at once if it already has). */
function abortWith(body: Readable, signal: AbortSignal | undefined): void {
  if (!signal) return;
  const abort = () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', abort));
}

/** A directory that is the root itself or lies inside it. */
function isDirWithin(dir: string, root: string): boolean {
  return dir === root || isWithin(dir, root);
}

function isWithin(path: string, root: string): boolean {
  return path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function metaOf(key: string, info: { size: number; mtimeMs: number; mtime: Date; ino: number }): ObjectMeta {
  return {
    size: info.size,
    etag: `"${info.ino.toString(36)}-${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`,
    lastModified: info.mtime,
    contentType: typeForName(key),
  };
}

function mapError(err: unknown, key: string): Error {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'OBJECT_NOT_FOUND' || code === 'INVALID_STORAGE_KEY' || code === 'STORAGE_UNAVAILABLE') return err as Error;
  if (MISSING.has(code)) return new ObjectNotFound(key, { cause: err });
  return new StorageUnavailable(`${code || 'error'} on ${key}`, { cause: err });
}
