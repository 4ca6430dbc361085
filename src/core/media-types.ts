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
  aiff: 'audio/aiff',
  amr: 'audio/amr',
  aac: 'audio/aac',
  au: 'audio/basic',
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

/** Content type (lower case, no parameters) → extension: TYPES reversed, plus ALIASES. */
const EXTENSIONS = new Map<string, string>([
  ...Object.entries(TYPES).map(([ext, type]): [string, string] => [type, ext]),
  ...Object.entries(ALIASES),
]);

/** The extension (no dot) for a content type; `bin` if unknown. Called on every stream URL and download. */
export function extensionForType(contentType: string): string {
  const known = EXTENSIONS.get(contentType);
  if (known) return known;
  return EXTENSIONS.get(contentType.split(';')[0]!.trim().toLowerCase()) ?? 'bin';
}

/** A syntactically valid media type (`type/subtype`, optional parameters). */
export function isMediaType(value: string): boolean {
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i.test(value);
}
