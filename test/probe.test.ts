/**
 * What the bytes say (src/calls/probe.ts): the content type from the header, the duration from
 * a WAV header or, for MP3 and the rest, from music-metadata fed the same chunks, with or
 * without a known size; nothing for bytes that are not audio, null for audio it cannot read.
 */
import t from 'tap';
import { Readable } from 'node:stream';
import { AudioProbe, PROBE_HEAD_BYTES, probeStream } from '../src/calls/probe.js';
import { makeMp3, mp3DurationMs } from './helpers/mp3.js';
import { makeWav } from './helpers/wav.js';

/** `bytes` as a byte stream of `size`-byte chunks. */
function chunked(bytes: Buffer, size = 1000): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks, { objectMode: false });
}

/** A WAV whose data chunk starts past the probe's head: a LIST chunk of `pad` bytes first. */
function wavWithLongHeader(seconds: number, pad: number): Buffer {
  const plain = makeWav(seconds);
  const list = Buffer.alloc(8 + pad);
  list.write('LIST', 0, 'ascii');
  list.writeUInt32LE(pad, 4);
  const out = Buffer.concat([plain.subarray(0, 36), list, plain.subarray(36)]);
  out.writeUInt32LE(out.length - 8, 4);
  return out;
}

t.test('WAV: from its header, with or without the size known up front', async (t) => {
  const wav = makeWav(2.5);
  t.same(await probeStream(chunked(wav), wav.length), { contentType: 'audio/wav', durationMs: 2500 });
  t.same(await probeStream(chunked(wav, 7)), { contentType: 'audio/wav', durationMs: 2500 }, 'small chunks, no size');
  const long = wavWithLongHeader(1.5, 2 * PROBE_HEAD_BYTES);
  t.same(await probeStream(chunked(long)), { contentType: 'audio/wav', durationMs: 1500 }, 'data chunk past the head: the parser reads it');
});

t.test('MP3: music-metadata’s duration, from the size when known, else counting frames to the end', async (t) => {
  const mp3 = makeMp3(10);
  const expected = mp3DurationMs(mp3);
  t.ok(expected > 9900 && expected < 10100, `about 10 s (${expected} ms)`);
  t.same(await probeStream(chunked(mp3), mp3.length), { contentType: 'audio/mpeg', durationMs: expected });
  t.same(await probeStream(chunked(mp3, 333)), { contentType: 'audio/mpeg', durationMs: expected }, 'no size: frames counted');
  const big = makeMp3(120);
  t.same(await probeStream(chunked(big, 64 * 1024)), { contentType: 'audio/mpeg', durationMs: mp3DurationMs(big) }, 'two minutes (2 MB), through the parser’s bounded buffer');
});

t.test('not audio: nothing; audio the parser cannot read: the type, no duration', async (t) => {
  t.equal(await probeStream(chunked(Buffer.from('hello, this is text, not a recording'))), undefined);
  t.equal(await probeStream(Readable.from([], { objectMode: false })), undefined, 'empty');
  t.equal(AudioProbe.start(Buffer.from('plain text')), undefined);
  const ogg = Buffer.concat([Buffer.from('OggS\0'), Buffer.alloc(20_000, 7)]);
  t.same(await probeStream(chunked(ogg)), { contentType: 'audio/ogg', durationMs: null });
  const short = makeWav(0.01);
  t.same(await probeStream(Readable.from([short], { objectMode: false })), { contentType: 'audio/wav', durationMs: 10 }, 'shorter than the head');
});

t.test('a probe stopped mid-way answers without a parser’s duration, and never hangs', async (t) => {
  const mp3 = makeMp3(20);
  const probe = AudioProbe.start(mp3.subarray(0, PROBE_HEAD_BYTES))!;
  t.equal(probe.contentType, 'audio/mpeg');
  for (let i = 0; i < mp3.length / 2; i += 4096) await probe.feed(mp3.subarray(i, i + 4096));
  probe.abort();
  t.same(await probe.finish(mp3.length / 2), { contentType: 'audio/mpeg', durationMs: null });
  t.equal(probe.feed(Buffer.alloc(10)), undefined, 'feeding after the parser is gone does nothing');
});
