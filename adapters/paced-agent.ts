/**
 * A keep-alive http.Agent whose sockets read the backend at the pace of the body's consumer (#13),
 * for the MinIO adapter's GETs over plain http (an on-prem server; the S3 adapter's go through
 * adapters/raw-get.ts, which sizes its reads by the same rules without node's http client).
 *
 * Without it a backend socket is read in reads of up to 64 KiB whatever the listener's pace: after
 * a pause the kernel has that much queued, and each such chunk waits in the proxy (in the body,
 * the IncomingMessage, the client socket's queue) until a 16 KB/s player takes it. Here each socket
 * is made with net's `onread` option, so the size of every read is chosen here: by the same rules
 * as a local file's body (adapters/file-body.ts `readSize`: the budget's share per open body,
 * 16 KiB to 64 KiB, at most what the consumer takes in PACE_MS at its averaged pace). Node's own
 * HTTP parser still reads the socket: the http client consumes a socket through its 'data'
 * events (node 20 and 24 alike), and each read is pushed as the socket's data, as net.Socket does
 * by default.
 * Backpressure is sharper: with `onread`, net.Socket's pause() stops reading the handle at once,
 * where a default socket reads one more chunk into its own buffer; the socket and
 * its responses have a highWaterMark of 0 (nothing read ahead); and the body guard pauses the
 * socket as soon as its consumer stops (`PaceReport.stop`). So a slow listener's body holds no
 * chunk in the proxy beyond the one its client socket has not sent, as a local file's body.
 *
 * Every socket reads into one shared buffer, and each read is copied out at its exact size: reads
 * run one at a time on this thread and the copy is taken before anything else runs, so the shared
 * buffer is free again for the next read of any socket. (A buffer per socket would hold a
 * pre-allocated read of its size on every paused socket.)
 *
 * Keep-alive: a socket serves one body at a time. `track` ties the socket's pacer to a response;
 * once that response is complete, the next read is sized as a fresh body's, so a pooled socket
 * starts each later GET with a fresh pace.
 *
 * Not for https: a TLS socket's reads are its TLS layer's (node's TCP reads under it, decrypted and
 * handed on in pieces of at most 16 KiB), which `onread` does not size; it keeps node's sockets.
 */
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import { ConsumerPace, SLOW_MIN, type ReadBudget } from './file-body.js';

/** What the body guard (adapters/body-guard.ts) reports of its consumer to the socket's pacer. */
export interface PaceReport {
  /** A chunk of `size` bytes was handed to the consumer. */
  pushed(size: number): void;
  /** The consumer asks for more: it took the last chunk in the time since it was pushed. */
  asked(): void;
  /**
   * The consumer stopped taking chunks: stop reading the socket now (the response resumes it when
   * the consumer reads it again), so nothing more is read than the chunk the consumer refused.
   */
  stop(): void;
  /** The body is done (idempotent): it no longer counts in the budget, and reports are ignored. */
  release(): void;
}

/**
 * Backend socket reads of 16 KiB (a slow consumer; every body past 512 open: the budget's 8 MiB
 * shared, down to SLOW_MIN each) to 64 KiB (node's own read size): a fast download reads as it did
 * with node's sockets. Reads of up to 1 MiB (a local file's budget) tripled the CPU per request of
 * `BENCH_ONLY=s3-download-2mb` (BENCHMARKS.md). The floor was 64 KiB until the local bodies' went
 * to 16 KiB (adapters/file-body.ts): a slow S3 body holds what a local one holds.
 */
export const S3_READ_BUDGET = { min: SLOW_MIN, max: 64 * 1024 };

const kPacer = Symbol('recproxy.pacer');
type PacedSocket = net.Socket & { [kPacer]?: Pacer };

/** One socket's pacing state: the body it serves now, its consumer's pace. */
export class Pacer {
  readonly #budget: ReadBudget;
  /** The response being served; once it is complete, the next read is a fresh body's. */
  #res: IncomingMessage | undefined;
  /** Counts the responses tracked: a report from an earlier body is ignored. */
  #generation = 0;
  #consumer = new ConsumerPace();
  /** The size of the last read asked of the socket (what `nextSize` returned last). */
  lastSize = 0;

  constructor(budget: ReadBudget) {
    this.#budget = budget;
  }

  /** The size of the socket's next read. */
  nextSize(): number {
    if (this.#res === undefined || this.#res.complete) {
      this.#res = undefined;
      this.#consumer = new ConsumerPace();
    }
    this.lastSize = this.#consumer.readSize(Infinity, this.#budget);
    return this.lastSize;
  }

  /** Serve `res` (a response read from this pacer's socket): a fresh pace, counted in the budget. */
  track(res: IncomingMessage): PaceReport {
    const generation = ++this.#generation;
    this.#res = res;
    const consumer = (this.#consumer = new ConsumerPace());
    const leave = this.#budget.enter();
    const current = () => generation === this.#generation;
    return {
      pushed: (size) => {
        if (current()) consumer.pushed(size);
      },
      asked: () => {
        if (current()) consumer.asked();
      },
      stop: () => {
        // Not after the response is complete: the socket may be back in the agent's pool, and
        // node's http client resumes it only when a response completes.
        if (current() && !res.complete) res.socket?.pause();
      },
      release: leave,
    };
  }
}

/** The pacer of the socket `res` was read from, if that socket is a PacedAgent's. */
export function pacerOf(res: IncomingMessage): Pacer | undefined {
  return (res.socket as PacedSocket | null)?.[kPacer];
}

/** The shared read buffer, as large as the largest read asked of it so far. */
let shared: Buffer | undefined;

/**
 * The one buffer every paced socket reads into (these and adapters/raw-get.ts's), at least `size`
 * bytes: reads run one at a time on this thread and each is copied out before anything else runs.
 */
export function sharedReadBuffer(size: number): Buffer {
  if (shared === undefined || shared.length < size) shared = Buffer.allocUnsafeSlow(size);
  return shared;
}

export class PacedAgent extends http.Agent {
  readonly #budget: ReadBudget;

  constructor(options: http.AgentOptions, budget: ReadBudget) {
    super(options);
    this.#budget = budget;
  }

  override createConnection(options: net.NetConnectOpts): net.Socket {
    const budget = this.#budget;
    const slab = sharedReadBuffer(budget.max);
    const pacer = new Pacer(budget);
    const socket: PacedSocket = net.connect({
      ...options,
      // Nothing read ahead: a paused socket reads no more, and its responses (an IncomingMessage
      // takes the socket's highWaterMark) hold no chunk ahead of their consumer.
      readableHighWaterMark: 0,
      onread: {
        // Called when the socket connects and after each read: the view the next read fills.
        buffer: () => slab.subarray(0, pacer.nextSize()),
        callback: (bytes: number, buffer: Uint8Array) => {
          const chunk = Buffer.allocUnsafeSlow(bytes);
          chunk.set(buffer.subarray(0, bytes));
          // false (the socket's buffer is full) stops reading until the socket is read again.
          return socket.push(chunk);
        },
      },
      // net.Socket passes its options to stream.Duplex, which takes readableHighWaterMark (@types/node omits it).
    } as unknown as net.NetConnectOpts);
    socket[kPacer] = pacer;
    return socket;
  }
}
