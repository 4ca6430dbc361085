/**
 * Fallback load generator when wrk is not installed: runs autocannon for one load spec
 * (argv[2], JSON; see load.mjs) and prints the same `BENCH_JSON {...}` line as the wrk script.
 */
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2]);
const requests = spec.random
  ? [{ setupRequest: (req) => ({ ...req, path: `${spec.random.prefix}${Math.floor(Math.random() * spec.random.count)}${spec.random.suffix}` }) }]
  : undefined;
const started = process.hrtime.bigint();
const result = await autocannon({
  url: spec.url,
  headers: spec.headers ?? {},
  connections: spec.connections,
  duration: spec.seconds,
  timeout: spec.timeoutSec,
  requests,
});
const durationUs = Number((process.hrtime.bigint() - started) / 1000n);
const summary = {
  requests: result.requests.total,
  durationUs: Math.min(durationUs, Math.round(result.duration * 1e6)) || durationUs,
  bytes: result.throughput.total,
  p50Us: Math.round(result.latency.p50 * 1000),
  p99Us: Math.round(result.latency.p99 * 1000),
  errors: { connect: 0, read: result.errors - result.timeouts, write: 0, status: result.non2xx, timeout: result.timeouts },
};
process.stdout.write(`BENCH_JSON ${JSON.stringify(summary)}\n`);
