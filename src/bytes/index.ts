/** Where a Range header becomes bytes: parse (conditions.ts), decide (decide.ts), send (send.ts). */
export { MAX_RANGE_HEADER, parseConditions, prefetchHint } from './conditions.js';
export type { ByteRequest, ConditionalHeaders, EntityTags, RangeField, RangeSpec } from './conditions.js';
export { decide, decideBytes } from './decide.js';
export type { ByteDecision } from './decide.js';
export { decidedBody, openDecided, sendObject } from './send.js';
export type { DecidedObject, SendObjectOptions } from './send.js';
