/**
 * Is it audio? A look at a file's first bytes (its header), without decoding: what recordings
 * are refused on when they are registered, so a text file, a key or a device never becomes a
 * "recording". Headerless raw audio (µ-law, A-law, signed linear) cannot be told from any
 * other bytes and is refused: wrap it in WAV first.
 */

/** How many leading bytes `sniffAudio` looks at (it decides on fewer when the file is shorter). */
export const SNIFF_BYTES = 4096;

/** Asterisk's raw .gsm: 33-byte GSM 06.10 frames, each starting with the nibble 0xD. */
const GSM_FRAME = 33;
/** Frames that must all carry the signature: one in 16 random bytes does, 8 in a row one in 4 billion. */
const GSM_MIN_FRAMES = 8;

const MP4_BRANDS = /^(M4A |M4B |mp4[12]|iso[m2-6]|3gp[4-6]|3g2[abc]|dash|f4a )$/;

const ascii = (head: Buffer, start: number, end: number) => head.toString('latin1', start, end);

/**
 * The audio format `head` (a file's first bytes, up to SNIFF_BYTES) starts with, as a content
 * type, or undefined when it is not audio recproxy knows.
 */
export function sniffAudio(head: Buffer): string | undefined {
  const magic4 = ascii(head, 0, 4);
  if ((magic4 === 'RIFF' || magic4 === 'RF64') && ascii(head, 8, 12) === 'WAVE') return 'audio/wav';
  if (magic4 === 'OggS' && head[4] === 0) return 'audio/ogg';
  if (magic4 === 'fLaC') return 'audio/flac';
  if (magic4 === '.snd') return 'audio/basic';
  if (magic4 === 'FORM' && /^AIF[FC]$/.test(ascii(head, 8, 12))) return 'audio/aiff';
  if (magic4 === '\x1a\x45\xdf\xa3') return 'audio/webm';
  if (ascii(head, 0, 5) === '#!AMR') return 'audio/amr';
  if (ascii(head, 4, 8) === 'ftyp' && MP4_BRANDS.test(ascii(head, 8, 12))) return 'audio/mp4';
  if (ascii(head, 0, 3) === 'ID3' && head[3]! >= 2 && head[3]! <= 4) return 'audio/mpeg';
  if (isMpegFrame(head)) return 'audio/mpeg';
  if (isAdtsFrame(head)) return 'audio/aac';
  if (isGsm(head)) return 'audio/gsm';
  return undefined;
}

/** An MPEG audio frame header: 11 sync bits, a defined version and layer, a usable bitrate and rate. */
function isMpegFrame(head: Buffer): boolean {
  if (head.length < 4 || head[0] !== 0xff || (head[1]! & 0xe0) !== 0xe0) return false;
  const version = (head[1]! >> 3) & 0b11;
  const layer = (head[1]! >> 1) & 0b11;
  const bitrate = head[2]! >> 4;
  const rate = (head[2]! >> 2) & 0b11;
  return version !== 0b01 && layer !== 0b00 && bitrate !== 0b1111 && rate !== 0b11;
}

/** An AAC ADTS frame header: 12 sync bits and layer 00. */
function isAdtsFrame(head: Buffer): boolean {
  return head.length >= 7 && head[0] === 0xff && (head[1]! & 0xf6) === 0xf0;
}

function isGsm(head: Buffer): boolean {
  const frames = Math.floor(head.length / GSM_FRAME);
  if (frames < GSM_MIN_FRAMES) return false;
  for (let i = 0; i < frames; i++) if (head[i * GSM_FRAME]! >> 4 !== 0xd) return false;
  return true;
}
