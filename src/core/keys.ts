/**
 * Storage keys are normalised once, here, before any adapter sees them.
 * A key is a relative, slash-separated path: no "..", no absolute paths,
 * no NUL or other control characters, no backslashes, no empty segments.
 */
import { InvalidKey } from './errors.js';

const MAX_KEY_BYTES = 1024;

/**
 * @returns the canonical form of `raw` (leading "./" and duplicate slashes removed)
 * @throws InvalidKey when the key could name something outside the store's root
 */
export function normalizeKey(raw: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new InvalidKey('empty key');
  if (Buffer.byteLength(raw) > MAX_KEY_BYTES) throw new InvalidKey(`longer than ${MAX_KEY_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new InvalidKey('control character in key');
  if (raw.includes('\\')) throw new InvalidKey('backslash in key');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw new InvalidKey('absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) throw new InvalidKey('empty key');
  if (parts.some((p) => p === '..')) throw new InvalidKey('".." segment');
  return parts.join('/');
}

/**
 * A listing prefix in the canonical form of keys: '' (everything) stays '', a trailing '/'
 * is kept (`a//b/` → `a/b/`), and a partial last segment is kept as it is (`rec`).
 * @throws InvalidKey as `normalizeKey` does (a ".." segment, an absolute path, ...)
 */
export function normalizePrefix(raw: string): string {
  if (typeof raw !== 'string') throw new InvalidKey('prefix is not a string');
  if (raw === '' || /^\.(\/+\.)*\/*$/.test(raw)) return ''; // '', '.', './', './/./'
  const key = normalizeKey(raw);
  return raw.endsWith('/') ? `${key}/` : key;
}
