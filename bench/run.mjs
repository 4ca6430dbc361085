/**
 * `npm run bench`: recproxy against its peers on this machine (see BENCHMARKS.md).
 *
 * Prepares recordings in a temp dir (registered with the real CLI), starts each server as its
 * own child process on a free 127.0.0.1 port, drives load from another process (wrk, else
 * autocannon), samples each server's RSS, prints a table and writes bench/results.json.
 * Every child is stopped at the end, on error and on SIGINT/SIGTERM.
 *
 * Environment: BENCH_SECONDS (default 5) per measured run, after a 1 s warm-up;
 * BENCH_REPEAT (default 2) repetitions of each run, interleaved; the best one is reported;
 * BENCH_ONLY=stream,growth (scenario ids) to run a subset; BENCH_SERVERS=recproxy-s3-media,… (the
 * rows' server names) to run only those rows of them (a check whose peer did not run is skipped);
 * BENCH_CPU_PROF=DIR to run every recproxy under `node --cpu-prof`, profiles written to DIR
 * (summarise one with `node bench/cpu-top.mjs DIR/recproxy-local.cpuprofile`);
 * BENCH_NODE=24 (scripts/node24.sh) or a node binary's path: run everything on that Node;
 * BENCH_RECPROXY_FLAGS: the Node flags recproxy runs with, instead of npm start's (space separated);
 * BENCH_AUDIT_ROWS (default 1000000): the expired rows audit-prune's servers start with;
 * BENCH_LISTENERS (default 2000), BENCH_LISTENER_RATE (bytes/s, default 16000), BENCH_LISTENER_SECONDS
 * (default 20): the listeners scenario (bench/lib/listeners.mjs);
 * BENCH_LOG_DIR=DIR: each server's output in DIR/<name>.log, whole (s3rver then logs each
 * request, silent otherwise); BENCH_RECPROXY_LOG_LEVEL (default warn): recproxy's log level.
 */

/**
 * Headers of every request to recproxy's /api: the API key (made with `recproxy keys create`
 * at start, one for every index: they are copies) and the organization.
 */
const RECPROXY_HEADERS = (apiKey) => ({ Authorization: `Bearer ${apiKey}`, 'X-Organization-Id': ORG });

import { execFileSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, cliAdd, cliKeyCreate, copyIndex, fillIndex, makeTempDir, recproxyEnv, writeWavs } from './lib/fixtures.mjs';
import { driverName, load, stopLoad } from './lib/load.mjs';
import { onBenchNode } from './lib/runtime.mjs';
import { killAllNow, sampleProcess, stopAll } from './lib/proc.mjs';
import { evaluate, machineInfo, markdownTable, table } from './lib/report.mjs';
import { nginxVersion, probe, probeReady, startNginx, startNodePeer, startRecproxy } from './lib/servers.mjs';
import { ingestRuns } from './lib/ingest.mjs';
import { fileReuse, makeOldAudit } from './lib/audit-prune.mjs';
import { ORG, scenarios } from './scenarios.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = 1;
const CONNECTIONS = 16;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 2);
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : undefined;
const ONLY_SERVERS = process.env.BENCH_SERVERS ? process.env.BENCH_SERVERS.split(',') : undefined;
const CPU_PROF = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));
const TO = '+15550000000';
/** audit-prune: expired rows in each server's audit, and how the pruning one is set (first pass 1 s after start). */
const AUDIT_ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 1_000_000);
const AUDIT_PRUNING_ENV = { RECPROXY_AUDIT_RETENTION_DAYS: '30', RECPROXY_RETENTION_INTERVAL_SEC: '1', RECPROXY_RETENTION_PAUSE_MS: '50' };

const elsewhere = await onBenchNode(process.env.BENCH_NODE, ROOT, fileURLToPath(import.meta.url));
if (elsewhere !== undefined) process.exit(elsewhere);

const started = Date.now();
const loadavgAtStart = loadavg(); // others' work on the machine skews every figure: see it here
let dir;
let interrupted = false; // set on SIGINT/SIGTERM: start nothing more
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);

