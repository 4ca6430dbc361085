/**
 * Progress and the summary of a long CLI run (ingest, scan, import, retention, …): a bar
 * (cli-progress) when stderr is a terminal, plain lines when it is not (a log, a pipe), and at
 * the end one summary line with the counts and one line per skipped or failed item with its
 * reason. Everything goes to stderr, so stdout stays free for a command's own output.
 */
import cliProgress from 'cli-progress';

/** What became of one item of the run. */
export type Outcome = 'indexed' | 'already' | 'skipped' | 'failed';

/** One item left out, and why. */
export interface Problem {
  item: string;
  reason: string;
}

/** What a run did, counted. */
export interface RunSummary {
  indexed: number;
  already: number;
  skipped: Problem[];
  failed: Problem[];
  /** True when the run was interrupted (SIGINT, SIGTERM) before it went through everything. */
  interrupted: boolean;
}

export interface ProgressOptions {
  /** The command, first on every line (`ingest`). */
  label: string;
  /** How many items there are, when known before the run (a bar needs it; it may come later). */
  total?: number;
  /** Where progress goes (stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Without a terminal: a progress line every this many items (1000). */
  plainEvery?: number;
  /** The summary's words for outcomes, where the run's are not indexing (retention: `deleted`). */
  words?: Partial<Record<Outcome, string>>;
}

/** The words of each outcome in the summary line. */
const WORDS: Record<Outcome, string> = { indexed: 'indexed', already: 'already indexed', skipped: 'skipped', failed: 'failed' };

export class Progress {
  readonly #label: string;
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean };
  readonly #plainEvery: number;
  readonly #bar: cliProgress.SingleBar | undefined;
  readonly #words: Record<Outcome, string>;
  #total: number | undefined;
  #done = 0;
  readonly #started = Date.now();
  readonly summary: RunSummary = { indexed: 0, already: 0, skipped: [], failed: [], interrupted: false };

  constructor(options: ProgressOptions) {
    this.#label = options.label;
    this.#stream = options.stream ?? process.stderr;
    this.#plainEvery = options.plainEvery ?? 1000;
    this.#total = options.total;
    this.#words = { ...WORDS, ...options.words };
    if (this.#stream.isTTY) {
      this.#bar = new cliProgress.SingleBar(
        {
          stream: this.#stream,
          format: `${this.#label} [{bar}] {value}/{total} {percentage}% | {rate}/s | eta {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 200,
        },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(this.#total ?? 0, 0, { rate: 0 });
    }
  }

  /** The number of items, once known (a walk that counted first, a file read to its end). */
  setTotal(total: number): void {
    this.#total = total;
    this.#bar?.setTotal(total);
  }

  /** Counts one item; a skipped or failed one is kept, with its reason, for the summary. */
  note(outcome: Outcome, item: string, reason?: string): void {
    if (outcome === 'indexed' || outcome === 'already') this.summary[outcome]++;
    else this.summary[outcome].push({ item, reason: reason ?? 'no reason given' });
    this.tick();
  }

  /** Moves the progress on by one item that has no outcome of its own (a check's steps). */
  tick(): void {
    this.#done++;
    if (this.#bar) {
      const seconds = Math.max((Date.now() - this.#started) / 1000, 0.001);
      this.#bar.update(this.#done, { rate: Math.round(this.#done / seconds) });
    } else if (this.#done % this.#plainEvery === 0) {
      this.#line(`${this.#done}${this.#total === undefined ? '' : `/${this.#total}`} done`);
    }
  }

  /** Marks the run as interrupted: the summary says so. */
  interrupt(): void {
    this.summary.interrupted = true;
  }

  /** Stops the bar, for a command that reports in its own words instead of the summary. */
  stop(): void {
    this.#bar?.stop();
  }

  /** Stops the bar and writes the summary. @returns the summary */
  finish(): RunSummary {
    this.#bar?.stop();
    const s = this.summary;
    const w = this.#words;
    const counts = `${s.indexed} ${w.indexed}, ${s.already} ${w.already}, ${s.skipped.length} ${w.skipped}, ${s.failed.length} ${w.failed}`;
    this.#line(s.interrupted ? `interrupted after ${this.#done} items: ${counts}` : counts);
    for (const p of s.skipped) this.#line(`skipped ${p.item}: ${p.reason}`);
    for (const p of s.failed) this.#line(`failed ${p.item}: ${p.reason}`);
    return s;
  }

  #line(text: string): void {
    this.#stream.write(`${this.#label}: ${text}\n`);
  }
}
