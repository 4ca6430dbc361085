/**
 * What a recording's bytes say about it, not what its sender claims: its content type (from its
 * header, src/audio-sniff.ts) and its duration (WAV: from its header, src/wav.ts; MP3 and the
 * other formats: music-metadata). Registration (src/calls/register.ts) feeds the probe the same
 * chunks it hashes and stores, so the bytes are read once; the parser is fed only until it has
 * its answer, and a slow parser slows the stream (backpressure) rather than buffering it.
 */
import { PassThrough, type Readable } from 'node:stream';
import { SNIFF_BYTES, sniffAudio } from '../audio-sniff.js';
import { wavDurationMs } from '../wav.js';

/** How many leading bytes `AudioProbe.start` wants (fewer only when the recording is shorter). */
export const PROBE_HEAD_BYTES = SNIFF_BYTES;

/** What the bytes say. `durationMs` is null when they do not tell (an unparsable body). */
export interface Probed {
  contentType: string;
  durationMs: number | null;
}

/** The parser's input buffer: how far it may lag behind the stream it is fed from. */
const PARSER_BUFFER = 256 * 1024;

/** One recording's bytes, probed as they stream past. */
export class AudioProbe {
  readonly contentType: string;
  readonly #head: Buffer;
  /** The parser's input, while it still wants bytes. */
  #input: PassThrough | undefined;
  #parsed: Promise<number | null> | undefined;

  private constructor(head: Buffer, contentType: string, size: number | undefined) {
    this.#head = head;
    this.contentType = contentType;
    // A WAV whose header holds its format and data chunk needs no parser.
    if (contentType === 'audio/wav' && wavDurationMs(head, Number.MAX_SAFE_INTEGER) !== null) return;
    const input = (this.#input = new PassThrough({ highWaterMark: PARSER_BUFFER }));
    // `duration`: count frames to the end when the size is unknown (an upload without a length).
    // Imported on first use: loading music-metadata takes longer than a CLI command's whole start.
    this.#parsed = import('music-metadata')
      .then(({ parseStream }) =>
        // Stopped before the parser was loaded: a parser started on a destroyed stream never settles.
        input.destroyed ? undefined : parseStream(input, { mimeType: contentType, size }, { duration: true, skipCovers: true }),
      )
      .then((meta) => toMs(meta?.format.duration), () => null)
      .finally(() => {
        this.#input = undefined;
        input.destroy();
      });
  }

  /**
   * A probe of the recording whose first bytes are `head` (PROBE_HEAD_BYTES, or all of a shorter
   * one), `size` bytes long when known; undefined when the head is not audio recproxy knows.
   */
  static start(head: Buffer, size?: number): AudioProbe | undefined {
    const contentType = sniffAudio(head);
    return contentType === undefined ? undefined : new AudioProbe(head, contentType, size);
  }

  /**
   * The next chunk of the recording (from its first byte on). Returns a promise when the parser
   * must catch up before more is read, else undefined.
   */
  feed(chunk: Buffer): Promise<void> | undefined {
    const input = this.#input;
    if (!input || input.write(chunk)) return undefined;
    const parsed = this.#parsed!;
    return new Promise((resolve) => {
      const go = () => {
        input.off('drain', go);
        input.off('close', go);
        resolve();
      };
      input.once('drain', go);
      input.once('close', go);
      void parsed.then(go);
    });
  }

  /** Every byte was fed: `size` in all. */
  async finish(size: number): Promise<Probed> {
    this.#input?.end();
    const parsed = this.#parsed ? await this.#parsed : null;
    const fromHeader = this.contentType === 'audio/wav' ? wavDurationMs(this.#head, size) : null;
    return { contentType: this.contentType, durationMs: fromHeader ?? parsed };
  }

  /** The bytes will not all come: stop the parser. */
  abort(): void {
    this.#input?.destroy();
  }
}

/** music-metadata's seconds as whole milliseconds; null for none or nonsense. */
function toMs(seconds: number | undefined): number | null {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return null;
  return Math.round(seconds * 1000);
}

/**
 * Probes all of `body` (read to its end, not destroyed): what its bytes say, or undefined when
 * they are not audio. For callers that have the bytes only to look at them (a recording already
 * in storage); registration feeds an AudioProbe the chunks it stores instead.
 */
export async function probeStream(body: Readable, size?: number): Promise<Probed | undefined> {
  const pending: Buffer[] = [];
  let length = 0;
  let probe: AudioProbe | undefined;
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    length += bytes.length;
    if (!probe) {
      pending.push(bytes);
      if (length < PROBE_HEAD_BYTES) continue;
      const head = Buffer.concat(pending);
      probe = AudioProbe.start(head.subarray(0, PROBE_HEAD_BYTES), size);
      if (!probe) return undefined;
      await probe.feed(head);
    } else {
      await probe.feed(bytes);
    }
  }
  probe ??= AudioProbe.start(Buffer.concat(pending), size);
  if (probe && length < PROBE_HEAD_BYTES) await probe.feed(Buffer.concat(pending));
  return probe?.finish(length);
}
