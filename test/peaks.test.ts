/**
 * The peaks reducer (src/calls/peaks.ts), apart from storage: tones of known amplitude in every
 * decoded format give their amplitude, channels merge into one min and one max, silence is zero,
 * the RIFF layouts recorders write are read, any `points` is derived from the base bins, and what
 * is not decoded says what it is.
 */
import t from 'tap';
import { Readable } from 'node:stream';
import { ALAW, BASE_PAIRS, PeakReducer, ULAW, Undecodable, WaveformPeaks, mergePeaks, type BasePeaks } from '../src/calls/peaks.js';
import type { StorageAdapter } from '../src/core/storage.js';
import type { CallPeaks, CallRow } from '../src/stores/types.js';
import { Scavenger } from '../src/calls/scavenge.js';
import { linearToAlaw, linearToUlaw, makeFormatWav, tone, type SampleFormat, type WavSpec } from './helpers/wav-formats.js';

/** The base peaks of `wav`, pushed in pieces of `piece` bytes. */
function reduce(wav: Buffer, piece = 4096, basePairs = BASE_PAIRS): BasePeaks {
  const reducer = new PeakReducer(wav.length, basePairs);
  for (let at = 0; at < wav.length; at += piece) if (reducer.push(wav.subarray(at, at + piece))) break;
  return reducer.finish();
}

/** Every pair of `data`, as [min, max]. */
const pairs = (data: ArrayLike<number>) => Array.from({ length: data.length / 2 }, (_, i) => [data[i * 2], data[i * 2 + 1]]);
const SR = 8000;

t.test('G.711 tables: the reference points of the standard', async (t) => {
  t.same([ALAW[0xd5], ALAW[0x55], ALAW[0xaa], ALAW[0x2a]], [8, -8, 32256, -32256], 'A-law: smallest and largest steps');
  t.same([ULAW[0xff], ULAW[0x7f], ULAW[0x80], ULAW[0x00]], [0, 0, 32124, -32124], 'µ-law: zero and full scale');
  for (const v of [0, 100, -100, 16000, -16000, 32767, -32768]) {
    t.ok(Math.abs(ALAW[linearToAlaw(v)]! - v) <= 512, `A-law round trip of ${v} within its step`);
    t.ok(Math.abs(ULAW[linearToUlaw(v)]! - v) <= 1024, `µ-law round trip of ${v} within its step`);
  }
});

t.test('a 1 kHz tone of known amplitude, in every decoded format: every pair is its minimum and maximum', async (t) => {
  const cases: [SampleFormat, number, number][] = [
    ['s16', 16000, 16000],
    ['u8', 16384, 16384], // 8-bit 128 ± 64
    ['s24', 16000, 16000],
    ['s32', 16000, 16000],
    ['f32', 16000, 16000],
    ['alaw', 16000, ALAW[linearToAlaw(16000)]!],
    ['ulaw', 16000, ULAW[linearToUlaw(16000)]!],
  ];
  for (const [format, amplitude, expected] of cases) {
    const wav = makeFormatWav({ format, frames: 2 * SR, sample: tone(amplitude, 1000, SR) });
    const peaks = mergePeaks(reduce(wav), 100);
    t.equal(peaks.length, 100, `${format}: 100 pairs`);
    t.same(new Set(pairs(peaks.data).map((p) => p.join())), new Set([`${-expected},${expected}`]), `${format}: every pair is ±${expected}`);
    t.match(peaks, { version: 2, channels: 1, bits: 16, sample_rate: SR, samples_per_pixel: 160, duration: 2 }, `${format}: the header fields`);
  }
  t.ok(Math.abs(ALAW[linearToAlaw(16000)]! - 16000) <= 512 && Math.abs(ULAW[linearToUlaw(16000)]! - 16000) <= 512, 'G.711 keeps the amplitude within a step');
});

