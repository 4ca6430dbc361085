/**
 * Sends a stored object's bytes for every route that serves bytes (download, media), for every
 * adapter: the request's Range and conditionals are parsed once (conditions.ts), the decision
 * comes from decide.ts, only the decided bytes are read from storage, the body streams with
 * backpressure, and a client that goes away aborts the backend read.
 *
 * `open` gets a hint of the bytes the request will probably be served, so a network adapter
 * fetches metadata and body in one request (s3, minio: one GET). `decide` still decides; a
 * prefetched body that does not hold the decided bytes is dropped and those read again (rare),
 * and one that is not sent (304, 412, 416, HEAD) is destroyed.
 *
 * A Range the handle reads in one small read (`OpenedObject.bytes`: local, up to 64 KiB, a
 * player's seek) is awaited whole and sent as one Buffer: one write of headers and body where a
 * stream costs a pipe, its events and a write per chunk. Measured (`BENCH_ONLY=range-64k`,
 * alternated, BENCHMARKS.md "64 KiB ranges as one Buffer"): recproxy's CPU a Range 228-295 →
 * 196-202 µs, 0.49-0.58 → 0.66-0.76 × bare node. A 200/206's headers are set once its body is in
 * hand, so a read that fails is an error answer without them.
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PreconditionFailed, RangeNotSatisfiable } from '../core/errors.js';
import type { ObjectMeta, OpenedObject, StorageAdapter } from '../core/storage.js';
import { parseConditions, prefetchHint, type ByteRequest } from './conditions.js';
import { decide, type ByteDecision } from './decide.js';

export interface SendObjectOptions {
  key: string;
  contentType: string;
  contentDisposition: string;
  cacheControl: string;
  /** The backend read is abandoned after this many ms (the download's internal lifetime). */
  maxReadMs?: number;
}

/** An object opened and decided on: the decision, the metadata it was made on, the handle. */
export interface DecidedObject {
  decision: ByteDecision;
  meta: ObjectMeta;
  /** Holds the prefetched bytes, if any: release it with `close()` when no body is sent. */
  opened: OpenedObject;
}

/**
 * Looks `key` up once (with the prefetch hint of `request`) and decides on its metadata.
 * @throws what `StorageAdapter.open` throws
 */
export async function openDecided(
  storage: StorageAdapter,
  key: string,
  request: ByteRequest,
  signal?: AbortSignal,
): Promise<DecidedObject> {
  const opened = await storage.open(key, { hint: prefetchHint(request), signal });
  return { decision: decide(request, opened.meta), meta: opened.meta, opened };
}

/**
 * The decided bytes of a 200 or 206: from the handle when it holds them (a Readable, at
 * once), else the handle is closed and they are read again (a Promise, the only case that
 * waits).
 * @throws (the Promise) what `StorageAdapter.read` throws
 */
export function decidedBody(
  storage: StorageAdapter,
  key: string,
  decided: DecidedObject,
  signal?: AbortSignal,
): Readable | Promise<Readable> {
  const { opened } = decided;
  const readOptions = { range: decided.decision.status === 206 ? decided.decision.range : undefined, signal };
  if (opened.serves?.(readOptions.range) !== false) return opened.read(readOptions);
  opened.close();
  return storage.read(key, readOptions).then((result) => result.body);
}

export async function sendObject(
  request: FastifyRequest,
  reply: FastifyReply,
  storage: StorageAdapter,
  options: SendObjectOptions,
): Promise<FastifyReply> {
  // One controller for both ends of a read's life, from the lookup on (it may be the GET of
  // the body): the client going away, and the download's internal lifetime running out.
  const controller = new AbortController();
  const timer = options.maxReadMs
    ? setTimeout(() => controller.abort(new Error('download lifetime over')), options.maxReadMs).unref()
    : undefined;
  reply.raw.once('close', () => {
    clearTimeout(timer);
    if (!reply.raw.writableFinished) controller.abort(new Error('client went away'));
  });
  const signal = controller.signal;
  const decided = await openDecided(storage, options.key, parseConditions(request.method, request.headers), signal);
  const { decision, meta } = decided;
  if (decision.status === 304 || decision.status === 412 || decision.status === 416) {
    decided.opened.close();
    reply.headers(decision.headers);
    reply.header('cache-control', options.cacheControl);
    if (decision.status === 412) throw new PreconditionFailed();
    if (decision.status === 416) throw new RangeNotSatisfiable(meta.size);
    return reply.code(304).send();
  }
  if (request.method === 'HEAD') {
    decided.opened.close();
    setAnswerHeaders(reply, decision, options);
    return reply.send();
  }

  // The body before its headers: a read that fails here (a file that shrank, a backend's second
  // GET) is answered as the error it is, without the headers of the bytes it did not get.
  // A small bounded Range from a handle that reads it in one read: a Buffer, sent in one write.
  const small = decided.opened.bytes?.(decision.status === 206 ? decision.range : undefined);
  if (small) {
    const buffer = await small;
    setAnswerHeaders(reply, decision, options);
    countSentWhole(request, reply, buffer.length);
    return reply.send(buffer);
  }
  const got = decidedBody(storage, options.key, decided, signal);
  const body = got instanceof Promise ? await got : got;
  setAnswerHeaders(reply, decision, options);
  countBodyBytes(request, reply);
  return reply.send(body);
}

/** The status and headers of a 200 or 206 (or its HEAD): the decision's, and the route's. */
function setAnswerHeaders(reply: FastifyReply, decision: ByteDecision, options: SendObjectOptions): void {
  reply.headers(decision.headers);
  reply.header('cache-control', options.cacheControl);
  reply.header('content-type', options.contentType);
  reply.header('content-disposition', options.contentDisposition);
  reply.header('x-content-type-options', 'nosniff');
  reply.code(decision.status);
}

/**
 * `request.bytesSent` for a body sent as one Buffer: all of it once the response has finished
 * (its last write completed), none when the client went away before.
 */
function countSentWhole(request: FastifyRequest, reply: FastifyReply, size: number): void {
  request.bytesSent = 0;
  reply.raw.once('finish', () => {
    request.bytesSent = size;
  });
}

/**
 * Counts into `request.bytesSent`, for the audit, the body bytes the socket has accepted: a
 * chunk counts once its write has completed (the kernel took all of it), so what a client that
 * went away never got — chunks still queued in the process when the response closed — is not
 * counted. A write still pending when the socket is destroyed is called back without an error
 * (node's net.Socket does so), hence the check that the socket is still there. It wraps this
 * response's `write` (what the body pipe calls) rather than listening for 'data', which would
 * start the body flowing before Fastify pipes it. Costs one callback per chunk (64 KiB–1 MiB
 * from local disk).
 */
function countBodyBytes(request: FastifyRequest, reply: FastifyReply): void {
  request.bytesSent = 0;
  const raw = reply.raw;
  const write = raw.write as (chunk: unknown, encoding?: unknown, callback?: (err?: Error | null) => void) => boolean;
  raw.write = function (this: typeof raw, chunk: unknown, encoding?: unknown, callback?: unknown) {
    const done = typeof encoding === 'function' ? encoding : callback;
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.length : 0;
    const socket = this.socket;
    const counted = (err?: Error | null) => {
      if (!err && !socket?.destroyed) request.bytesSent! += size;
      if (typeof done === 'function') done(err);
    };
    return write.call(this, chunk, typeof encoding === 'function' ? undefined : encoding, counted);
  } as typeof raw.write;
}
