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