t.test('channels merge: the minimum over all channels and the maximum over all channels of each bin', async (t) => {
  const stereo = makeFormatWav({ channels: 2, frames: SR, sample: (f, c) => tone(c === 0 ? 16000 : 8000, 1000, SR)(f) });
  t.same(new Set(pairs(mergePeaks(reduce(stereo), 50).data).map((p) => p.join())), new Set(['-16000,16000']), 'the louder channel sets both');
  const apart = makeFormatWav({ channels: 2, frames: SR, sample: (_f, c) => (c === 0 ? 12000 : -7000) });
  t.same(new Set(pairs(mergePeaks(reduce(apart), 50).data).map((p) => p.join())), new Set(['-7000,12000']), 'max from the left, min from the right');
  const ext = makeFormatWav({ channels: 2, format: 's24', extensible: true, frames: SR, sample: (_f, c) => (c === 0 ? 12000 : -7000) });
  t.same(new Set(pairs(mergePeaks(reduce(ext), 50).data).map((p) => p.join())), new Set(['-7000,12000']), 'WAVE_FORMAT_EXTENSIBLE, 24-bit stereo');
  const six = makeFormatWav({ channels: 6, format: 'f32', extensible: true, frames: 1000, sample: (_f, c) => (c - 2) * 1000 });
  t.same(new Set(pairs(mergePeaks(reduce(six, 333), 10).data).map((p) => p.join())), new Set(['-2000,3000']), 'six float channels');
});

t.test('silence is zeros; an empty data chunk has no pairs', async (t) => {
  const peaks = mergePeaks(reduce(makeFormatWav({ frames: 10 * SR, sample: () => 0 })), 1000);
  t.equal(peaks.length, 1000);
  t.ok(peaks.data.every((v) => v === 0), 'all zero');
  const empty = mergePeaks(reduce(makeFormatWav({ frames: 0, sample: () => 0 })), 1000);
  t.match(empty, { length: 0, data: [], duration: 0, samples_per_pixel: 1 });
});

t.test('the bytes may arrive in any pieces: one byte at a time gives the same pairs', async (t) => {
  const wav = makeFormatWav({ format: 's24', channels: 2, frames: 999, sample: (f, c) => ((f * 37 + c * 1001) % 30000) - 15000, before: [{ id: 'LIST', body: Buffer.alloc(5, 1) }] });
  const whole = reduce(wav, wav.length);
  t.equal(whole.data.length, 999 * 2, 'one pair per frame when there are fewer frames than the base');
  for (const piece of [1, 2, 3, 5, 7, 64]) t.same(reduce(wav, piece), whole, `pieces of ${piece}`);
  const s16 = makeFormatWav({ channels: 3, frames: 12345, sample: (f, c) => ((f * 13 + c * 7) % 2000) - 1000 });
  // A piece of odd length starts the next one on an odd address: the unaligned path.
  const odd = Buffer.concat([Buffer.alloc(1), s16]).subarray(1); // its samples at odd addresses
  t.equal(odd.byteOffset % 2, 1);
  t.same(reduce(odd, odd.length), reduce(s16, s16.length), '16-bit, aligned or not');
});

