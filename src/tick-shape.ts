/**
 * One of Node's tick objects, held for the life of the process.
 *
 * `process.nextTick` builds each queued tick from an object literal with two symbol keys. In a
 * process that has made many object literal shapes (the daemon: its routes' compiled validators
 * and serializers, the storage SDKs), V8 can lose that literal's shape and then give every tick a
 * fresh map through its runtime: 8.8 µs of a stream URL request in a profile of the daemon, none
 * in bare Fastify's; 2,000 four-property literal shapes made first do the same in a bare script
 * (BENCHMARKS.md, "The stream endpoint: the tick objects' shape"). A tick object held from the
 * start keeps the shape. Call this before the application's modules load.
 */
import { createHook } from 'node:async_hooks';

let kept: object | undefined;

/** The held tick object (taken on the first call, while an init hook is briefly enabled). */
export function keepTickShape(): object {
  if (kept) return kept;
  const hook = createHook({
    init(_id, type, _trigger, resource: object) {
      if (type === 'TickObject') kept ??= resource;
    },
  }).enable();
  try {
    process.nextTick(() => undefined);
  } finally {
    hook.disable();
  }
  return kept!;
}
