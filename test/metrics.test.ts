/**
 * `/metrics` (src/metrics.ts, src/routes/metrics.ts): the Prometheus text format, parsed here by
 * a Prometheus text-format parser, whose counters and histogram counts move by exactly the
 * traffic sent; route labels are patterns, never URLs or call_sids; the optional bearer token;
 * and the listener of its own (RECPROXY_METRICS_PORT) under `recproxy serve`.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parse, { type Family, type Sample } from 'parse-prometheus-text-format';
import { BIN, cleanEnv } from './helpers/cli.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

type Labels = Record<string, string>;

/**
 * The parsed exposition. The parser folds a histogram's series into one sample without labels,
 * so each histogram's `_count` series is also parsed on its own (untyped: labels kept), as
 * `<name>_count`.
 */
async function scrape(url: string, headers: Record<string, string> = {}): Promise<Family[]> {
  const res = await fetch(`${url}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${await res.text()}`);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const families = parse(text);
  const histograms = families.filter((f) => f.type === 'HISTOGRAM').map((f) => `${f.name}_count`);
  const counts = text.split('\n').filter((line) => histograms.some((name) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)));
  return [...families, ...parse(`${counts.join('\n')}\n`)];
}

/** The sample of `name` whose labels include `labels` (undefined when there is none). */
function sample(families: Family[], name: string, labels: Labels = {}): Sample | undefined {
  return families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
}
const value = (families: Family[], name: string, labels: Labels = {}) => Number(sample(families, name, labels)?.value ?? 0);
const count = (families: Family[], name: string, labels: Labels = {}) => value(families, `${name}_count`, labels);

t.test('counters and histograms move by exactly the traffic sent; labels are route patterns', async (t) => {
  const d = await startDaemon({ RECPROXY_STREAM_URL_REUSE_SEC: '0' });
  t.teardown(d.stop);
  const wav = makeWav(0.5);
  await d.addCall({ org: 'org_m', sid: 'call_m1', to: '+15550000001', bytes: wav });
  const h = d.headers('org_m');
  const DL = '/api/calls/:call_sid/recording/download';
  const downloads = { route: DL, method: 'GET', status_class: '2xx' };

  const before = await scrape(d.url);
  for (let i = 0; i < 7; i++) {
    const res = await fetch(`${d.url}/api/calls/call_m1/recording/download`, { headers: h });
    t.ok(Buffer.from(await res.arrayBuffer()).equals(wav));
  }
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${d.url}/api/calls/call_m1/recording/stream`, { headers: h });
    const { data } = (await res.json()) as { data: { url: string } };
    await (await fetch(data.url)).arrayBuffer();
  }
  for (const sid of ['call_nosuch1', 'call_nosuch2']) await (await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers: h })).arrayBuffer();
  await (await fetch(`${d.url}/no/such/path/call_m1`)).arrayBuffer();
  const after = await scrape(d.url);

  const delta = (name: string, labels: Labels = {}) => value(after, name, labels) - value(before, name, labels);
  t.equal(delta('recproxy_http_requests_total', downloads), 7, '7 downloads → +7');
  t.equal(count(after, 'recproxy_http_request_duration_seconds', { route: DL, method: 'GET' }) - count(before, 'recproxy_http_request_duration_seconds', { route: DL, method: 'GET' }), 9, 'the latency histogram counts every download request (7 + 2 not found)');
  t.equal(delta('recproxy_http_requests_total', { route: DL, method: 'GET', status_class: '4xx' }), 2, 'the two missing calls');
  t.equal(delta('recproxy_http_response_body_bytes_total', { route: DL }), 7 * wav.length, 'bytes sent: 7 whole recordings');
  t.equal(delta('recproxy_http_response_body_bytes_total', { route: '/media/:token' }), 3 * wav.length);
  t.equal(delta('recproxy_stream_urls_issued_total', { kind: 'media' }), 3, 'three stream URLs made');
  t.equal(delta('recproxy_http_requests_total', { route: 'unmatched', status_class: '4xx' }), 1, 'a path no route matches: one label for all');
  t.equal(delta('recproxy_storage_operations_total', { adapter: 'local', operation: 'open', outcome: 'ok' }), 10, 'each byte response opened the object once');
  t.equal(delta('recproxy_storage_operations_total', { adapter: 'local', operation: 'stat', outcome: 'ok' }), 3, 'each stream URL made checked it once');
  t.ok(count(after, 'recproxy_storage_operation_duration_seconds', { adapter: 'local', operation: 'open' }) >= 10);
  t.equal(value(after, 'recproxy_http_transfers_in_flight', { kind: 'download' }), 0, 'nothing in flight once all closed');
  t.ok(after.some((f) => f.name === 'recproxy_audit_queue_depth'), 'the audit queue is watched');
  t.ok(value(after, 'recproxy_process_cpu_seconds_total') > 0, "Node's default process metrics");
  t.ok(after.some((f) => f.name === 'recproxy_nodejs_eventloop_lag_seconds'));

  const labels = after.flatMap((f) => f.metrics.flatMap((m) => Object.values(m.labels ?? {})));
  t.notOk(labels.some((v) => /call_(m1|nosuch)|no\/such/.test(v)), 'no call_sid or raw URL in any label');
});

t.test('RECPROXY_METRICS_TOKEN: only the bearer of it is answered', async (t) => {
  const token = 'scrape-token-0123456789';
  const d = await startDaemon({ RECPROXY_METRICS_TOKEN: token });
  t.teardown(d.stop);
  for (const authorization of [undefined, 'Bearer wrong-token-0123456789', token, `Basic ${token}`]) {
    const res = await fetch(`${d.url}/metrics`, { headers: authorization ? { authorization } : {} });
    t.equal(res.status, 401, `refused: ${authorization ?? 'no header'}`);
    t.match(await res.json(), { success: false, error: { code: 'UNAUTHORIZED' } });
  }
  t.ok((await scrape(d.url, { authorization: `Bearer ${token}` })).length > 0);
});

t.test('RECPROXY_METRICS_PORT: /metrics on a listener of its own, not on the API port', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-metrics-port-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: cleanEnv({ PORT: '0', RECPROXY_METRICS_PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const [base, metrics] = await new Promise<[string, string]>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listen lines: ${out}`)), 20_000);
    child.stdout.on('data', (c) => {
      out += c;
      const serving = /recproxy serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      const scraping = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(out);
      if (serving && scraping) {
        clearTimeout(timer);
        resolve([serving[1]!, scraping[1]!]);
      }
    });
  });
  t.not(base, metrics);
  t.equal((await fetch(`${base}/metrics`)).status, 404, 'not on the API port');
  await (await fetch(`${base}/healthz`)).arrayBuffer();
  const families = await scrape(metrics);
  t.equal(value(families, 'recproxy_http_requests_total', { route: '/healthz', status_class: '2xx' }), 1, 'it counts the API port’s traffic');
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  t.equal(await closed, 0, 'SIGTERM closes both listeners');
});
