/**
 * The daemon's Prometheus metrics (prom-client), in a registry of its own: HTTP requests by
 * route pattern (never a raw URL or a call_sid: bounded label values), method and status class,
 * their latency, body bytes sent, requests in flight that move bytes (downloads and uploads),
 * storage operations by adapter, operation and outcome with their latency, stream URLs issued,
 * the access audit's queue, and Node's default process metrics. Served by src/routes/metrics.ts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { ListedObject, OpenedObject, StorageAdapter } from './core/storage.js';

/** Seconds; from a cached lookup to a long download. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Routes whose requests are counted as downloads or uploads in flight, by their pattern. */
const DOWNLOAD_ROUTES = new Set(['/api/calls/:call_sid/recording/download', '/media/:token']);
const UPLOAD_METHODS = new Set(['POST', 'PUT']);
const UPLOAD_ROUTES = new Set(['/api/calls', '/api/calls/:call_sid/recording']);

type Transfer = 'download' | 'upload';

/**
 * One route pattern and method's HTTP figures, counted in place as each response closes: a
 * prom-client label set is hashed on every call (three a request), these are summed at scrape.
 */
export class HttpSlot {
  /** Responses by status class: index 2 is 2xx; 0 and 6-9 hold codes outside 100-599. */
  readonly statusClasses = new Float64Array(10);
  /** Latencies counted in their LATENCY_BUCKETS bound (not cumulative); the last, above all. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  seconds = 0;
  count = 0;
  /** Body bytes the sockets accepted. */
  bytes = 0;

  constructor(
    readonly route: string,
    readonly method: string,
    readonly transfer: Transfer | undefined,
  ) {}
}

/** A sample as prom-client's registry prints it. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** A metric family whose samples are made when the registry is scraped. */
class ScrapedFamily {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    readonly samples: () => Sample[],
  ) {}

  get() {
    return { name: this.name, help: this.help, type: this.type, values: this.samples(), aggregator: this.aggregator };
  }
}

export type StorageOperation = 'stat' | 'read' | 'open' | 'write' | 'delete' | 'list' | 'probe';

export class Metrics {
  readonly registry = new Registry();
  readonly storageOps = new Counter({
    name: 'recproxy_storage_operations_total',
    help: 'Storage adapter operations by adapter, operation and outcome (ok, not_found, error)',
    labelNames: ['adapter', 'operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly storageSeconds = new Histogram({
    name: 'recproxy_storage_operation_duration_seconds',
    help: 'Storage adapter operations until they answered (a read: until its body started)',
    labelNames: ['adapter', 'operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly streamUrls = new Counter({
    name: 'recproxy_stream_urls_issued_total',
    help: 'Stream URLs made (not reused), by kind: presigned (the storage’s own) or media (the daemon’s)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** The HTTP figures by route pattern, then method. */
  readonly #slots = new Map<string, Map<string, HttpSlot>>();
  readonly #transfers: Record<Transfer, number> = { download: 0, upload: 0 };

  constructor(audit?: { readonly pending: number; readonly dropped: number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'recproxy_' });
    this.#httpFamilies();
    new Gauge({
      name: 'recproxy_audit_queue_depth',
      help: 'Access audit entries recorded and not yet written',
      registers: [this.registry],
      collect() {
        this.set(audit?.pending ?? 0);
      },
    });
    new Gauge({
      name: 'recproxy_audit_dropped',
      help: 'Access audit entries thrown away since start (writes kept failing, or came after close)',
      registers: [this.registry],
      collect() {
        this.set(audit?.dropped ?? 0);
      },
    });
  }

  /** The HTTP families, from the slots; their names, labels and help are the metrics' contract. */
  #httpFamilies(): void {
    const slots = () => [...this.#slots.values()].flatMap((methods) => [...methods.values()]);
    const duration = 'recproxy_http_request_duration_seconds';
    const families = [
      new ScrapedFamily('recproxy_http_requests_total', 'HTTP requests answered, by route pattern, method and status class', 'counter', () =>
        slots().flatMap(({ route, method, statusClasses }) =>
          [...statusClasses].flatMap((value, n) => (value ? [{ labels: { route, method, status_class: `${n}xx` }, value }] : [])),
        ),
      ),
      new ScrapedFamily(duration, 'From a request arriving to its response closing (the whole body sent, or cut off)', 'histogram', () =>
        slots().flatMap(({ route, method, buckets, seconds, count }): Sample[] => {
          let below = 0;
          const cumulative = LATENCY_BUCKETS.map((le, i) => ({ labels: { route, method, le }, value: (below += buckets[i]!), metricName: `${duration}_bucket` }));
          return [
            ...cumulative,
            { labels: { route, method, le: '+Inf' }, value: count, metricName: `${duration}_bucket` },
            { labels: { route, method }, value: seconds, metricName: `${duration}_sum` },
            { labels: { route, method }, value: count, metricName: `${duration}_count` },
          ];
        }),
      ),
      new ScrapedFamily('recproxy_http_response_body_bytes_total', 'Recording body bytes the sockets accepted, by route pattern (downloads and media)', 'counter', () => {
        const byRoute = new Map<string, number>();
        for (const { route, bytes } of slots()) if (bytes) byRoute.set(route, (byRoute.get(route) ?? 0) + bytes);
        return [...byRoute].map(([route, value]) => ({ labels: { route }, value }));
      }),
    ];
    for (const family of families) this.registry.registerMetric(family as unknown as Metric);
    const transfers = this.#transfers;
    new Gauge({
      name: 'recproxy_http_transfers_in_flight',
      help: 'Downloads (download and media routes) and uploads being answered now',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        for (const kind of ['download', 'upload'] as const) this.set({ kind }, transfers[kind]);
      },
    });
  }

  /**
   * A request arrived for `route` (its pattern, `unmatched` for none) and `method`: the slot its
   * figures go to, and it is counted in flight when the route moves recording bytes.
   */
  requestStarted(route: string, method: string): HttpSlot {
    let methods = this.#slots.get(route);
    if (!methods) this.#slots.set(route, (methods = new Map()));
    let slot = methods.get(method);
    if (!slot) methods.set(method, (slot = new HttpSlot(route, method, transferKind(route, method))));
    if (slot.transfer) this.#transfers[slot.transfer]++;
    return slot;
  }

  /** The response of a request of `slot` closed, finished or cut off, with `bytes` of body sent. */
  requestClosed(slot: HttpSlot, status: number, seconds: number, bytes: number): void {
    slot.statusClasses[Math.min(9, Math.floor(status / 100))]! += 1;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]!) bucket++;
    slot.buckets[bucket]! += 1;
    slot.seconds += seconds;
    slot.count++;
    slot.bytes += bytes;
    if (slot.transfer) this.#transfers[slot.transfer]--;
  }

