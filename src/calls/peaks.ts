/**
 * A recording's waveform: min/max peaks in audiowaveform's JSON v2 shape (channels merged), for a
 * player that draws it without fetching the audio (GET /api/calls/{call_sid}/recording/peaks).
 *
 * The rule: the peaks are computed once per recording, at a base resolution of BASE_PAIRS pairs
 * (one pair per sample frame when the recording has fewer frames), and cached in the index beside
 * the call with the sha256 of the bytes they came from (CallIndex.putPeaks). Any `points` is then
 * derived from the base by merging whole base bins (mergePeaks), so one computation serves every
 * width. A call whose sha256 is no longer that of the cached peaks recomputes; a deleted call is
 * not found (and its peaks are dropped with it). Concurrent first requests for the same bytes
 * share one computation. A WAV whose codec is not decoded is cached too, as the reason.
 *
 * The computation reads the object through the storage adapter as a stream, once, in constant
 * memory (PeakReducer holds one bin and a few header bytes; the read buffers are freed as it goes,
 * src/calls/scavenge.ts), and stops at the end of the data chunk.
 */
import { WaveformUnavailable } from '../core/errors.js';
import { extensionForType } from '../core/media-types.js';
import type { StorageAdapter } from '../core/storage.js';
import type { CallIndex, CallPeaks, CallRow } from '../stores/types.js';
import { wavFormatName } from '../wav.js';
import { Scavenger } from './scavenge.js';

/** Pairs computed per recording, and the most a request may ask for. */
export const BASE_PAIRS = 10_000;
/** `points` when a request names none. */
export const DEFAULT_POINTS = 1000;

/** The peaks body (src/schemas.ts PeaksBody). */
export interface PeaksJson {
  version: 2;
  channels: 1;
  sample_rate: number;
  samples_per_pixel: number;
  bits: 16;
  length: number;
  duration: number;
  data: number[];
}

/** What the reducer finds: the pairs at the base resolution. */
export interface BasePeaks {
  sampleRate: number;
  frames: number;
  data: Int16Array;
}

/** The bytes are not a WAV the reducer decodes; `reason` says what they are. */
export class Undecodable extends Error {}

type Codec = 'u8' | 's16' | 's24' | 's32' | 'f32' | 'alaw' | 'ulaw';

