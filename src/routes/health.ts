/**
 * `/healthz`: 200 while the process serves (liveness). `/readyz`: 200 when the index answers a
 * lookup and the storage backend answers its probe (`StorageAdapter.probe`), each within
 * READY_TIMEOUT_MS; else 503 naming the failing parts. One check at a time, its answer kept for
 * READY_CACHE_MS: a storm of probes costs the backend one request a second.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { StorageAdapter } from '../core/storage.js';

/** How long each part has to answer before it counts as failing. */
export const READY_TIMEOUT_MS = 2000;
/** How long one check's answer is reused. */
export const READY_CACHE_MS = 1000;

export type ReadyPart = 'index' | 'storage';

export interface ReadinessDeps {
  storage: Pick<StorageAdapter, 'probe'>;
  /** A lookup in the call index that resolves when the index answers. */
  indexAnswers(): Promise<unknown>;
  log?: FastifyBaseLogger;
}

export class Readiness {
  readonly #deps: ReadinessDeps;
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  #last: { at: number; failing: ReadyPart[] } | undefined;
  #pending: Promise<ReadyPart[]> | undefined;
  /** What failed last, with why, so a change is logged once. */
  #lastWords = '';

  constructor(deps: ReadinessDeps, options: { timeoutMs?: number; cacheMs?: number } = {}) {
    this.#deps = deps;
    this.#timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
    this.#cacheMs = options.cacheMs ?? READY_CACHE_MS;
  }

  /** The failing parts (none: ready), from a check at most READY_CACHE_MS old. */
  failing(now = Date.now()): Promise<ReadyPart[]> {
    if (this.#last && now - this.#last.at < this.#cacheMs) return Promise.resolve(this.#last.failing);
    this.#pending ??= this.#check().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #check(): Promise<ReadyPart[]> {
    const parts: [ReadyPart, () => Promise<unknown>][] = [
      ['index', () => this.#deps.indexAnswers()],
      ['storage', () => this.#deps.storage.probe()],
    ];
    const outcomes = await Promise.all(parts.map(([, probe]) => this.#within(probe)));
    const failing = parts.filter((_, i) => outcomes[i] !== undefined).map(([part]) => part);
    const words = parts.map(([part], i) => (outcomes[i] === undefined ? '' : `${part}: ${outcomes[i]}`)).filter(Boolean).join('; ');
    if (words !== this.#lastWords) {
      if (words) this.#deps.log?.warn(`not ready: ${words}`);
      else this.#deps.log?.info('ready again');
      this.#lastWords = words;
    }
    this.#last = { at: Date.now(), failing };
    return failing;
  }

  /** Undefined when `probe` resolved in time; else why not. */
  async #within(probe: () => Promise<unknown>): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${this.#timeoutMs} ms`), this.#timeoutMs);
    });
    try {
      return await Promise.race([probe().then(() => undefined, (err: unknown) => (err instanceof Error ? err.message : String(err))), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export function healthRoutes(readiness: Readiness): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_request, reply) => {
      const failing = await readiness.failing();
      reply.header('cache-control', 'no-store');
      if (failing.length) return reply.code(503).send({ status: 'unready', failing });
      return { status: 'ready' };
    });
  };
}
