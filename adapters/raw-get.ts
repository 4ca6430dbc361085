/**
 * The S3 adapter's GETs over plain http (an on-prem S3-compatible server), without node's http
 * client (#13): the request head is written on a pooled socket by hand, the response head is
 * parsed once, and the body is counted to its Content-Length (chunked and read-to-close bodies are
 * read too: error answers may use them). The body is one Readable that is also its guard.
 *
 * Why: a listener at 16 KB/s holds its GET open for as long as it plays. With node's http client
 * each such body kept a ClientRequest (its request head string), an IncomingMessage (header map,
 * raw headers), an HTTPParser (and its native header slots), the agent's per-socket options copy
 * and listeners, and the body guard's Readable and closures: ~12.6 KiB of JS heap a body against
 * ~4 KiB for a socket and one Readable (BENCHMARKS.md, "S3 listeners: the backend body without
 * node's http client"). Here a body costs its socket, one `Connection` (reused by the socket's
 * later GETs), one `RawBody` and its budget entry.
 *
 * Reads follow the consumer, as adapters/paced-agent.ts's sockets do: each socket is made with
 * net's `onread`, every read goes into one shared buffer and is copied out at its exact size, the
 * read's size is the consumer's pace's (adapters/file-body.ts `ConsumerPace`, the budget's share,
 * 16 KiB to 64 KiB). The body has a highWaterMark of 0: when its consumer does not take a chunk the
 * socket stops being read (the onread callback returns false) until the body is read again, so TCP
 * backpressure reaches the backend and nothing waits here beyond the chunk the consumer refused.
 *
 * The body's guard (as adapters/body-guard.ts for node's responses): a socket error or an early
 * close fails the body with StorageUnavailable ("read failed: ..."); the caller's abort destroys
 * the socket and fails the body with the abort's reason; no data for `timeoutMs` while the consumer
 * waits fails it ("no data from S3 for ... ms"). Time the consumer spends not reading is not counted.
 *
 * Keep-alive: a socket serves one GET at a time; once a body is complete (and the answer allows it:
 * HTTP/1.1, no `Connection: close`, a length or chunked framing) the socket goes back to the pool,
 * at most `maxFree` idle per host, each closed after FREE_MS idle (before the 5 s keep-alive
 * timeout of node-based servers; a server's own close removes it at once). A GET sent on a pooled
 * socket that the server closed before answering is sent again once on a new socket. A body its
 * consumer leaves early closes its socket.
 */
import net from 'node:net';
import { Readable } from 'node:stream';
import { StorageUnavailable } from '../src/core/errors.js';
import { ConsumerPace, type ReadBudget } from './file-body.js';
import { sharedReadBuffer } from './paced-agent.js';

/** Idle pooled sockets are closed after this long (by default). */
export const FREE_MS = 4000;
/** The most a response head (status line and headers) may take. */
const MAX_HEAD = 64 * 1024;
/** The most a chunk-size line (size and extensions) may take. */
const MAX_CHUNK_LINE = 4096;
/** Refused in the GET's path and headers: it would end their line. */
const LINE_BREAK = /[\r\n]/;

export interface RawGetRequest {
  hostname: string;
  port: number;
  path: string;
  /** Sent as given, one line each (they include Host). */
  headers: Record<string, string>;
}

export interface RawGetOptions {
  /** The backend's timeout: the body fails when no data arrives for this long while its consumer waits. */
  timeoutMs: number;
  /** Connect and response head within this many ms (default timeoutMs); else the GET fails with a TimeoutError. */
  headMs?: number;
  /** The backend's name in the body's errors. */
  backend: string;
  signal?: AbortSignal;
}

/** A GET's answer: status, headers (lower-case names; repeated ones joined with ", "), the guarded body. */
export interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Readable;
}

/** How the body's end is known. */
const enum Framing { Length, Chunked, Close }
/** Where a connection is. */
const enum Phase { Idle, Head, Body, Closed }
/** Where a chunked body is. */
const enum Chunk { Size, Data, DataEnd, Trailer }

export class RawGetPool {
  readonly #budget: ReadBudget;
  readonly #maxFree: number;
  /** Idle pooled sockets are closed after this long. */
  readonly freeMs: number;
  readonly #free = new Map<string, Connection[]>();
  /** Every open socket's connection, busy or idle (for `destroy` and the tests). */
  readonly connections = new Set<Connection>();
  #destroyed = false;

