/**
 * A 32-bit FNV-1a hash of a string's UTF-16 code units: the slot (and tag) of a key in the
 * fixed typed-array tables that remember keys without an object per key (the call lookup's
 * admission, src/stores/sqlite/db-version.ts; a media URL's first issue, src/calls/stream-url.ts).
 * Not for anything an attacker must not collide.
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0;
}
