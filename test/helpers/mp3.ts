/**
 * Test MP3 made in code: MPEG-1 Layer III frame headers (128 kbit/s, 44.1 kHz, mono, no
 * padding) with zero payloads. Enough for music-metadata to find the format and count the
 * duration (1152 samples a frame), and for src/audio-sniff.ts to take it as audio/mpeg.
 */
const FRAME_BYTES = Math.floor((144 * 128_000) / 44_100); // 417
const SAMPLES_PER_FRAME = 1152;

/** About `seconds` of silence; its exact duration in ms is `mp3DurationMs(buffer)`. */
export function makeMp3(seconds: number): Buffer {
  const frames = Math.round((seconds * 44_100) / SAMPLES_PER_FRAME);
  const buf = Buffer.alloc(FRAME_BYTES * frames);
  for (let i = 0; i < frames; i++) buf.set([0xff, 0xfb, 0x90, 0xc0], i * FRAME_BYTES);
  return buf;
}

/** The duration of a `makeMp3` buffer, in whole ms. */
export function mp3DurationMs(mp3: Buffer): number {
  return Math.round(((mp3.length / FRAME_BYTES) * SAMPLES_PER_FRAME * 1000) / 44_100);
}