t.test('RIFF layouts: chunks before data (odd sizes padded), trailing chunks, unfinished sizes, RF64', async (t) => {
  const sample = tone(16000, 1000, SR);
  const plain = reduce(makeFormatWav({ frames: SR, sample }));
  const loud = Buffer.alloc(4000, 0x7f); // full scale if it were read as samples
  t.same(reduce(makeFormatWav({ frames: SR, sample, before: [{ id: 'fact', body: Buffer.alloc(4) }, { id: 'LIST', body: Buffer.alloc(33, 0x7f) }, { id: 'junk', body: Buffer.alloc(0) }] })), plain, 'data after fact, an odd-sized LIST and an empty chunk');
  const trailing = Buffer.concat([Buffer.from('LIST'), Buffer.from([0xa0, 0x0f, 0, 0]), loud]);
  t.same(reduce(makeFormatWav({ frames: SR, sample, after: trailing })), plain, 'a chunk after data is not audio');
  for (const size of [0, 0xffffffff]) {
    const unfinished = reduce(makeFormatWav({ frames: SR, sample, dataSizeField: size }));
    t.same(unfinished, plain, `data size ${size}: to the end of the object`);
  }
  const tail = reduce(makeFormatWav({ frames: SR, sample, dataSizeField: 0, after: Buffer.alloc(3, 0x7f) }));
  t.equal(tail.frames, SR + 1, 'an unfinished chunk takes every whole frame to the end');
  const truncated = makeFormatWav({ frames: SR, sample }).subarray(0, 44 + SR); // half its data
  const short = reduce(truncated);
  t.equal(short.frames, SR / 2, 'a data size past the end of the object: what is there');
  t.same(pairs(mergePeaks(short, 10).data), Array(10).fill([-16000, 16000]));

  // RF64: the size in the ds64 chunk, 0xFFFFFFFF in the header.
  const wav = makeFormatWav({ frames: SR, sample, dataSizeField: 0xffffffff, before: [{ id: 'ds64', body: Buffer.alloc(28) }], after: trailing });
  wav.write('RF64', 0, 'latin1');
  wav.writeUInt32LE(0xffffffff, 4);
  const ds64 = wav.indexOf('ds64') + 8;
  wav.writeBigUInt64LE(BigInt(wav.length - 8), ds64);
  wav.writeBigUInt64LE(BigInt(SR * 2), ds64 + 8);
  t.same(reduce(wav), plain, 'RF64: the data size from ds64, the trailing chunk left out');
});

t.test('points: exactly the number asked for, each pair the merge of whole base bins', async (t) => {
  // A ramp: frame f is f - 10000, 20000 frames, so base bin j holds frames 2j and 2j+1.
  const ramp = reduce(makeFormatWav({ frames: 20000, sample: (f) => f - 10000 }));
  t.equal(ramp.data.length, BASE_PAIRS * 2);
  t.same(pairs(mergePeaks(ramp, 4).data), [[-10000, -5001], [-5000, -1], [0, 4999], [5000, 9999]]);
  t.same(pairs(mergePeaks(ramp, BASE_PAIRS).data).slice(0, 2), [[-10000, -9999], [-9998, -9997]], 'the base itself');
  for (const points of [1, 3, 999, 3000, 7001, 10000]) {
    const p = mergePeaks(ramp, points);
    t.equal(p.length, points, `${points} pairs`);
    t.equal(p.data.length, points * 2);
    t.same([p.data[0], p.data.at(-1)], [-10000, 9999], `${points}: the first and last sample are in`);
    t.equal(p.samples_per_pixel, Math.round(20000 / points));
  }
  const few = mergePeaks(reduce(makeFormatWav({ frames: 5, sample: (f) => f * 100 })), 1000);
  t.equal(few.length, 5, 'fewer pairs only when there are fewer samples');
  t.same(pairs(few.data), [[0, 0], [100, 100], [200, 200], [300, 300], [400, 400]]);
  const uneven = reduce(makeFormatWav({ frames: 10007, sample: (f) => f % 2 }), 997);
  t.equal(uneven.data.length, BASE_PAIRS * 2, 'frames that do not divide evenly: still the full base');
});

