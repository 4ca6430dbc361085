/**
 * The body of a local file read: a Readable over an open descriptor whose read size follows a
 * memory budget shared by every body being read at the time.
 *
 * Why not `fs.createReadStream`: its read size is fixed when the stream is made. Large reads
 * move bytes much faster (a 2 MB download over loopback: 64 KiB reads ~800/s, 1 MiB reads
 * ~1,200/s, bare node:http on the bench machine), but a fixed large size multiplies by the
 * number of open downloads (200 downloads × 1 MiB). Here each read asks the budget for its size
 * at that moment: `total / open bodies`, within [min, max]. With the defaults (8 MiB, 16 KiB,
 * 1 MiB) up to 8 downloads read 1 MiB at a time, 16 read 512 KiB, 128 read 64 KiB, and from 512
 * on every read is 16 KiB, so the read buffers in flight stay near `total` (or 16 KiB per download
 * beyond it). Measured (`BENCH_ONLY=download-2mb,memory-50mb-c200 npm run bench`): 16 concurrent
 * 2 MB downloads 790 → ~1,300–1,550/s; 200 concurrent 50 MB downloads unchanged at ~140 MiB RSS.
 * The floor was 64 KiB (an fs stream's read) until #13: 2,000 players at 16 KB/s each held one
 * 64 KiB chunk waiting in its socket (BENCHMARKS.md, "Listeners").
 *
 * The descriptor is closed synchronously, as it was opened (adapters/local.ts): closing a file
 * opened for reading does no I/O, and a thread-pool round trip for it cost more main-thread time
 * than the read itself in 64 KiB Range profiles (waking a pool thread on a busy 2-core machine).
 *
 * Reads follow the consumer (#13): nothing is read ahead (highWaterMark 0: a read starts only
 * when the consumer asks for bytes), and a read is sized by the consumer's pace: the bytes it
 * took over the time it took them (from each push to its next ask), both decayed over
 * PACE_DECAY_MS, so a player at 16 KB/s that reads its socket in 64 KiB bursts still averages
 * 16 KB/s; a read holds what it takes in PACE_MS, whole pages, from SLOW_MIN up to the budget's
 * size. At the budget's floor (many bodies open, each read the budget's `min`) with a `min`
 * above SLOW_MIN (the S3 sockets' budget, adapters/paced-agent.ts), a body also starts slow: its
 * reads are at most the bytes it has sent ÷ SLOW_START_DIVISOR (at least SLOW_MIN: 16, 16, 16,
 * 24, 36, 56, then 64 KiB for a fast consumer), because the kernel's socket buffers take a young
 * body's first chunks at once whatever the client's rate, and the chunk read when they fill
 * waits in the socket until the client takes it. Neither the pace nor the slow start can tell
 * which read that will be, so the default floor is SLOW_MIN itself. A body that fits the
 * budget's size or ONE_READ (a bounded Range, a small file) is one read. Measured
 * (`BENCH_ONLY=listeners npm run bench`, 2,000 players at 16 KB/s, BENCHMARKS.md): RSS above
 * idle ~190 KB per listener with two 64 KiB chunks (one queued, one read ahead), ~118 KB with
 * the pace of one chunk to the next, ~98 KB with the pace and a 64 KiB floor, 76-80 KB with the
 * 16 KiB floor (bare node:http + createReadStream: ~170-185 KB).
 *
 * Memory per body: the chunk the socket has not yet handed to the kernel, and a read in flight.
 */
import { closeSync, read } from 'node:fs';
import { Readable } from 'node:stream';
import { StorageUnavailable } from '../src/core/errors.js';

export interface ReadBudgetOptions {
  /** Bytes shared by all open bodies' reads (default 8 MiB). */
  total?: number;
  /**
   * Smallest read (default 16 KiB, SLOW_MIN): past `total / min` open bodies (512 with the
   * defaults) each body costs its own read of this size. Each slow listener holds one chunk
   * waiting in its socket (the one read when the kernel's socket buffers filled) for as long as
   * its client takes to drain them, so this is what a slow listener costs at most.
   */
  min?: number;
  /** Largest read (default 1 MiB). */
  max?: number;
}

