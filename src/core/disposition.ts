/**
 * Download names and Content-Disposition values. The user-facing name is
 * `recording_{to_number}.{ext}`; control characters (CR, LF, …), quotes, backslashes and
 * path separators never reach a header. Names that are not plain ASCII get `filename*`
 * (RFC 6266 / 8187) beside an ASCII `filename` fallback. Built with `content-disposition`.
 */
import contentDisposition from 'content-disposition';
import { extensionForType } from './media-types.js';

const MAX_NAME_CHARS = 120;

export function recordingFilename(toNumber: string, contentType: string): string {
  // eslint-disable-next-line no-control-regex
  const safe = toNumber.replace(/[\u0000-\u001f\u007f-\u009f"\\/;]/g, '_').trim().slice(0, MAX_NAME_CHARS);
  return `recording_${safe || 'unknown'}.${extensionForType(contentType)}`;
}

export function dispositionHeader(type: 'inline' | 'attachment', filename: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = filename.replace(/[\u0000-\u001f\u007f-\u009f"\\]/g, '_');
  const fallback = clean.replace(/[^\x20-\x7e]/g, '_');
  return contentDisposition(clean, { type, fallback });
}