t.test('what is not decoded says what it is', async (t) => {
  const fail = (wav: Buffer, message: RegExp, label: string) => {
    let thrown: unknown;
    try {
      reduce(wav);
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof Undecodable, `${label}: undecodable`);
    t.match((thrown as Error | undefined)?.message, message, label);
  };
  const spec = (format: SampleFormat, extra: Partial<WavSpec> = {}) => makeFormatWav({ format, frames: 100, sample: () => 0, ...extra });
  fail(spec({ tag: 0x55, bits: 16 }), /format tag 0x0055 \(MPEG Layer 3\)/, 'MP3 in WAV');
  fail(spec({ tag: 0x31, bits: 8 }), /0x0031 \(GSM 6\.10\)/, 'GSM 6.10');
  fail(spec({ tag: 0x11, bits: 8 }, { extensible: true }), /0x0011 \(IMA ADPCM\)/, 'ADPCM, extensible');
  fail(spec({ tag: 1, bits: 12 }), /0x0001 \(PCM, 12-bit\)/, '12-bit PCM');
  fail(spec({ tag: 3, bits: 64 }), /0x0003 \(IEEE float, 64-bit\)/, '64-bit float');
  fail(spec({ tag: 0x1234, bits: 16 }), /0x1234 \(unknown\)/, 'an unknown tag');
  fail(Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00 an mp3'), /not a RIFF\/WAVE file/, 'not RIFF');
  fail(Buffer.from('RIFF'), /not a RIFF\/WAVE file/, 'fewer than 12 bytes');
  fail(spec('s16').subarray(0, 30), /no data chunk/, 'a header cut short');
  const noFmt = spec('s16');
  noFmt.write('fmtX', 12, 'latin1');
  fail(noFmt, /data chunk comes before its fmt chunk/, 'no fmt chunk');
  const badAlign = spec('s16');
  badAlign.writeUInt16LE(3, 32);
  fail(badAlign, /inconsistent/, 'a block align that does not fit');
  const shortFmt = spec('s16');
  shortFmt.writeUInt32LE(14, 16);
  fail(shortFmt, /fmt chunk is too short/, 'a fmt chunk under 16 bytes');
  const badGuid = spec('s16', { extensible: true });
  badGuid[59] = 0;
  fail(badGuid, /WAVE_FORMAT_EXTENSIBLE, sub-format/, 'a sub-format that is not a tag GUID');
});

t.test('the read buffers are freed as the reading goes: a scavenge every few MiB', async (t) => {
  const scavenger = new Scavenger(1000);
  t.equal(scavenger.read(600), false, 'not yet');
  t.equal(scavenger.read(600), true, 'past the step: a scavenge ran');
  t.equal(scavenger.read(600), false, 'counted again from there');
  t.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'the main context gets no global gc');
});

t.test('concurrent first requests share one reading; a cache write refused still answers', async (t) => {
  const wav = makeFormatWav({ frames: SR, sample: tone(16000, 1000, SR) });
  let reads = 0;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const storage = {
    read: async () => {
      reads++;
      await held;
      return { meta: { size: wav.length, etag: '"x"', lastModified: new Date() }, body: Readable.from([wav.subarray(0, 100), wav.subarray(100)]) };
    },
  } as unknown as StorageAdapter;
  const puts: CallPeaks[] = [];
  const index = {
    getPeaks: async () => undefined,
    putPeaks: async (_sid: string, peaks: CallPeaks) => {
      puts.push(peaks);
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    },
  };
  const waveform = new WaveformPeaks({ index, storage });
  const call = { call_sid: 'call_1', sha256: 'a'.repeat(64), content_type: 'audio/wav', storage_key: 'k' } as CallRow;
  const answers = [waveform.peaks(call, 10), waveform.peaks(call, 20), waveform.peaks(call, 10)];
  await new Promise((resolve) => setImmediate(resolve));
  release();
  const [a, b, c] = await Promise.all(answers);
  t.equal(reads, 1, 'one storage read for three requests');
  t.equal(puts.length, 1, 'one cache write, refused');
  t.same([a!.length, b!.length], [10, 20]);
  t.same(a, c);
  await waveform.peaks(call, 10);
  t.equal(reads, 2, 'nothing cached (the write was refused): the next request reads again');
  await t.rejects(waveform.peaks({ ...call, content_type: 'audio/mpeg' }, 10), { code: 'WAVEFORM_UNAVAILABLE', statusCode: 422 });
  t.equal(reads, 2, 'a type the daemon does not decode is refused without a read');
});
