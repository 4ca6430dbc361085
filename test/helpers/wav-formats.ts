/**
 * Test WAVs of every layout the peaks reducer (src/calls/peaks.ts) reads, made in code: PCM of
 * 8/16/24/32 bits, 32-bit float, A-law and µ-law (encoded here by ITU-T G.711's rules), any number
 * of channels, WAVE_FORMAT_EXTENSIBLE, chunks before `data` (odd-sized, with their pad byte), and
 * the data sizes an unfinished recorder leaves (0, 0xFFFFFFFF).
 */

export type SampleFormat = 'u8' | 's16' | 's24' | 's32' | 'f32' | 'alaw' | 'ulaw' | { tag: number; bits: number };

export interface WavSpec {
  sampleRate?: number;
  channels?: number;
  format?: SampleFormat;
  /** Frames of audio. */
  frames: number;
  /** The sample of `channel` at `frame`, on the 16-bit scale (-32768..32767; f32: /32768). */
  sample: (frame: number, channel: number) => number;
  /** WAVE_FORMAT_EXTENSIBLE with the format's tag in the SubFormat GUID. */
  extensible?: boolean;
  /** Chunks between `fmt ` and `data` (ids of 4 characters, any bodies; odd sizes get a pad byte). */
  before?: { id: string; body: Buffer }[];
  /** The data chunk's size field as written (default: the real size). */
  dataSizeField?: number;
  /** Bytes after the data chunk (a LIST chunk a recorder appends). */
  after?: Buffer;
}

/** A sine of `amplitude` (16-bit scale) at `hz`. */
export const tone = (amplitude: number, hz: number, sampleRate: number) => (frame: number) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * frame) / sampleRate));

/** 16-bit linear → A-law (G.711; Sun's g711.c linear2alaw). */
export function linearToAlaw(pcm: number): number {
  const SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let v = pcm >> 3;
  let mask: number;
  if (v >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = SEG_END.findIndex((end) => v <= end);
  if (seg === -1) return 0x7f ^ mask;
  const aval = seg << 4 | (seg < 2 ? (v >> 1) & 0xf : (v >> seg) & 0xf);
  return aval ^ mask;
}

/** 16-bit linear → µ-law (G.711; Sun's g711.c linear2ulaw). */
export function linearToUlaw(pcm: number): number {
  const SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
  let v = pcm >> 2;
  let mask: number;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  } else mask = 0xff;
  if (v > 8159) v = 8159;
  v += 0x84 >> 2;
  const seg = SEG_END.findIndex((end) => v <= end);
  if (seg === -1) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0xf)) ^ mask;
}

const TAGS: Record<string, [number, number]> = { u8: [1, 8], s16: [1, 16], s24: [1, 24], s32: [1, 32], f32: [3, 32], alaw: [6, 8], ulaw: [7, 8] };

function writeSample(buf: Buffer, at: number, format: SampleFormat, v: number): void {
  if (typeof format === 'object') return;
  switch (format) {
    case 'u8':
      buf[at] = (v >> 8) + 128;
      return;
    case 's16':
      buf.writeInt16LE(v, at);
      return;
    case 's24':
      buf.writeIntLE(v * 256, at, 3);
      return;
    case 's32':
      buf.writeInt32LE(v * 65536, at);
      return;
    case 'f32':
      buf.writeFloatLE(v / 32768, at);
      return;
    case 'alaw':
      buf[at] = linearToAlaw(v);
      return;
    case 'ulaw':
      buf[at] = linearToUlaw(v);
      return;
  }
}

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length & 1)]);
}

/** The WAV `spec` describes. */
export function makeFormatWav(spec: WavSpec): Buffer {
  const { sampleRate = 8000, channels = 1, format = 's16', frames } = spec;
  const [tag, bits] = typeof format === 'object' ? [format.tag, format.bits] : TAGS[format]!;
  const sampleBytes = Math.ceil(bits / 8);
  const blockAlign = channels * sampleBytes;
  const fmt = Buffer.alloc(spec.extensible ? 40 : 16);
  fmt.writeUInt16LE(spec.extensible ? 0xfffe : tag, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(sampleRate, 4);
  fmt.writeUInt32LE(sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(bits, 14);
  if (spec.extensible) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(bits, 18); // valid bits
    fmt.writeUInt32LE(channels === 2 ? 3 : 4, 20); // channel mask
    fmt.writeUInt16LE(tag, 24);
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(fmt, 26);
  }
  const data = Buffer.alloc(frames * blockAlign);
  for (let f = 0; f < frames; f++) for (let c = 0; c < channels; c++) writeSample(data, f * blockAlign + c * sampleBytes, format, spec.sample(f, c));
  const dataChunk = chunk('data', data);
  if (spec.dataSizeField !== undefined) dataChunk.writeUInt32LE(spec.dataSizeField, 4);
  const body = Buffer.concat([
    Buffer.from('WAVE', 'latin1'),
    chunk('fmt ', fmt),
    ...(spec.before ?? []).map((c) => chunk(c.id, c.body)),
    dataChunk,
    spec.after ?? Buffer.alloc(0),
  ]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}
