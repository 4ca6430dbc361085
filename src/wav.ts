/** Reads a RIFF/WAVE header to learn a recording's duration, without decoding audio. */

/** Duration in milliseconds, or null when `head` (the file's first bytes) is not a PCM-style WAV. */
export function wavDurationMs(head: Buffer, fileSize: number): number | null {
  if (head.length < 12 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') {
    return null;
  }
  let byteRate = 0;
  let offset = 12;
  while (offset + 8 <= head.length) {
    const id = head.toString('ascii', offset, offset + 4);
    const size = head.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ' && body + 12 <= head.length) byteRate = head.readUInt32LE(body + 8);
    if (id === 'data') {
      if (byteRate === 0) return null;
      const dataBytes = Math.min(size, fileSize - body);
      return Math.round((dataBytes / byteRate) * 1000);
    }
    offset = body + size + (size % 2);
  }
  return null;
}

/** Names of WAV format tags met in telephony recordings (for messages). */
const FORMAT_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0011: 'IMA ADPCM',
  0x0022: 'DSP Group TrueSpeech',
  0x0031: 'GSM 6.10',
  0x0040: 'G.721 ADPCM',
  0x0050: 'MPEG',
  0x0055: 'MPEG Layer 3',
  0x0064: 'G.726 ADPCM',
  0x0065: 'G.722 ADPCM',
};

/** What a WAV format tag (with its bits per sample) is, in words: `PCM, 12-bit`, `GSM 6.10`. */
export function wavFormatName(tag: number, bits: number): string {
  if (tag === 1) return `PCM, ${bits}-bit`;
  if (tag === 3) return `IEEE float, ${bits}-bit`;
  if (tag === 6) return `A-law, ${bits}-bit`;
  if (tag === 7) return `µ-law, ${bits}-bit`;
  return FORMAT_NAMES[tag] ?? 'unknown';
}