async function cleanup() {
  await stopLoad();
  await stopAll();
  if (dir) await rm(dir, { recursive: true, force: true });
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping servers`);
    cleanup().finally(() => process.exit(130));
  });
}

/**
 * Fixtures: the recordings on local disk and in s3rver, all in one index (recproxy-local and
 * recproxy-s3 share it) with one API key, and how to start each server.
 */
async function prepare() {
  dir = await makeTempDir();
  log(`fixtures in ${dir}`);
  const { small, large } = await writeWavs(dir);
  const localEnv = recproxyEnv(dir);
  const call2 = await cliAdd(localEnv, { org: ORG, sid: 'call_bench2mb', to: TO, file: small });
  const call50 = await cliAdd(localEnv, { org: ORG, sid: 'call_bench50mb', to: TO, file: large });
  const headers = RECPROXY_HEADERS(await cliKeyCreate(localEnv, ORG));
  const adminHeaders = RECPROXY_HEADERS(await cliKeyCreate(localEnv, ORG, 'admin'));
  const uploadRoot = join(dir, 'uploads');

  const servers = new Map();
  const prof = { cpuProfDir: CPU_PROF };
  const root = localEnv.RECPROXY_LOCAL_ROOT;
  const starters = {
    s3rver: () => startNodePeer('s3rver', 's3rver.mjs', { BENCH_S3_DIR: join(dir, 's3'), BENCH_S3_SILENT: process.env.BENCH_LOG_DIR ? 'false' : 'true' }),
    'recproxy-local': () => startRecproxy('recproxy-local', localEnv, prof),
    'recproxy-local-fresh': () => startRecproxy('recproxy-local-fresh', localEnv, prof),
    'recproxy-s3': async () => startRecproxy('recproxy-s3', s3Env(await need('s3rver')), prof),
    'bare-fastify': async () => startNodePeer('bare-fastify', 'bare-fastify.mjs', { BENCH_BODY: await streamBody() }),
    'bare-node': () => startNodePeer('bare-node', 'bare-node.mjs', { BENCH_ROOT: root }),
    'bare-node-fresh': () => startNodePeer('bare-node-fresh', 'bare-node.mjs', { BENCH_ROOT: root }),
    'fastify-static': () => startNodePeer('fastify-static', 'fastify-static.mjs', { BENCH_ROOT: root }),
    nginx: () => startNginx(dir, root),
    'recproxy-upload': () => startRecproxy('recproxy-upload', recproxyEnv(dir, { RECPROXY_LOCAL_ROOT: uploadRoot }), prof),
    'recproxy-audit-idle': () => auditServer('recproxy-audit-idle', 0, { RECPROXY_AUDIT_RETENTION_DAYS: '0' }),
    'recproxy-audit-pruning': () => auditServer('recproxy-audit-pruning', 1, AUDIT_PRUNING_ENV),
    'recproxy-peaks': () => startRecproxy('recproxy-peaks', localEnv, prof),
    // listeners: a fresh server per run, so "idle" is each one's own RSS before its listeners.
    'recproxy-listen-media': () => startRecproxy('recproxy-listen-media', localEnv, prof),
    'recproxy-listen-download': () => startRecproxy('recproxy-listen-download', localEnv, prof),
    'recproxy-s3-listen': async () => startRecproxy('recproxy-s3-listen', { ...s3Env(await need('s3rver')), RECPROXY_STREAM_MODE: 'proxy' }, prof),
    'bare-node-listen': () => startNodePeer('bare-node-listen', 'bare-node.mjs', { BENCH_ROOT: root }),
    'nginx-listen': () => startNginx(dir, root, { name: 'nginx-listen', connections: 8192 }),
    'recproxy-1k': () => growthServer('recproxy-1k', 1000),
    'recproxy-1m': () => growthServer('recproxy-1m', 1_000_000),
  };
  /** The running server `name`, started on first use (undefined: not installed); one retry. */
  function need(name) {
    if (interrupted) return Promise.reject(new Error('interrupted'));
    if (!servers.has(name)) {
      log(`starting ${name}`);
      const start = starters[name];
      servers.set(
        name,
        start().catch((err) => {
          log(`${name} did not start (${err.message.split('\n')[0]}); trying once more`);
          return start();
        }),
      );
    }
    return servers.get(name);
  }
  function s3Env(s3rver) {
    return recproxyEnv(dir, {
      RECPROXY_STORAGE: 's3',
      RECPROXY_S3_BUCKET: 'recordings',
      RECPROXY_S3_ENDPOINT: s3rver.url,
      RECPROXY_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    });
  }
  /** A copy of the index (so the API key holds) with `count` more calls. */
  async function growthServer(name, count) {
    const dbPath = join(dir, `${name}.db`);
    log(`filling ${dbPath} with ${count} calls`);
    await copyIndex(localEnv.RECPROXY_DB_PATH, dbPath);
    await fillIndex(dbPath, count, ORG, call2);
    return startRecproxy(name, recproxyEnv(dir, { RECPROXY_DB_PATH: dbPath }), prof);
  }
  /** recproxy-local's index with an audit file of its own holding AUDIT_ROWS expired rows (copy `i`). */
  let oldAudits;
  async function auditServer(name, i, env) {
    oldAudits ??= (log(`writing ${AUDIT_ROWS} expired audit rows`), makeOldAudit(dir, AUDIT_ROWS, 2));
    return startRecproxy(name, recproxyEnv(dir, { RECPROXY_AUDIT_DB_PATH: (await oldAudits)[i], ...env }), prof);
  }
  /** What recproxy-local answers on the stream endpoint: the body bare-fastify sends back. */
  async function streamBody() {
    const rp = await need('recproxy-local');
    return (await probe(`${rp.url}/api/calls/${call2.call_sid}/recording/stream`, headers)).body;
  }

  const s3rver = await need('s3rver');
  const s3call = await cliAdd(s3Env(s3rver), { org: ORG, sid: 'call_bench2mbs3', to: TO, file: small });
  let s3call50; // the 50 MB recording in s3rver, put there when a scenario first asks for it
  const fixtures = {
    headers,
    call2,
    call50,
    s3call,
    adminHeaders,
    uploadRoot,
    dir,
    localEnv,
    mediaUrl: async () => JSON.parse(await streamBody()).data.url,
    s3call50: () => (s3call50 ??= cliAdd(s3Env(s3rver), { org: ORG, sid: 'call_bench50mbs3', to: TO, file: large })),
    /** The /media/{token} URL `server` (a recproxy in local or proxy mode) hands out for `row`, on its own address. */
    mediaUrlOf: async (server, row) => {
      const answer = await probeReady(`${server.url}/api/calls/${row.call_sid}/recording/stream`, headers);
      const url = answer.status === 200 ? JSON.parse(answer.body).data?.url : undefined;
      if (!url) throw new Error(`the stream endpoint answered ${answer.status} without a URL: ${answer.body.slice(0, 300)}`);
      const { pathname, search } = new URL(url);
      return `${server.url}${pathname}${search}`;
    },
    auditFileReuse: async () => {
      const server = await need('recproxy-audit-pruning');
      const url = `${server.url}/api/calls/${call2.call_sid}/recording/stream`;
      return fileReuse({ server, auditPath: (await oldAudits)[1], retentionDays: 30, url, headers, dir, log });
    },
    s3Direct: () => presign(s3rver.url, s3call.storage_key),
  };
  return { fixtures, need };
}

/** The commit measured, `-dirty` when the working tree had changes. */
function gitDescribe() {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** A presigned GET of `key` on s3rver, made by the AWS SDK's own presigner. */
async function presign(endpoint, key) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // a notice about Node 20, not about the bench
  const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    return await getSignedUrl(client, new GetObjectCommand({ Bucket: 'recordings', Key: key }), { expiresIn: 3600 });
  } finally {
    client.destroy();
  }
}

/** Start the run's server and check its URL answers what the run means; the load spec. */
async function prepareRun(run, need) {
  const srv = await need(run.process ?? run.server);
  if (!srv) return undefined;
  const url = run.path !== undefined ? srv.url + run.path : await run.url();
  const answer = await probeReady(url, run.headers);
  const { status, length, json } = run.expect;
  const bad =
    answer.status !== status ||
    (length !== undefined && answer.length !== length) ||
    (json && !JSON.parse(answer.body || '{}').success);
  if (bad) {
    throw new Error(
      `${run.server} answered ${answer.status}, ${answer.length} bytes (wanted ${status}${length ? `, ${length} bytes` : ''}): ` +
        `${answer.body.slice(0, 200)}\n  server log: ${srv.log.slice(-600)}`,
    );
  }
  const spec = { url, headers: run.headers, connections: run.connections ?? CONNECTIONS, seconds: run.seconds ?? SECONDS, timeoutSec: run.timeoutSec, random: run.random };
  const backendSrv = run.backend ? await need(run.backend) : undefined;
  return { srv, backendSrv, spec, warmup: run.warmup ?? WARMUP_SECONDS };
}

/**
 * One measured load (after a warm-up on the first repetition), sampling the server's RSS and
 * CPU time (and its backend's: s3rver behind recproxy-s3).
 */
async function loadOnce({ srv, backendSrv, spec, warmup }, repetition) {
  if (repetition === 0 && warmup > 0) await load({ ...spec, seconds: warmup }, dir);
  if (srv.exited) throw new Error(`${srv.name} is no longer running: ${srv.log.slice(-600)}`);
  const server = sampleProcess(srv.pid);
  const backend = backendSrv && sampleProcess(backendSrv.pid);
  try {
    const result = await load(spec, dir);
    const { peakRssBytes, cpuSeconds } = server.stop();
    const cpuUsPerRequest = result.requests ? (cpuSeconds * 1e6) / result.requests : undefined;
    const extra = backend ? { backend: { name: backendSrv.name, ...backend.stop() } } : {};
    return { ...result, peakRssBytes, cpuSeconds, cpuUsPerRequest, ...extra };
  } finally {
    server.stop();
    backend?.stop();
  }
}

/**
 * The reported figures: the best repetition (most req/s, or with `pick: 'p99ms'` the lowest
 * p99), with its own latencies; peak RSS over all of them.
 */
function combine(row, reps, spec, pick = 'rps') {
  const better = pick === 'p99ms' ? (a, b) => b.p99ms < a.p99ms : (a, b) => b.rps > a.rps;
  const best = reps.reduce((a, b) => (better(a, b) ? b : a));
  const peakRssBytes = Math.max(...reps.map((r) => r.peakRssBytes));
  const errors = reps.reduce((n, r) => n + r.errors, 0);
  return { ...row, connections: spec.connections, seconds: spec.seconds, ...best, errors, peakRssBytes, peakRssMiB: peakRssBytes / 2 ** 20, repetitions: reps };
}

async function main() {
  const { fixtures, need } = await prepare();
  const all = scenarios(fixtures);
  const unknown = (ONLY ?? []).filter((id) => !all.some((s) => s.id === id));
  if (unknown.length) throw new Error(`BENCH_ONLY: no scenario ${unknown.join(', ')} (there are ${all.map((s) => s.id).join(', ')})`);
  const selected = all.filter((s) => !ONLY || ONLY.includes(s.id));
  const runs = [];
  for (const scenario of selected) {
    if (scenario.task === 'ingest') {
      // Not a load on a server: CLI runs over a generated spool (bench/lib/ingest.mjs).
      runs.push(...(await ingestRuns(dir, { org: ORG, log, cpuProfDir: CPU_PROF })));
      continue;
    }
    const active = [];
    for (const run of scenario.runs.filter((r) => !ONLY_SERVERS || ONLY_SERVERS.includes(r.server))) {
      const row = { scenario: scenario.id, server: run.server };
      if (run.measure) {
        // A run that measures itself (upload): one operation, no load generator.
        log(`${scenario.id} · ${run.server}`);
        try {
          const srv = await need(run.process ?? run.server);
          if (!srv) {
            log(`${scenario.id} · ${run.server}: skipped (not installed)`);
            continue;
          }
          runs.push({ ...row, ...(await run.measure(srv)) });
        } catch (err) {
          runs.push({ ...row, failed: err.message });
          log(`${scenario.id} · ${run.server}: failed: ${err.message}`);
        }
        continue;
      }
      try {
        const prepared = await prepareRun(run, need);
        if (prepared) active.push({ run, row, prepared, reps: [] });
        else log(`${scenario.id} · ${run.server}: skipped (not installed)`);
      } catch (err) {
        runs.push({ ...row, failed: err.message });
        log(`${scenario.id} · ${run.server}: failed: ${err.message}`);
      }
    }
    // Repetitions interleave the servers, so a slow moment of the machine hits them alike.
    const repeat = scenario.repeat ?? REPEAT;
    for (let rep = 0; rep < repeat; rep++) {
      for (const a of active) {
        if (interrupted) return new Promise(() => undefined); // the signal handler exits
        log(`${scenario.id} · ${a.run.server} (${rep + 1}/${repeat})`);
        try {
          a.reps.push(await loadOnce(a.prepared, rep));
        } catch (err) {
          a.failed = err.message;
          log(`  failed: ${err.message}`);
        }
      }
    }
    // A run with a failed repetition is reported failed: its other figures are not comparable.
    for (const a of active) runs.push(a.failed ? { ...a.row, failed: a.failed } : combine(a.row, a.reps, a.prepared.spec, scenario.pick));
    // A measurement taken once the loads are done (audit-prune: the file's pages).
    if (scenario.after) {
      const row = { scenario: scenario.id, server: scenario.after.server };
      log(`${scenario.id} · ${row.server}`);
      try {
        runs.push({ ...row, ...(await scenario.after.measure()) });
      } catch (err) {
        runs.push({ ...row, failed: err.message });
        log(`${scenario.id} · ${row.server}: failed: ${err.message}`);
      }
    }
  }
  await cleanup();

  const verdicts = evaluate(selected.flatMap((s) => s.checks.map((c) => ({ scenario: s.id, ...c }))), runs);
  const wallSeconds = (Date.now() - started) / 1000;
  const machine = machineInfo({
    recproxy: gitDescribe(),
    loadGenerator: driverName,
    nginx: nginxVersion() ?? 'not installed',
    wallSeconds,
    loadavgAtStart,
    loadavgAtEnd: loadavg(),
  });
  process.stdout.write(`\n${table(runs, verdicts)}\n\n`);
  for (const r of runs.filter((r) => r.errors || r.failed)) {
    process.stdout.write(`note: ${r.scenario}/${r.server}: ${r.failed ?? `${r.errors} errors ${JSON.stringify(r.errorDetail)}`}\n`);
  }
  for (const r of runs.filter((r) => r.backend)) {
    const { name, cpuSeconds, peakRssBytes } = r.backend;
    const us = r.requests ? ((cpuSeconds * 1e6) / r.requests).toFixed(0) : '–';
    process.stdout.write(`note: ${r.scenario}/${r.server}: its backend ${name} used ${us} µs CPU per request, peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB\n`);
  }
  for (const r of runs.filter((r) => r.pagesAfterPrune !== undefined)) {
    process.stdout.write(
      `note: ${r.scenario}/${r.server}: ${r.oldRowsAtEnd} expired rows left when the measured runs ended; pruned ${r.pruneWaitSeconds.toFixed(0)} s later: ` +
        `${r.pagesAfterPrune} pages (${r.freeAfterPrune} free); ${r.rowsAdded} new rows later: ${r.pagesAfterRefill} pages (${r.freeAfterRefill} free)\n`,
    );
  }
  for (const r of runs.filter((r) => r.listeners && !r.failed)) {
    process.stdout.write(
      `note: ${r.scenario}/${r.server}: ${r.listeners} listeners at ${r.rate / 1000} KB/s: RSS ${r.rssBeforeMiB.toFixed(0)} MiB idle, ` +
        `+${r.rssAboveIdleMiB.toFixed(0)} MiB at peak (${r.rssPerListenerKB.toFixed(0)} KB per listener); ${r.cpuUsPerMB.toFixed(0)} µs CPU per MB sent; ` +
        `slowest ${r.slowestFraction.toFixed(2)} of the rate (1%: ${r.p1Fraction.toFixed(2)}, median ${r.medianFraction.toFixed(2)}); ` +
        `${r.erroredListeners} errored; all answered in ${r.openSeconds.toFixed(1)} s\n`,
    );
    if (r.tcpCounters) {
      process.stdout.write(
        `note: ${r.scenario}/${r.server}: the machine's TCP during the run: buffers peaked at ${r.tcpMemPeakMiB?.toFixed(0)} MiB (tcp_mem pressure at ${r.tcpMemPressureMiB?.toFixed(0)} MiB); ` +
          `${Object.entries(r.tcpCounters).map(([k, v]) => `${k} +${v}`).join(', ')}\n`,
      );
    }
    // Which listeners failed, when and how: the local port finds the request in the server's log (BENCH_LOG_DIR).
    if (r.erroredListeners) process.stdout.write(`note: ${r.scenario}/${r.server}: errored ${JSON.stringify(r.errorDetail)}: ${JSON.stringify(r.errorSamples)}\n`);
  }
  if (process.env.BENCH_MARKDOWN) process.stdout.write(`\n${markdownTable(runs, verdicts)}\n`);
  const summary = verdicts.map((v) => `${v.verdict} ${v.scenario}/${v.server}`).join(', ');
  process.stdout.write(`recproxy ${machine.recproxy}; ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, ${driverName}; ${wallSeconds.toFixed(0)} s\n${summary}\n`);
  const settings = { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, threads: 1, repetitions: REPEAT };
  await writeFile(RESULTS, JSON.stringify({ machine, settings, scenarios: selected.map(({ id, title }) => ({ id, title })), runs, checks: verdicts }, null, 2) + '\n');
  log(`wrote ${RESULTS.replace(ROOT, '')}`);
  process.exit(runs.some((r) => r.failed) ? 1 : 0);
}

main().catch(async (err) => {
  log(`error: ${err.stack ?? err}`);
  await cleanup().catch(() => undefined);
  process.exit(1);
});
