/**
 * The daemon's Prometheus metrics (prom-client), in a registry of its own: HTTP requests by
 * route pattern (never a raw URL or a call_sid: bounded label values), method and status class,
 * their latency, body bytes sent, requests in flight that move bytes (downloads and uploads),
 * storage operations by adapter, operation and outcome with their latency, stream URLs issued,
 * the access audit's queue, and Node's default process metrics. Served by src/routes/metrics.ts.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ListedObject, OpenedObject, StorageAdapter } from './core/storage.js';

/** Seconds; from a cached lookup to a long download. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Routes whose requests are counted as downloads or uploads in flight, by their pattern. */
const DOWNLOAD_ROUTES = new Set(['/api/calls/:call_sid/recording/download', '/media/:token']);
const UPLOAD_METHODS = new Set(['POST', 'PUT']);
const UPLOAD_ROUTES = new Set(['/api/calls', '/api/calls/:call_sid/recording']);

export type StorageOperation = 'stat' | 'read' | 'open' | 'write' | 'delete' | 'list' | 'probe';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'recproxy_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status class',
    labelNames: ['route', 'method', 'status_class'] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'recproxy_http_request_duration_seconds',
    help: 'From a request arriving to its response closing (the whole body sent, or cut off)',
    labelNames: ['route', 'method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: 'recproxy_http_response_body_bytes_total',
    help: 'Recording body bytes the sockets accepted, by route pattern (downloads and media)',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'recproxy_http_transfers_in_flight',
    help: 'Downloads (download and media routes) and uploads being answered now',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
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

  constructor(audit?: { readonly pending: number; readonly dropped: number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'recproxy_' });
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

  /**
   * Counts every request of `app` when its response closes, finished or cut off: labels from
   * the matched route's pattern (`unmatched` for none).
   */
  instrument(app: FastifyInstance): void {
    app.addHook('onRequest', (request, reply, done) => {
      const start = process.hrtime.bigint();
      const route = request.routeOptions.url ?? 'unmatched';
      const kind = transferKind(request, route);
      if (kind) this.inFlight.inc({ kind });
      reply.raw.once('close', () => {
        const method = request.method;
        this.requests.inc({ route, method, status_class: `${Math.floor(reply.raw.statusCode / 100)}xx` });
        this.requestSeconds.observe({ route, method }, Number(process.hrtime.bigint() - start) / 1e9);
        if (request.bytesSent) this.bytesSent.inc({ route }, request.bytesSent);
        if (kind) this.inFlight.dec({ kind });
      });
      done();
    });
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

function transferKind(request: FastifyRequest, route: string): 'download' | 'upload' | undefined {
  if (DOWNLOAD_ROUTES.has(route)) return 'download';
  if (UPLOAD_METHODS.has(request.method) && UPLOAD_ROUTES.has(route)) return 'upload';
  return undefined;
}