const PAGE = 4096;
/** The smallest read of a slow consumer's body, and the first read of a body at the budget's floor. */
export const SLOW_MIN = 16 * 1024;
/** A read holds what the consumer takes in this long (at its averaged pace). */
export const PACE_MS = 250;
/** The consumer's pace is its bytes over its time, both decayed by e^(-t / PACE_DECAY_MS). */
export const PACE_DECAY_MS = 2000;
/** At the budget's floor, a read is at most the bytes the body has sent ÷ this (and at least SLOW_MIN). */
export const SLOW_START_DIVISOR = 2;

/**
 * A body of at most this many bytes (a bounded Range, a small file) is one read, whatever the
 * budget's share: a player's 64 KiB Range costs one read as it did with the 64 KiB floor.
 */
export const ONE_READ = 64 * 1024;

/** `bytes` rounded up to whole pages. */
const pages = (bytes: number) => Math.ceil(bytes / PAGE) * PAGE;

/** A consumer's pace: the bytes it took and the time it took them in (ms), both decayed. */
export interface Pace {
  bytes: number;
  time: number;
}

/** Folds one chunk of `size` bytes that the consumer took in `waited` ms into `pace`. */
export function foldPace(pace: Pace, size: number, waited: number): void {
  const keep = Math.exp(-waited / PACE_DECAY_MS);
  pace.bytes = pace.bytes * keep + size;
  pace.time = pace.time * keep + waited;
}

/**
 * The next read's size, at most `left` (the bytes the body still has to send): all of `left`
 * when the body has sent nothing and `left` fits the budget's size or ONE_READ (a bounded Range,
 * a small file: one read); else the budget's size, capped at the budget's floor by the slow start (the
 * bytes `sent` so far ÷ SLOW_START_DIVISOR, at least SLOW_MIN), and at most what the consumer
 * takes in PACE_MS at its averaged `pace` (at least SLOW_MIN) once it has one.
 */
export function readSize(left: number, sent: number, budget: Pick<ReadBudget, 'chunk' | 'atFloor'>, pace: Pace): number {
  const size = budget.chunk;
  if (sent === 0 && left <= Math.max(size, ONE_READ)) return left;
  let cap = size;
  if (budget.atFloor) cap = Math.min(cap, Math.max(SLOW_MIN, pages(sent / SLOW_START_DIVISOR)));
  if (pace.time > 0) cap = Math.min(cap, Math.max(SLOW_MIN, pages((pace.bytes * PACE_MS) / pace.time)));
  return Math.min(cap, left);
}

/**
 * One body's consumer as its read sizes see it: the bytes sent, the chunk handed on and not yet
 * asked past, and the averaged pace. Used by FileBody, by the MinIO sockets' pacer
 * (adapters/paced-agent.ts) and by the S3 GETs (adapters/raw-get.ts), so all size reads by one rule.
 */
export class ConsumerPace {
  #sent = 0;
  /** When the last chunk was handed on (ms, performance.now()) and its size, not yet in the pace. */
  #pushedAt = 0;
  #pushedSize = 0;
  readonly #pace: Pace = { bytes: 0, time: 0 };

  /** A chunk of `size` bytes was handed to the consumer. */
  pushed(size: number): void {
    this.#sent += size;
    this.#pushedAt = performance.now();
    this.#pushedSize = size;
  }

