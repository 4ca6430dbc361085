/** Audio content types recproxy knows, and the file extension each is served with. */
const TYPES: Record<string, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  opus: 'audio/opus',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
  webm: 'audio/webm',
  gsm: 'audio/gsm',
};

const ALIASES: Record<string, string> = {
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/vnd.wave': 'wav',
  'audio/mp3': 'mp3',
  'audio/x-flac': 'flac',
  'audio/x-m4a': 'm4a',
};

/** The content type for a file name or key by its extension; `application/octet-stream` if unknown. */
export function typeForName(name: string): string {
  const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  return TYPES[ext] ?? 'application/octet-stream';
}

/** The extension (no dot) for a content type; `bin` if unknown. */
export function extensionForType(contentType: string): string {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (ALIASES[type]) return ALIASES[type];
  for (const [ext, t] of Object.entries(TYPES)) if (t === type) return ext;
  return 'bin';
}

/** A syntactically valid media type (`type/subtype`, optional parameters). */
export function isMediaType(value: string): boolean {
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i.test(value);
}