  constructor(budget: ReadBudget, options: { maxFree?: number; freeMs?: number } = {}) {
    this.#budget = budget;
    this.#maxFree = options.maxFree ?? 256;
    this.freeMs = options.freeMs ?? FREE_MS;
  }

  /**
   * Send the GET and resolve with the answer once its head has arrived (any status).
   * @throws the socket's error, a TimeoutError (`code` ETIMEDOUT), or the signal's reason
   */
  async get(request: RawGetRequest, options: RawGetOptions): Promise<RawResponse> {
    if (this.#destroyed) throw new Error('the GET pool is closed');
    let head = `GET ${request.path} HTTP/1.1\r\n`;
    let lines = request.path;
    for (const name in request.headers) {
      const value = request.headers[name];
      head += `${name}: ${value}\r\n`;
      lines += name + value;
    }
    if (LINE_BREAK.test(lines)) throw new Error('a line break inside the GET\'s path or a header');
    head += '\r\n';
    options.signal?.throwIfAborted();
    const start = Date.now();
    const key = `${request.hostname}:${request.port}`;
    const conn = this.#free.get(key)?.pop() ?? new Connection(this, key, request.hostname, request.port, this.#budget);
    const headMs = options.headMs ?? options.timeoutMs;
    try {
      return await conn.send(head, options, headMs);
    } catch (err) {
      // A pooled socket the server closed before this GET reached it: once more on a new socket.
      if (!conn.reused || conn.answered || options.signal?.aborted || (err as { name?: string }).name === 'TimeoutError') throw err;
      const fresh = new Connection(this, key, request.hostname, request.port, this.#budget);
      return fresh.send(head, options, Math.max(1, headMs - (Date.now() - start)));
    }
  }

  /** Closes every socket, idle or busy; later GETs fail. */
  destroy(): void {
    this.#destroyed = true;
    for (const conn of this.connections) conn.close(new Error('the GET pool is closed'));
    this.#free.clear();
  }

  /** A connection whose body is complete: kept for the next GET to its host, or closed. */
  release(conn: Connection): void {
    const free = this.#free.get(conn.key) ?? [];
    if (this.#destroyed || free.length >= this.#maxFree) return conn.close();
    free.push(conn);
    this.#free.set(conn.key, free);
  }

  /** A connection that closed: no longer kept. */
  forget(conn: Connection): void {
    this.connections.delete(conn);
    const free = this.#free.get(conn.key);
    const at = free?.indexOf(conn) ?? -1;
    if (at >= 0) free!.splice(at, 1);
    if (free?.length === 0) this.#free.delete(conn.key);
  }

  /** Idle sockets per host (the tests). */
  idle(key: string): readonly Connection[] {
    return this.#free.get(key) ?? [];
  }
}

type Socket = net.Socket & { [kConn]?: Connection };
const kConn = Symbol('recproxy.rawGet');

/** One socket and the GET it serves now. Socket events reach it through shared functions. */
export class Connection {
  readonly key: string;
  readonly socket: Socket;
  readonly #pool: RawGetPool;
  readonly #budget: ReadBudget;
  #phase = Phase.Idle;
  /** This socket served an earlier GET. */
  reused = false;
  /** Some of this GET's answer has arrived. */
  answered = false;

  // The GET being sent: its promise, its head's deadline, its options.
  #resolve: ((res: RawResponse) => void) | undefined;
  #reject: ((err: Error) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #options: RawGetOptions | undefined;
  /** The head's bytes so far, when it spans reads (a copy: the read buffer is shared). */
  #partial: Buffer | undefined;

  // The body being read.
  #body: RawBody | undefined;
  #framing = Framing.Length;
  /** Length framing: bytes left; chunked: bytes left of the current chunk. */
  #left = 0;
  #chunk = Chunk.Size;
  #line = '';
  #keepAlive = false;
  #pace = new ConsumerPace();
  #leave: (() => void) | undefined;
  /** The body's consumer has not taken its last chunk: the socket waits on purpose. */
  held = false;
  #lastData = 0;

  constructor(pool: RawGetPool, key: string, host: string, port: number, budget: ReadBudget) {
    this.#pool = pool;
    this.key = key;
    this.#budget = budget;
    const slab = sharedReadBuffer(budget.max);
    this.socket = net.connect({
      host, port,
      onread: {
        // Called when the socket connects and after each read: the view the next read fills.
        buffer: () => slab.subarray(0, this.#nextSize()),
        // false stops reading the socket until it is resumed (the body is read again).
        callback: (bytes: number, buffer: Uint8Array) => this.#bytes(buffer as Buffer, bytes),
      },
    });
    this.socket.setNoDelay(true);
    this.socket[kConn] = this;
    this.socket.on('error', onSocketError);
    this.socket.on('close', onSocketClose);
    this.socket.on('timeout', onSocketTimeout);
    pool.connections.add(this);
  }

  /** Write the GET's `head` and wait for its answer's head (within `ms`). */
  send(head: string, options: RawGetOptions, ms: number): Promise<RawResponse> {
    if (this.#phase === Phase.Closed) return Promise.reject(new Error('socket closed'));
    const { signal } = options;
    this.#options = options;
    this.#phase = Phase.Head;
    this.#partial = undefined;
    this.answered = false;
    this.socket.setTimeout(0);
    this.socket.write(head, 'latin1');
    this.#timer = setTimeout(onHeadTimeout, ms, this);
    signal?.addEventListener('abort', this);
    this.socket.resume();
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The caller's abort: the GET (or its body) ends with the signal's reason. */
  handleEvent(): void {
    const reason = this.#options?.signal?.reason;
    this.close(reason instanceof Error ? reason : new Error('aborted'));
  }

  /** Close the socket; a GET waiting for its head or a body being read fails with `err`. */
  close(err?: Error): void {
    if (this.#phase === Phase.Closed) return;
    const phase = this.#phase;
    const aborted = this.#options?.signal?.aborted === true;
    this.#phase = Phase.Closed;
    this.#pool.forget(this);
    this.#settle();
    this.socket.destroy();
    if (phase === Phase.Head) {
      const reject = this.#reject!;
      this.#resolve = this.#reject = undefined;
      reject(err ?? new Error('socket closed'));
    }
    if (phase === Phase.Body) this.#failBody(err ?? new Error('the backend stream closed early'), aborted);
  }

  /** The size of the socket's next read: the consumer's pace, within the budget. */
  #nextSize(): number {
    return this.#pace.readSize(Infinity, this.#budget);
  }

  /** A read of `bytes` bytes into the shared buffer. */
  #bytes(buffer: Buffer, bytes: number): boolean {
    let at = 0;
    if (this.#phase === Phase.Head) {
      this.answered = true;
      at = this.#parseHead(buffer, bytes);
      if (at < 0) return this.#phase === Phase.Head;
    }
    if (this.#phase !== Phase.Body) {
      // Bytes while idle or after the body: nothing may come unasked; the socket is not reused.
      if (at < bytes) this.close(new Error('unexpected bytes from the backend'));
      return this.#phase === Phase.Idle; // an idle socket is read on, so a server's close is seen
    }
    this.#lastData = performance.now();
    this.#timer?.refresh();
    while (at < bytes && this.#phase === Phase.Body) at = this.#bodyBytes(buffer, at, bytes);
    if (this.#phase === Phase.Body) return !this.held;
    if (at < bytes && this.#phase !== Phase.Closed) this.close(); // more than the body: not reused
    return this.#phase === Phase.Idle;
  }

  /** Parse the head from `buffer[0, bytes)`; the offset of its first body byte, or -1 if more is needed. */
  #parseHead(buffer: Buffer, bytes: number): number {
    const before = this.#partial?.length ?? 0;
    const data = this.#partial ? Buffer.concat([this.#partial, buffer.subarray(0, bytes)]) : buffer.subarray(0, bytes);
    const end = data.indexOf('\r\n\r\n');
    if (end < 0 ? data.length > MAX_HEAD : end > MAX_HEAD) {
      this.close(new Error(`the backend's response head exceeds ${MAX_HEAD} bytes`));
      return -1;
    }
    if (end < 0) {
      this.#partial = Buffer.from(data);
      return -1;
    }
    this.#partial = undefined;
    // Only the head becomes a string: the header values are slices of it, kept for the body's life.
    const text = data.toString('latin1', 0, end);
    const rest = end + 4 - before; // the first byte after the head, in `buffer`
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: |$)/.exec(lines[0]!);
    if (!status) {
      this.close(new Error(`not an HTTP/1.x answer: ${JSON.stringify(lines[0]!.slice(0, 64))}`));
      return -1;
    }
    const statusCode = Number(status[2]);
    if (statusCode < 200) {
      // 100 Continue, 103 Early Hints: the real answer follows.
      if (rest >= bytes) return -1;
      const at = this.#parseHead(buffer.subarray(rest), bytes - rest);
      return at < 0 ? -1 : at + rest;
    }
    const headers = Object.create(null) as Record<string, string>;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) {
        this.close(new Error(`a malformed header line from the backend: ${JSON.stringify(line.slice(0, 64))}`));
        return -1;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const connection = headers.connection?.toLowerCase() ?? '';
    this.#keepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    this.#chunk = Chunk.Size;
    this.#line = '';
    const length = headers['content-length'];
    if (statusCode === 204 || statusCode === 304) {
      this.#framing = Framing.Length;
      this.#left = 0;
    } else if (headers['transfer-encoding'] !== undefined) {
      if (!/(?:^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'])) {
        this.close(new Error(`a transfer coding the proxy does not read: ${headers['transfer-encoding']}`));
        return -1;
      }
      this.#framing = Framing.Chunked;
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) {
        this.close(new Error(`a malformed Content-Length from the backend: ${JSON.stringify(length.slice(0, 32))}`));
        return -1;
      }
      this.#framing = Framing.Length;
      this.#left = Number(length);
    } else {
      this.#framing = Framing.Close;
      this.#keepAlive = false;
    }
    this.#startBody(statusCode, headers);
    return rest;
  }

  /** The head is in: the body begins, and the GET's promise resolves. */
  #startBody(statusCode: number, headers: Record<string, string>): void {
    const options = this.#options!;
    clearTimeout(this.#timer);
    this.#phase = Phase.Body;
    this.held = false;
    this.#leave = this.#budget.enter(); // the pace is fresh: new, or reset when the last GET settled
    const body = (this.#body = new RawBody(this));
    this.#lastData = performance.now();
    this.#timer = setTimeout(onIdle, options.timeoutMs, this);
    const resolve = this.#resolve!;
    this.#resolve = this.#reject = undefined;
    resolve({ statusCode, headers, body });
    if (this.#framing === Framing.Length && this.#left === 0) this.#endBody();
  }

  /** Body bytes from `buffer[at, bytes)`: hands on what belongs to the body; the offset after it. */
  #bodyBytes(buffer: Buffer, at: number, bytes: number): number {
    if (this.#framing === Framing.Close) {
      this.#push(buffer, at, bytes);
      return bytes;
    }
    if (this.#framing === Framing.Length) {
      const end = Math.min(bytes, at + this.#left);
      this.#left -= end - at;
      this.#push(buffer, at, end);
      if (this.#left === 0) this.#endBody();
      return end;
    }
    return this.#chunked(buffer, at, bytes);
  }

  /** One step of a chunked body; the offset after what it took. */
  #chunked(buffer: Buffer, at: number, bytes: number): number {
    if (this.#chunk === Chunk.Data) {
      const end = Math.min(bytes, at + this.#left);
      this.#left -= end - at;
      this.#push(buffer, at, end);
      if (this.#left === 0) this.#chunk = Chunk.DataEnd;
      return end;
    }
    // A line: the chunk size, the CRLF after a chunk's data, or a trailer line.
    const lf = buffer.indexOf(10, at);
    const end = lf < 0 || lf >= bytes ? bytes : lf + 1;
    this.#line += buffer.toString('latin1', at, end);
    if (lf < 0 || lf >= bytes) {
      if (this.#line.length > MAX_CHUNK_LINE) this.close(new Error('a malformed chunked body from the backend'));
      return end;
    }
    const line = this.#line.replace(/\r?\n$/, '');
    this.#line = '';
    if (this.#chunk === Chunk.DataEnd) {
      if (line !== '') this.close(new Error('a malformed chunked body from the backend'));
      else this.#chunk = Chunk.Size;
    } else if (this.#chunk === Chunk.Trailer) {
      if (line === '') this.#endBody();
    } else {
      const size = /^([0-9a-fA-F]{1,12})\s*(?:;.*)?$/.exec(line);
      if (!size) this.close(new Error('a malformed chunked body from the backend'));
      else {
        this.#left = parseInt(size[1]!, 16);
        this.#chunk = this.#left === 0 ? Chunk.Trailer : Chunk.Data;
      }
    }
    return end;
  }

  /** Hand `buffer[from, to)` to the body as a chunk of its own. */
  #push(buffer: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const chunk = Buffer.allocUnsafeSlow(to - from);
    buffer.copy(chunk, 0, from, to);
    const body = this.#body!;
    this.#pace.pushed(chunk.length);
    // Also when the chunk went straight to a consumer that stopped on it (a pipe whose destination
    // is full pauses the body): the next read would only wait here.
    if (!body.push(chunk) || body.readableFlowing !== true) this.held = true;
  }

  /** The body is complete: it ends, and the socket goes back to the pool (or closes). */
  #endBody(): void {
    this.#phase = Phase.Idle;
    const body = this.#body!;
    this.#body = undefined;
    this.#settle();
    body.push(null);
    this.reused = true;
    if (this.#keepAlive) {
      this.socket.setTimeout(this.#pool.freeMs);
      this.#pool.release(this);
    } else this.close();
  }

  /** The GET is over (its body complete, failed or left): its timer, abort listener and budget entry go; the next GET starts with a fresh pace. */
  #settle(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#options?.signal?.removeEventListener('abort', this);
    this.#options = undefined;
    this.#leave?.();
    this.#leave = undefined;
    this.#pace = new ConsumerPace();
  }

  /** The body fails with `err`: the caller's abort as is, a backend failure as StorageUnavailable. */
  #failBody(err: Error, aborted: boolean): void {
    const body = this.#body;
    this.#body = undefined;
    if (!body || body.destroyed) return;
    // A body can fail before its consumer has taken it (in the read that carried the head): its
    // error stays in `body.errored` for the consumer (stream.finished and pipeline report it), and
    // is not thrown as an unhandled 'error' event meanwhile.
    if (body.listenerCount('error') === 0) body.once('error', ignore);
    body.destroy(aborted ? err : new StorageUnavailable(`read failed: ${err.message}`, { cause: err }));
  }

  /** The body's consumer asks for more. */
  read(body: RawBody): void {
    if (body !== this.#body || this.#phase !== Phase.Body) return;
    this.#pace.asked();
    this.held = false;
    // net's resume starts reading the handle again when an onread callback stopped it.
    this.socket.resume();
  }

  /** The body was destroyed: before its end, the socket closes (it cannot serve another GET). */
  bodyClosed(body: RawBody): void {
    if (body !== this.#body) return;
    this.#body = undefined;
    if (this.#phase === Phase.Body) this.close();
  }

  /** The socket's idle timeout (set only while it waits in the pool). */
  idleTimedOut(): void {
    if (this.#phase === Phase.Idle) this.close();
  }

  /** The head's deadline passed. */
  headTimedOut(): void {
    if (this.#phase !== Phase.Head) return;
    const { backend, timeoutMs } = this.#options!;
    this.close(Object.assign(new Error(`no response from ${backend} within ${timeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' }));
  }

  /** The idle timer fired: a consumer-bound body is fine; a backend silent for timeoutMs fails it. */
  idleCheck(): void {
    if (this.#phase !== Phase.Body) return;
    if (this.held) return void this.#timer?.refresh();
    // Timers run before the event loop polls for I/O: after a stall of this process (a long GC, a
    // starved CPU) data may be waiting unread. Let one poll deliver it before blaming the backend.
    setImmediate(onIdleAfterPoll, this);
  }

  idleAfterPoll(): void {
    if (this.#phase !== Phase.Body) return;
    const idleMs = this.#options!.timeoutMs;
    if (this.held || performance.now() - this.#lastData < idleMs) return void this.#timer?.refresh();
    this.close(Object.assign(new Error(`no data from ${this.#options!.backend} for ${idleMs} ms`), { code: 'ETIMEDOUT' }));
  }

  /** The socket failed or closed. */
  socketGone(err?: Error): void {
    if (this.#phase === Phase.Body && this.#framing === Framing.Close && !err) {
      // Read-to-close framing: the close is the body's end.
      this.#phase = Phase.Idle;
      const body = this.#body!;
      this.#settle();
      body.push(null);
    }
    this.close(err);
  }
}

/** A GET's body: a Readable of highWaterMark 0 whose reads resume its socket. */
class RawBody extends Readable {
  readonly #conn: Connection;

  constructor(conn: Connection) {
    super({ highWaterMark: 0 });
    this.#conn = conn;
  }

  override _read(): void {
    this.#conn.read(this);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#conn.bodyClosed(this);
    callback(err);
  }
}

function ignore(): void {}

function onSocketError(this: Socket, err: Error): void {
  this[kConn]!.socketGone(err);
}

function onSocketClose(this: Socket): void {
  this[kConn]!.socketGone();
}

/** An idle pooled socket's timeout (FREE_MS): closed. */
function onSocketTimeout(this: Socket): void {
  this[kConn]!.idleTimedOut();
}

function onHeadTimeout(conn: Connection): void {
  conn.headTimedOut();
}

function onIdle(conn: Connection): void {
  conn.idleCheck();
}

function onIdleAfterPoll(conn: Connection): void {
  conn.idleAfterPoll();
}