  /** The consumer asks again: it took the last chunk in the time since it was handed on. */
  asked(): void {
    if (this.#pushedSize === 0) return;
    foldPace(this.#pace, this.#pushedSize, Math.max(performance.now() - this.#pushedAt, 0.001));
    this.#pushedSize = 0;
  }

  /** The next read's size (`readSize`), at most `left`. */
  readSize(left: number, budget: Pick<ReadBudget, 'chunk' | 'atFloor'>): number {
    return readSize(left, this.#sent, budget, this.#pace);
  }
}

export class ReadBudget {
  readonly total: number;
  readonly min: number;
  readonly max: number;
  #open = 0;

  constructor(options: ReadBudgetOptions = {}) {
    this.min = options.min ?? SLOW_MIN;
    this.max = Math.max(this.min, options.max ?? 1024 * 1024);
    this.total = options.total ?? 8 * 1024 * 1024;
  }

  /** Bodies open now. */
  get open(): number {
    return this.#open;
  }

  /** The read size for a body now: the budget's share per open body, whole pages, in [min, max]. */
  get chunk(): number {
    const share = Math.floor(this.total / Math.max(1, this.#open) / PAGE) * PAGE;
    return Math.min(this.max, Math.max(this.min, share));
  }

  /** True when the share per open body is down to `min`: from then on each body costs its own read, not a share. */
  get atFloor(): boolean {
    return this.chunk <= this.min;
  }

  /** Count one more open body; the returned function (idempotent) counts it out. */
  enter(): () => void {
    this.#open++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#open--;
    };
  }
}

export interface FileBodyOptions {
  /** First byte (default 0). */
  start?: number;
  /** Last byte, inclusive (default: to the end of the file). */
  end?: number;
  budget: ReadBudget;
}

/**
 * Streams bytes `start`..`end` of the open descriptor `fd`, which it owns: the descriptor is
 * closed when the body ends, fails or is destroyed. A read error (or a file that got shorter
 * than `end`) fails the body with StorageUnavailable.
 */
export class FileBody extends Readable {
  readonly #fd: number;
  readonly #end: number;
  readonly #budget: ReadBudget;
  readonly #leave: () => void;
  #position: number;
  #reading = false;
  readonly #consumer = new ConsumerPace();
  /** A destroy that waits for the read in flight: closing under it could let the number be reused. */
  #closeAfterRead: (() => void) | undefined;

  constructor(fd: number, options: FileBodyOptions) {
    super({ highWaterMark: 0 });
    this.#fd = fd;
    this.#position = options.start ?? 0;
    this.#end = options.end ?? Infinity;
    this.#budget = options.budget;
    this.#leave = options.budget.enter();
  }

  override _read(): void {
    if (this.#reading) return;
    const left = this.#end - this.#position + 1;
    if (left <= 0) {
      this.push(null);
      return;
    }
    this.#consumer.asked();
    const wanted = this.#consumer.readSize(left, this.#budget);
    this.#reading = true;
    const buffer = Buffer.allocUnsafeSlow(wanted);
    read(this.#fd, buffer, 0, wanted, this.#position, (err, bytesRead) => {
      this.#reading = false;
      if (this.#closeAfterRead) return this.#closeAfterRead();
      if (this.destroyed) return;
      if (err) {
        this.destroy(new StorageUnavailable(`read failed: ${err.message}`, { cause: err }));
        return;
      }
      if (bytesRead === 0) {
        // End of file: fine when reading to the end, a failure when bytes were promised.
        if (this.#end === Infinity) this.push(null);
        else this.destroy(new StorageUnavailable(`the file ended ${this.#end - this.#position + 1} bytes early`));
        return;
      }
      this.#position += bytesRead;
      this.#consumer.pushed(bytesRead);
      this.push(bytesRead === wanted ? buffer : buffer.subarray(0, bytesRead));
    });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#leave();
    const closeFd = () => {
      let closeErr: unknown = null;
      try {
        closeSync(this.#fd);
      } catch (e) {
        closeErr = e;
      }
      callback(err ?? (closeErr as Error | null));
    };
    if (this.#reading) this.#closeAfterRead = closeFd;
    else closeFd();
  }
}

/**
 * Bytes `start`..`end` of `fd` in one Buffer and one read (another only if the kernel returns
 * fewer bytes, which a regular file does at its end), then `fd` closed (synchronously, as
 * FileBody closes it): the body of a small bounded Range (at most ONE_READ), sent in one write
 * instead of a stream's pipe (BENCHMARKS.md, "64 KiB ranges as one Buffer", #13).
 * @throws (the Promise) StorageUnavailable when the read fails or the file ends early
 */
export function readOnce(fd: number, start: number, end: number): Promise<Buffer> {
  const length = end - start + 1;
  const buffer = Buffer.allocUnsafeSlow(length);
  return new Promise((resolve, reject) => {
    const finish = (err?: Error) => {
      try {
        closeSync(fd);
      } catch {
        // a descriptor opened for reading: closing it does no I/O, and the bytes are read
      }
      if (err) reject(err);
      else resolve(buffer);
    };
    const readFrom = (got: number) =>
      read(fd, buffer, got, length - got, start + got, (err, bytesRead) => {
        if (err) finish(new StorageUnavailable(`read failed: ${err.message}`, { cause: err }));
        else if (bytesRead === 0) finish(new StorageUnavailable(`the file ended ${length - got} bytes early`));
        else if (got + bytesRead < length) readFrom(got + bytesRead);
        else finish();
      });
    readFrom(0);
  });
}
