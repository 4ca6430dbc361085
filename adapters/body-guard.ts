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
  /** A chunk waits for the consumer: the backend is paused on purpose, its silence is not a stall. */
  let held = false;
  const guard = new Readable({
    highWaterMark: 0,
    read: () => {
      pace?.asked();
      held = false;
      source.resume();
    },
  });
  let lastData = performance.now();
  const timer = setTimeout(function idle() {
    if (held) return void timer.refresh(); // consumer-bound
    // Timers run before the event loop polls for I/O: after a stall of this process (a long GC, a
    // starved CPU) data may be waiting unread. Let one poll deliver it before blaming the backend.
    setImmediate(() => {
      if (guard.destroyed || source.readableEnded) return;
      // Not idle long enough by this clock, or a chunk now waits for the consumer: watch again.
      // The timer's clock is the event loop's, read at the start of an iteration, so it can fire
      // before `idleMs` have passed here; returning without re-arming left the body waiting forever.
      if (held || performance.now() - lastData < idleMs) return void timer.refresh();
      source.destroy(Object.assign(new Error(`no data from ${backend} for ${idleMs} ms`), { code: 'ETIMEDOUT' }));
    });
  }, idleMs);
  const fail = (err: Error) => {
    clearTimeout(timer);
    if (signal?.aborted) guard.destroy(signal.reason instanceof Error ? signal.reason : err);
    else guard.destroy(new StorageUnavailable(`read failed: ${err.message}`, { cause: err }));
  };
  const onAbort = () => source.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  source.on('data', (chunk: Buffer) => {
    lastData = performance.now();
    timer.refresh();
    pace?.pushed(chunk.length);
    // Also when the chunk went straight to a consumer that stopped on it (a pipe whose destination
    // is full pauses the guard): the backend's next chunk would only wait here.
    if (!guard.push(chunk) || guard.readableFlowing !== true) {
      held = true;
      source.pause();
      pace?.stop();
    }
  });
  source.once('end', () => {
    clearTimeout(timer);
    guard.push(null);
  });
  source.once('error', fail);
  source.once('close', () => {
    if (!source.readableEnded) fail(new Error('the backend stream closed early'));
  });
  guard.once('close', () => {
    clearTimeout(timer);
    pace?.release();
    signal?.removeEventListener('abort', onAbort);
    if (!source.destroyed) source.destroy();
  });
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return guard;
}
