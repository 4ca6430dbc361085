/**
 * A young-generation collection on demand, for a long read that only looks at its bytes
 * (src/calls/peaks.ts: a whole recording through the storage adapter; src/calls/register.ts: an
 * upload on its way to storage).
 *
 * Each read of the local adapter is a new 1 MiB Buffer (adapters/file-body.ts) whose memory lives
 * outside the V8 heap until a collection frees it; a reader that allocates almost nothing on the
 * heap itself triggers no scavenge, so hundreds of MiB read pile up as tens of MiB of dead buffers
 * before V8's external-memory limit collects them (BENCHMARKS.md: the upload's and the peaks'
 * figures). A scavenge every few MiB read frees them at once, for well under a millisecond each.
 * `gc` comes from a fresh context with --expose-gc set at run time (the main context gets no
 * global `gc`); where that is unavailable, `scavenge` does nothing.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options: { type: 'minor' }) => void;

let collect: Gc | undefined | null = null;

function gcFunction(): Gc | undefined {
  if (collect === null) {
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
      collect = typeof gc === 'function' ? (gc as Gc) : undefined;
    } catch {
      collect = undefined;
    }
  }
  return collect;
}

/** Counts bytes read and runs a scavenge after every `every` bytes. */
export class Scavenger {
  readonly #every: number;
  #since = 0;

  constructor(every = 8 * 2 ** 20) {
    this.#every = every;
  }

  /** `bytes` more were read (and are no longer referenced). @returns whether a scavenge ran */
  read(bytes: number): boolean {
    this.#since += bytes;
    if (this.#since < this.#every) return false;
    this.#since = 0;
    const gc = gcFunction();
    gc?.({ type: 'minor' });
    return gc !== undefined;
  }
}
