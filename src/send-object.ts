/**
 * Sends a stored object's bytes for every route that serves bytes (download, media), for every
 * adapter: the Range/conditional decision comes from src/range.ts, only the decided bytes are
 * read from storage, the body streams with backpressure, and a client that goes away aborts the
 * backend read.
 *
 * Adapters with `open` get a hint of the bytes the request will probably be served, so a
 * network adapter fetches metadata and body in one request (s3: one GET). decideBytes still
 * decides; a prefetched body that does not hold the decided bytes is dropped and those read
 * again (rare), and one that is not sent (304, 412, 416, HEAD) is destroyed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PreconditionFailed, RangeNotSatisfiable } from './core/errors.js';
import { decideBytes, type ConditionalHeaders } from './range.js';
import type { RangeHint, StorageAdapter } from './core/storage.js';

export interface SendObjectOptions {
  key: string;
  contentType: string;
  contentDisposition: string;
  cacheControl: string;
  /** The backend read is abandoned after this many ms (the download's internal lifetime). */
  maxReadMs?: number;
}

const CONDITIONS = ['if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const;
/** One range spec as decideBytes reads it (the unit and the spec trimmed, nothing inside). */
const SINGLE_RANGE = /^\s*bytes\s*=\s*(\d*)-(\d*)\s*$/i;

/**
 * The bytes a request will probably be served, before the metadata is known: a GET without
 * Range → the whole object; one `a-b`, `a-` or `-n` → that. Undefined (look up the metadata
 * only) for other methods, several ranges, and conditional requests: those often end without
 * a body (304, 412, a stale If-Range), which should not start one. A malformed Range is
 * ignored by decideBytes, so it hints the whole object. A wrong hint costs a second read.
 */
export function prefetchHint(method: string, headers: ConditionalHeaders): RangeHint | undefined {
  if (method !== 'GET' || CONDITIONS.some((name) => headers[name] !== undefined)) return undefined;
  const range = headers.range;
  if (range === undefined || range.trim() === '') return 'whole';
  if (range.includes(',')) return undefined;
  const m = SINGLE_RANGE.exec(range);
  if (!m || (m[1] === '' && m[2] === '')) return 'whole';
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return undefined;
  if (m[1] === '') return { suffix: last };
  if (m[2] === '') return { start: first };
  return last < first ? 'whole' : { start: first, end: last };
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
  const hint = prefetchHint(request.method, request.headers);
  const opened = storage.open ? await storage.open(options.key, { hint, signal }) : undefined;
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

  const readOptions = { range: decision.range, signal };
  let body;
  if (opened && opened.serves?.(decision.range) !== false) {
    body = opened.read(readOptions);
  } else {
    opened?.close();
    body = (await storage.read(options.key, readOptions)).body;
  }
  countBodyBytes(request, reply);
  return reply.send(body);
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
