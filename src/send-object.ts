/**
 * Sends a stored object's bytes for every route that serves bytes (download, media), for every
 * adapter: the Range/conditional decision comes from src/range.ts, only the decided bytes are
 * read from storage, the body streams with backpressure, and a client that goes away aborts the
 * backend read.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PreconditionFailed, RangeNotSatisfiable } from './errors.js';
import { decideBytes } from './range.js';
import type { StorageAdapter } from '../adapters/types.js';

export interface SendObjectOptions {
  key: string;
  contentType: string;
  contentDisposition: string;
  cacheControl: string;
  /** The backend read is abandoned after this many ms (the download's internal lifetime). */
  maxReadMs?: number;
}

export async function sendObject(
  request: FastifyRequest,
  reply: FastifyReply,
  storage: StorageAdapter,
  options: SendObjectOptions,
): Promise<FastifyReply> {
  const opened = storage.open ? await storage.open(options.key) : undefined;
  const meta = opened ? opened.meta : await storage.stat(options.key);
  const decision = decideBytes(request.method, request.headers, meta);
  reply.headers(decision.headers);
  reply.header('cache-control', options.cacheControl);
  if (decision.status === 304 || decision.status === 412 || decision.status === 416 || request.method === 'HEAD') {
    opened?.close();
    if (decision.status === 412) throw new PreconditionFailed();
    if (decision.status === 416) throw new RangeNotSatisfiable(meta.size);
    if (decision.status === 304) return reply.code(304).send();
  }
  reply.header('content-type', options.contentType);
  reply.header('content-disposition', options.contentDisposition);
  reply.header('x-content-type-options', 'nosniff');
  reply.code(decision.status);
  if (request.method === 'HEAD') return reply.send();

  // One controller for both ends of a read's life: the client going away, and the download's
  // internal lifetime running out.
  const controller = new AbortController();
  const timer = options.maxReadMs
    ? setTimeout(() => controller.abort(new Error('download lifetime over')), options.maxReadMs).unref()
    : undefined;
  reply.raw.once('close', () => {
    clearTimeout(timer);
    if (!reply.raw.writableFinished) controller.abort(new Error('client went away'));
  });
  const signal = controller.signal;
  const readOptions = { range: decision.range, signal };
  const body = opened ? opened.read(readOptions) : (await storage.read(options.key, readOptions)).body;
  countBodyBytes(request, reply);
  return reply.send(body);
}

/**
 * Counts the body bytes written to the response into `request.bytesSent`, for the audit. It
 * wraps this response's `write` (what the body pipe calls) rather than listening for 'data',
 * which would start the body flowing before Fastify pipes it.
 */
function countBodyBytes(request: FastifyRequest, reply: FastifyReply): void {
  request.bytesSent = 0;
  const raw = reply.raw;
  const write = raw.write;
  raw.write = function (this: typeof raw, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk === 'string') request.bytesSent! += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) request.bytesSent! += chunk.length;
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof raw.write;
}
