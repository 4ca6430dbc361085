/** The handle `open` returns in the network adapters (s3, minio): metadata and a prefetched body. */
import type { Readable } from 'node:stream';
import { sameRange } from '../src/core/byte-range.js';
import type { ByteRange, ObjectMeta, OpenedObject } from '../src/core/storage.js';

/** A prefetched body and the bytes of the object it holds (null: none, an empty object's). */
export interface HeldBody {
  span: ByteRange | null;
  body: Readable;
}

/**
 * A handle on `meta` holding the prefetched `held` bytes, if any: `read` serves exactly those
 * (the body is guarded with the open signal; a different signal given to `read` aborts it too).
 * Without `held` it serves nothing (`serves` is false): the caller reads with `read()`.
 */
export function heldObject(meta: ObjectMeta, held?: HeldBody, signal?: AbortSignal): OpenedObject {
  let released = false;
  const whole = meta.size > 0 ? { start: 0, end: meta.size - 1 } : null;
  const serves = (range?: ByteRange) => held !== undefined && sameRange(held.span, range ?? whole);
  return {
    meta,
    serves,
    read(options = {}) {
      if (!serves(options.range)) throw new Error('this handle does not hold those bytes: use read()');
      if (released) throw new Error('read after close');
      released = true;
      const body = held!.body;
      const other = options.signal;
      if (other && other !== signal) {
        const onAbort = () => body.destroy(other.reason as Error);
        if (other.aborted) onAbort();
        else other.addEventListener('abort', onAbort, { once: true });
      }
      return body;
    },
    close() {
      if (released) return;
      released = true;
      held?.body.destroy();
    },
  };
}