  /** `adapter` with every operation counted and timed; what it answers is unchanged. */
  instrumentStorage(adapter: StorageAdapter): StorageAdapter {
    /** Counts one finished operation and its time since `start`. */
    const record = (operation: StorageOperation, start: bigint, outcome: string) => {
      this.storageOps.inc({ adapter: adapter.name, operation, outcome });
      this.storageSeconds.observe({ adapter: adapter.name, operation }, Number(process.hrtime.bigint() - start) / 1e9);
    };
    const timed = <T>(operation: StorageOperation, run: () => Promise<T>): Promise<T> => {
      const start = process.hrtime.bigint();
      const done = (outcome: string) => record(operation, start, outcome);
      return run().then(
        (value) => {
          done('ok');
          return value;
        },
        (err: unknown) => {
          done((err as { code?: unknown }).code === 'OBJECT_NOT_FOUND' ? 'not_found' : 'error');
          throw err;
        },
      );
    };
    const wrapped: StorageAdapter = {
      name: adapter.name,
      recordingsPrefix: adapter.recordingsPrefix,
      presignedUrls: adapter.presignedUrls,
      stat: (key) => timed('stat', () => adapter.stat(key)),
      read: (key, options) => timed('read', () => adapter.read(key, options)),
      open: (key, options): Promise<OpenedObject> => timed('open', () => adapter.open(key, options)),
      write: (key, body, options) => timed('write', () => adapter.write(key, body, options)),
      delete: (key) => timed('delete', () => adapter.delete(key)),
      probe: () => timed('probe', () => adapter.probe()),
      list(prefix: string): AsyncIterable<ListedObject> {
        return {
          [Symbol.asyncIterator]: () => {
            const inner = adapter.list(prefix)[Symbol.asyncIterator]();
            const start = process.hrtime.bigint();
            let counted = false;
            const count = (outcome: string) => {
              if (counted) return;
              counted = true;
              record('list', start, outcome);
            };
            return {
              async next() {
                try {
                  const step = await inner.next();
                  if (step.done) count('ok');
                  return step;
                } catch (err) {
                  count('error');
                  throw err;
                }
              },
              async return(value?: unknown) {
                count('ok');
                return (await inner.return?.(value)) ?? { done: true, value: undefined };
              },
            };
          },
        };
      },
    };
    if (adapter.signedUrl) wrapped.signedUrl = adapter.signedUrl.bind(adapter);
    if (adapter.close) wrapped.close = adapter.close.bind(adapter);
    return wrapped;
  }
}

function transferKind(route: string, method: string): Transfer | undefined {
  if (DOWNLOAD_ROUTES.has(route)) return 'download';
  if (UPLOAD_METHODS.has(method) && UPLOAD_ROUTES.has(route)) return 'upload';
  return undefined;
}
