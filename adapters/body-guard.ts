/** The read-body guard shared by the network adapters (s3, minio). */
import { Readable } from 'node:stream';
import { StorageUnavailable } from '../src/core/errors.js';
import type { PaceReport } from './paced-agent.js';

/**
 * Guard a backend body: backend errors become StorageUnavailable; the caller's abort destroys
 * the backend stream (closing its socket) and the body errors with the abort reason; no data
 * for `idleMs` while the consumer waits fails the body. Backpressure time is not counted.
 * (The SDK's socket timeout is not used: it would kill a body whose consumer is just slow.)
 *
 * Nothing is held for a slow consumer beyond the chunk it has not taken (#13): the guard buffers
 * no more than one chunk (highWaterMark 0) and pauses the backend stream until the consumer asks
 * again, so the backend's socket stops being read and TCP backpressure reaches the backend. It
 * used to buffer 256 KiB per body: a player at 16 KB/s held ~480 KB of RSS in S3 proxy mode.
 *
 * `pace`, when the source is read from a PacedAgent's socket (adapters/paced-agent.ts): the guard
 * tells it each chunk it hands on, each time its consumer asks again (so the socket's reads follow
 * the consumer's pace) and when the consumer stops (the socket stops being read); it is released
 * when the body closes.
 */
export function guardBody(source: Readable, backend: string, idleMs: number, signal?: AbortSignal, pace?: PaceReport): Readable {
  return new GuardedBody(source, backend, idleMs, signal, pace);
}

/** The guarded body's own state on its source, for the shared listeners below. */
const kGuard = Symbol('recproxy.guard');
type Guarded = Readable & { [kGuard]?: GuardedBody };

/**
 * One guarded body. A listener runs for each of thousands of slow listeners' bodies at once (#13:
 * BENCHMARKS.md, "S3 listeners"), so what a body holds is its fields: the source's listeners are
 * shared functions that find the body on the source, the abort listener is the body itself
 * (`handleEvent`), the idle timer calls a shared function with the body as its argument. (A
 * closure per listener, with `once`'s wrapper for each, held ~1 KB per body.)
 */
class GuardedBody extends Readable {
  readonly #source: Guarded;
  readonly #backend: string;
  readonly #idleMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #pace: PaceReport | undefined;
  readonly #timer: NodeJS.Timeout;
  /** A chunk waits for the consumer: the backend is paused on purpose, its silence is not a stall. */
  #held = false;
  #lastData = performance.now();

  constructor(source: Readable, backend: string, idleMs: number, signal: AbortSignal | undefined, pace: PaceReport | undefined) {
    super({ highWaterMark: 0 });
    this.#source = source;
    this.#backend = backend;
    this.#idleMs = idleMs;
    this.#signal = signal;
    this.#pace = pace;
    (source as Guarded)[kGuard] = this;
    this.#timer = setTimeout(onIdle, idleMs, this);
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    source.on('close', onSourceClose);
    if (signal?.aborted) this.handleEvent();
    else signal?.addEventListener('abort', this, { once: true });
  }

  override _read(): void {
    this.#pace?.asked();
    this.#held = false;
    this.#source.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    this.#pace?.release();
    this.#signal?.removeEventListener('abort', this);
    if (!this.#source.destroyed) this.#source.destroy();
    callback(err);
  }

  /** The caller's abort (an EventListener object: no closure per body). */
  handleEvent(): void {
    const reason: unknown = this.#signal?.reason;
    this.#source.destroy(reason instanceof Error ? reason : new Error('aborted'));
  }

  /** A chunk from the backend: hand it on, and pause the backend if the consumer stops. */
  sourceData(chunk: Buffer): void {
    this.#lastData = performance.now();
    this.#timer.refresh();
    this.#pace?.pushed(chunk.length);
    // Also when the chunk went straight to a consumer that stopped on it (a pipe whose destination
    // is full pauses the guard): the backend's next chunk would only wait here.
    if (!this.push(chunk) || this.readableFlowing !== true) {
      this.#held = true;
      this.#source.pause();
      this.#pace?.stop();
    }
  }

  sourceEnd(): void {
    clearTimeout(this.#timer);
    this.push(null);
  }

  sourceFailed(err: Error): void {
    clearTimeout(this.#timer);
    if (this.#signal?.aborted) this.destroy(this.#signal.reason instanceof Error ? this.#signal.reason : err);
    else this.destroy(new StorageUnavailable(`read failed: ${err.message}`, { cause: err }));
  }

  /** The idle timer fired. */
  idleFired(): void {
    if (this.#held) return void this.#timer.refresh(); // consumer-bound
    // Timers run before the event loop polls for I/O: after a stall of this process (a long GC, a
    // starved CPU) data may be waiting unread. Let one poll deliver it before blaming the backend.
    setImmediate(onIdleChecked, this);
  }

  /** One poll after the idle timer fired. */
  idleChecked(): void {
    const source = this.#source;
    if (this.destroyed || source.readableEnded) return;
    // Not idle long enough by this clock, or a chunk now waits for the consumer: watch again.
    // The timer's clock is the event loop's, read at the start of an iteration, so it can fire
    // before `idleMs` have passed here; returning without re-arming left the body waiting forever.
    if (this.#held || performance.now() - this.#lastData < this.#idleMs) return void this.#timer.refresh();
    source.destroy(Object.assign(new Error(`no data from ${this.#backend} for ${this.#idleMs} ms`), { code: 'ETIMEDOUT' }));
  }
}

// The source's listeners and the timers' callbacks: one function each for every body.
function onData(this: Guarded, chunk: Buffer): void {
  this[kGuard]!.sourceData(chunk);
}
function onEnd(this: Guarded): void {
  this[kGuard]!.sourceEnd();
}
function onError(this: Guarded, err: Error): void {
  this[kGuard]!.sourceFailed(err);
}
function onSourceClose(this: Guarded): void {
  if (!this.readableEnded) this[kGuard]!.sourceFailed(new Error('the backend stream closed early'));
}
function onIdle(guard: GuardedBody): void {
  guard.idleFired();
}
function onIdleChecked(guard: GuardedBody): void {
  guard.idleChecked();
}