/** The tail of every KSDATAFORMAT_SUBTYPE GUID (WAVE_FORMAT_EXTENSIBLE): the format tag is its first two bytes. */
const SUBTYPE_TAIL = Buffer.from('000000001000800000aa00389b71', 'hex');

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** G.711 A-law byte → 16-bit linear (ITU-T G.711, as Sun's g711.c decodes it). */
export const ALAW = Int16Array.from({ length: 256 }, (_, byte) => {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
});

/** G.711 µ-law byte → 16-bit linear. */
export const ULAW = Int16Array.from({ length: 256 }, (_, byte) => {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
});

type State = 'riff' | 'chunk' | 'fmt' | 'ds64' | 'skip' | 'data' | 'done';

/**
 * Reduces a WAV's bytes, pushed in order in chunks of any size, to min/max pairs over all
 * channels at `basePairs` bins (fewer when there are fewer frames): bin j holds frames
 * [⌊j·F/B⌋, ⌊(j+1)·F/B⌋). Reads the RIFF header as it comes: chunks before `data` are skipped
 * (an odd size with its pad byte), WAVE_FORMAT_EXTENSIBLE and RF64's ds64 are understood, and a
 * data size of 0 or 0xFFFFFFFF (a recorder that never finished) runs to the end of the object.
 * Samples are scaled to 16 bits (8-bit unsigned, 24/32-bit integer, 32-bit float, A-law, µ-law).
 * Pure: no I/O. @throws Undecodable from `push` or `finish`
 */
export class PeakReducer {
  readonly #size: number;
  readonly #basePairs: number;
  #state: State = 'riff';
  /** Header bytes gathered for the current step, and how many it needs. */
  #pending = Buffer.alloc(0);
  #need = 12;
  /** Bytes of the object consumed so far. */
  #offset = 0;
  #skip = 0;
  #afterSkip: State = 'chunk';
  #rf64 = false;
  #ds64DataSize: number | undefined;
  #format: { codec: Codec; sampleRate: number; blockAlign: number; sampleBytes: number } | undefined;
  // The data chunk
  #frames = 0;
  #dataBytes = 0;
  #dataPos = 0;
  #carry = Buffer.alloc(0);
  #bins = 0;
  #bin = 0;
  #binEnd = 0;
  #min = Infinity;
  #max = -Infinity;
  #data = new Int16Array(0);

  /** `size`: the object's size in bytes (where an unfinished data chunk ends). */
  constructor(size: number, basePairs = BASE_PAIRS) {
    this.#size = size;
    this.#basePairs = basePairs;
  }

  /** Feeds the next bytes. @returns true once the data chunk is complete (the rest is not needed) */
  push(chunk: Buffer): boolean {
    let at = 0;
    while (at < chunk.length && this.#state !== 'done') {
      if (this.#state === 'data') {
        at = this.#takeData(chunk, at);
      } else if (this.#state === 'skip') {
        const n = Math.min(this.#skip, chunk.length - at);
        this.#skip -= n;
        this.#offset += n;
        at += n;
        if (this.#skip === 0) this.#state = this.#afterSkip;
      } else {
        const n = Math.min(this.#need - this.#pending.length, chunk.length - at);
        this.#pending = Buffer.concat([this.#pending, chunk.subarray(at, at + n)]);
        this.#offset += n;
        at += n;
        if (this.#pending.length === this.#need) {
          const piece = this.#pending;
          this.#pending = Buffer.alloc(0);
          this.#header(piece);
        }
      }
    }
    return this.#state === 'done';
  }

  /** The pairs, once every byte was pushed. @throws Undecodable when no data chunk was reached */
  finish(): BasePeaks {
    if (this.#state !== 'data' && this.#state !== 'done') {
      throw new Undecodable(this.#state === 'riff' ? 'the bytes are not a RIFF/WAVE file' : 'the WAV has no data chunk');
    }
    // An object shorter than its data chunk: the bins not reached stay 0.
    if (this.#state === 'data' && this.#min <= this.#max) this.#closeBin();
    this.#state = 'done';
    return { sampleRate: this.#format!.sampleRate, frames: this.#frames, data: this.#data };
  }

  #skipThen(bytes: number, next: State): void {
    if (bytes === 0) {
      this.#state = next;
      this.#need = 8;
      return;
    }
    this.#skip = bytes;
    this.#afterSkip = next;
    this.#need = 8;
    this.#state = 'skip';
  }

  #header(piece: Buffer): void {
    switch (this.#state) {
      case 'riff': {
        const magic = piece.toString('latin1', 0, 4);
        if ((magic !== 'RIFF' && magic !== 'RF64') || piece.toString('latin1', 8, 12) !== 'WAVE') throw new Undecodable('the bytes are not a RIFF/WAVE file');
        this.#rf64 = magic === 'RF64';
        this.#state = 'chunk';
        this.#need = 8;
        return;
      }
      case 'chunk': {
        const id = piece.toString('latin1', 0, 4);
        const size = piece.readUInt32LE(4);
        const padded = size + (size & 1);
        if (id === 'fmt ') {
          if (size < 16) throw new Undecodable('its fmt chunk is too short');
          this.#need = Math.min(size, 40);
          this.#skip = padded - this.#need;
          this.#state = 'fmt';
        } else if (id === 'ds64' && this.#rf64 && size >= 16) {
          this.#need = 16;
          this.#skip = padded - 16;
          this.#state = 'ds64';
        } else if (id === 'data') {
          this.#startData(size);
        } else {
          this.#skipThen(padded, 'chunk');
        }
        return;
      }
      case 'fmt':
        this.#readFormat(piece);
        this.#skipThen(this.#skip, 'chunk');
        return;
      case 'ds64':
        this.#ds64DataSize = Number(piece.readBigUInt64LE(8));
        this.#skipThen(this.#skip, 'chunk');
        return;
    }
  }

  #readFormat(fmt: Buffer): void {
    let tag = fmt.readUInt16LE(0);
    const channels = fmt.readUInt16LE(2);
    const sampleRate = fmt.readUInt32LE(4);
    const blockAlign = fmt.readUInt16LE(12);
    const bits = fmt.readUInt16LE(14);
    if (tag === 0xfffe) {
      // WAVE_FORMAT_EXTENSIBLE: the real tag leads the SubFormat GUID; bits is the container size.
      if (fmt.length < 40 || !fmt.subarray(26, 40).equals(SUBTYPE_TAIL)) throw new Undecodable(`its WAV format (WAVE_FORMAT_EXTENSIBLE, sub-format ${fmt.length >= 40 ? fmt.subarray(24, 40).toString('hex') : 'missing'}) is not decoded`);
      tag = fmt.readUInt16LE(24);
    }
    const codec = codecOf(tag, bits);
    if (!codec) throw new Undecodable(`its WAV format tag 0x${tag.toString(16).padStart(4, '0')} (${wavFormatName(tag, bits)}) is not decoded`);
    const sampleBytes = bits / 8;
    if (channels === 0 || sampleRate === 0 || blockAlign !== channels * sampleBytes) {
      throw new Undecodable(`its fmt chunk is inconsistent (${channels} channels, ${sampleRate} Hz, ${bits} bits, block align ${blockAlign})`);
    }
    this.#format = { codec, sampleRate, blockAlign, sampleBytes };
  }

  #startData(size: number): void {
    if (!this.#format) throw new Undecodable('its data chunk comes before its fmt chunk');
    const available = Math.max(0, this.#size - this.#offset);
    const unfinished = size === 0 || size === 0xffffffff;
    const declared = this.#rf64 && size === 0xffffffff && this.#ds64DataSize !== undefined ? this.#ds64DataSize : unfinished ? available : size;
    const { blockAlign } = this.#format;
    this.#frames = Math.floor(Math.min(declared, available) / blockAlign);
    this.#dataBytes = this.#frames * blockAlign;
    this.#bins = Math.min(this.#basePairs, this.#frames);
    this.#data = new Int16Array(this.#bins * 2);
    this.#bin = 0;
    this.#binEnd = this.#boundary(0);
    this.#state = this.#frames === 0 ? 'done' : 'data';
  }

  /** The data byte where bin `j` ends. */
  #boundary(j: number): number {
    return Math.floor(((j + 1) * this.#frames) / this.#bins) * this.#format!.blockAlign;
  }

  #takeData(chunk: Buffer, at: number): number {
    const { sampleBytes } = this.#format!;
    const take = Math.min(chunk.length - at, this.#dataBytes - this.#dataPos - this.#carry.length);
    let buf = chunk.subarray(at, at + take);
    if (this.#carry.length) buf = Buffer.concat([this.#carry, buf]);
    const usable = buf.length - (buf.length % sampleBytes);
    this.#carry = Buffer.from(buf.subarray(usable));
    for (let p = 0; p < usable; ) {
      const n = Math.min(this.#binEnd - this.#dataPos, usable - p);
      this.#scan(buf, p, p + n);
      p += n;
      this.#dataPos += n;
      if (this.#dataPos === this.#binEnd) this.#closeBin();
    }
    this.#offset += take;
    if (this.#dataPos === this.#dataBytes) this.#state = 'done';
    return at + take;
  }

  #closeBin(): void {
    this.#data[this.#bin * 2] = this.#min;
    this.#data[this.#bin * 2 + 1] = this.#max;
    this.#min = Infinity;
    this.#max = -Infinity;
    this.#bin++;
    if (this.#bin < this.#bins) this.#binEnd = this.#boundary(this.#bin);
  }

  /** Folds the samples of buf[from, to) (whole samples, any channel) into the bin's min and max. */
  #scan(buf: Buffer, from: number, to: number): void {
    let min = this.#min;
    let max = this.#max;
    switch (this.#format!.codec) {
      case 's16':
        if (LITTLE_ENDIAN && ((buf.byteOffset + from) & 1) === 0) {
          const samples = new Int16Array(buf.buffer, buf.byteOffset + from, (to - from) >> 1);
          for (let i = 0; i < samples.length; i++) {
            const v = samples[i]!;
            if (v < min) min = v;
            if (v > max) max = v;
          }
        } else {
          for (let i = from; i < to; i += 2) {
            const v = buf.readInt16LE(i);
            if (v < min) min = v;
            if (v > max) max = v;
          }
        }
        break;
      case 'u8':
        for (let i = from; i < to; i++) {
          const v = (buf[i]! - 128) * 256;
          if (v < min) min = v;
          if (v > max) max = v;
        }
        break;
      case 's24':
        for (let i = from; i < to; i += 3) {
          // The top 16 of 24 bits, sign-extended.
          const v = ((buf[i + 1]! | (buf[i + 2]! << 8)) << 16) >> 16;
          if (v < min) min = v;
          if (v > max) max = v;
        }
        break;
      case 's32':
        for (let i = from; i < to; i += 4) {
          const v = buf.readInt16LE(i + 2);
          if (v < min) min = v;
          if (v > max) max = v;
        }
        break;
      case 'f32':
        for (let i = from; i < to; i += 4) {
          const f = buf.readFloatLE(i);
          const v = f >= 1 ? 32767 : f <= -1 ? -32768 : f === f ? Math.round(f * 32768) : 0;
          const c = v > 32767 ? 32767 : v;
          if (c < min) min = c;
          if (c > max) max = c;
        }
        break;
      case 'alaw':
      case 'ulaw': {
        const table = this.#format!.codec === 'alaw' ? ALAW : ULAW;
        for (let i = from; i < to; i++) {
          const v = table[buf[i]!]!;
          if (v < min) min = v;
          if (v > max) max = v;
        }
        break;
      }
    }
    this.#min = min;
    this.#max = max;
  }
}

/** The reducer's codec for a WAV format tag and sample size; undefined when not decoded. */
function codecOf(tag: number, bits: number): Codec | undefined {
  if (tag === 1) return ({ 8: 'u8', 16: 's16', 24: 's24', 32: 's32' } as const)[bits as 8];
  if (tag === 3 && bits === 32) return 'f32';
  if (tag === 6 && bits === 8) return 'alaw';
  if (tag === 7 && bits === 8) return 'ulaw';
  return undefined;
}

/**
 * `points` pairs (fewer when the base has fewer) from the base pairs: pair i merges base bins
 * [⌊i·B/N⌋, ⌊(i+1)·B/N⌋), their minimum and maximum. `samples_per_pixel` is the mean number of
 * frames a pair covers, rounded.
 */
export function mergePeaks(base: BasePeaks, points: number): PeaksJson {
  const bins = base.data.length / 2;
  const length = Math.min(points, bins);
  const data = new Array<number>(length * 2);
  for (let i = 0; i < length; i++) {
    const from = Math.floor((i * bins) / length);
    const to = Math.floor(((i + 1) * bins) / length);
    let min = base.data[from * 2]!;
    let max = base.data[from * 2 + 1]!;
    for (let k = from + 1; k < to; k++) {
      if (base.data[k * 2]! < min) min = base.data[k * 2]!;
      if (base.data[k * 2 + 1]! > max) max = base.data[k * 2 + 1]!;
    }
    data[i * 2] = min;
    data[i * 2 + 1] = max;
  }
  return {
    version: 2,
    channels: 1,
    sample_rate: base.sampleRate,
    samples_per_pixel: length ? Math.max(1, Math.round(base.frames / length)) : 1,
    bits: 16,
    length,
    duration: base.frames / base.sampleRate,
    data,
  };
}

/** What the waveform uses: the index's peaks cache and the storage. */
export interface PeaksDeps {
  index: Pick<CallIndex, 'getPeaks' | 'putPeaks'>;
  storage: StorageAdapter;
}

const UNAVAILABLE = (what: string) => `no waveform for this recording: ${what}, which the daemon does not decode; the recording still plays`;

/** The waveforms of recordings, cached in the index (the rule: this file's header). */
export class WaveformPeaks {
  readonly #deps: PeaksDeps;
  /** Computations in flight, by call and sha256: concurrent first requests share one. */
  readonly #inflight = new Map<string, Promise<CallPeaks>>();

  constructor(deps: PeaksDeps) {
    this.#deps = deps;
  }

  /**
   * `points` pairs of the recording of `call`.
   * @throws WaveformUnavailable (not a WAV the daemon decodes), ObjectNotFound, StorageUnavailable
   */
  async peaks(call: CallRow, points: number): Promise<PeaksJson> {
    if (extensionForType(call.content_type) !== 'wav') throw new WaveformUnavailable(UNAVAILABLE(`it is ${call.content_type}`));
    const key = `${call.call_sid}\u0000${call.sha256}`;
    let base = this.#inflight.get(key);
    if (!base) {
      base = this.#load(call).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, base);
    }
    const peaks = await base;
    if (peaks.unavailable !== null) throw new WaveformUnavailable(UNAVAILABLE(peaks.unavailable));
    return mergePeaks(peaks, points);
  }

  async #load(call: CallRow): Promise<CallPeaks> {
    const cached = await this.#deps.index.getPeaks(call.call_sid);
    if (cached && cached.sha256 === call.sha256) return cached;
    const computed = await this.#compute(call);
    // The answer stands without the cache (a write refused by a lock): the next request computes again.
    await this.#deps.index.putPeaks(call.call_sid, computed).catch(() => false);
    return computed;
  }

  async #compute(call: CallRow): Promise<CallPeaks> {
    const { meta, body } = await this.#deps.storage.read(call.storage_key);
    const reducer = new PeakReducer(meta.size);
    try {
      try {
        // The read buffers are dead once reduced: freed every few MiB, not left to pile up (scavenge.ts).
        const scavenger = new Scavenger();
        for await (const chunk of body) {
          if (reducer.push(chunk as Buffer)) break;
          scavenger.read((chunk as Buffer).length);
        }
      } finally {
        body.destroy();
      }
      return { sha256: call.sha256, unavailable: null, ...reducer.finish() };
    } catch (err) {
      if (!(err instanceof Undecodable)) throw err;
      return { sha256: call.sha256, unavailable: err.message, sampleRate: 0, frames: 0, data: new Int16Array(0) };
    }
  }
}
