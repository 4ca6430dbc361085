/**
 * The `listeners` scenario: N concurrent listeners, each reading one long recording at a
 * real-time rate (a player at 128 kbit/s reads 16 KB/s), against one freshly started server.
 *
 * wrk and autocannon read as fast as they can; a player does not. The load is this file run as
 * a child process (one process, so the harness's own sampling stays cheap): it opens N raw TCP
 * connections (no agent, no http parser: one GET written by hand, the status line and headers
 * skipped, body bytes counted and dropped), at most OPENING at a time, and paces them with one
 * shared tick: a socket whose listener is ahead of `rate × time since its first byte` is
 * paused (the kernel's receive buffer fills, the TCP window closes, and the server's writes
 * block: backpressure reaches the server), one behind is resumed. Each listener reads for
 * `seconds` from its first byte; its bytes then ÷ (rate × seconds) is its achieved fraction
 * (a player's buffer: behind, it catches up; it is never more than one socket read ahead).
 * All stay connected until the last one's time is up. A listener that errors, ends early or
 * never answers counts with what it got (0 when nothing).
 *
 * The harness side (`measureListeners`): the server's RSS just before (after one warming
 * request), its peak while the listeners read (sampled every 100 ms; not the kernel's VmHWM,
 * which includes start-up), its CPU time, and the child's summary.
 *
 * Environment: BENCH_LISTENERS (default 2000), BENCH_LISTENER_RATE (bytes/s, default 16000),
 * BENCH_LISTENER_SECONDS (default 20).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { rssTree, sampleProcess } from './proc.mjs';

export const LISTENERS = Number(process.env.BENCH_LISTENERS ?? 2000);
export const LISTENER_RATE = Number(process.env.BENCH_LISTENER_RATE ?? 16000);
export const LISTENER_SECONDS = Number(process.env.BENCH_LISTENER_SECONDS ?? 20);
const TICK_MS = 50;
const OPENING = 128;
const SAMPLES = 10;
const OPEN_TIMEOUT_MS = 60_000;
const SELF = fileURLToPath(import.meta.url);

/** The soft limit on open files of `pid` (Linux /proc), or undefined. */
function openFilesLimit(pid) {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The kernel's TCP counters that explain a stalled socket (Linux /proc/net/netstat, the whole
 * machine): times TCP memory reached tcp_mem's pressure level, packets dropped because a receive
 * queue could not grow (memory pressure), retransmission timeouts. With thousands of loopback
 * sockets whose buffers autotune to megabytes, the kernel's TCP memory reaches its pressure level,
 * drops segments, and the sender waits for a retransmission timeout that backs off (seconds).
 */
const TCP_COUNTERS = ['TCPMemoryPressures', 'TCPRcvQDrop', 'PruneCalled', 'TCPTimeouts', 'TCPAbortOnMemory'];
function tcpCounters() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/).map(Number);
    return Object.fromEntries(names.map((name, i) => [name, values[i]]));
  } catch {
    return undefined;
  }
}

/** tcp_mem's three levels, in pages (Linux): below `pressure` the kernel does not limit TCP buffers. */
function tcpMemLimits() {
  try {
    const [low, pressure, high] = readFileSync('/proc/sys/net/ipv4/tcp_mem', 'utf8').trim().split(/\s+/).map(Number);
    return { low, pressure, high };
  } catch {
    return undefined;
  }
}

/** Pages (4 KiB) in MiB; undefined stays undefined. */
const pagesMiB = (pages) => (pages === undefined ? undefined : (pages * 4096) / 2 ** 20);

/** The peak of the pages TCP buffers hold on the machine (/proc/net/sockstat `TCP: … mem N`), sampled every `ms`. */
function sampleTcpMemory(ms) {
  let peakPages;
  const read = () => {
    try {
      const m = /^TCP:.* mem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
      if (m) peakPages = Math.max(peakPages ?? 0, Number(m[1]));
    } catch {
      // not Linux
    }
  };
  read();
  const timer = setInterval(read, ms);
  return {
    /** Stops sampling; the peak, in pages (undefined off Linux). */
    stop() {
      clearInterval(timer);
      return peakPages;
    },
  };
}

/**
 * Runs the listeners against `url` (with `headers`) on `server` (a running bench server whose
 * RSS and CPU are sampled): the run's row.
 */
export async function measureListeners({ server, url, headers = {}, expectStatus = 200, n = LISTENERS, rate = LISTENER_RATE, seconds = LISTENER_SECONDS }) {
  // A socket and a file per listener on the server side, a socket here: say what limits it.
  const need = 2 * n + 64;
  for (const [who, pid] of [['the server', server.pid], ['the bench', process.pid]]) {
    const limit = openFilesLimit(pid);
    if (limit !== undefined && limit < need) throw new Error(`${who} may open ${limit} files, ${need} needed for ${n} listeners: raise ulimit -n`);
  }
  await warm(url, headers);
  const rssBefore = rssTree(server.pid);
  const sampler = sampleProcess(server.pid, 100);
  const kernelBefore = tcpCounters();
  const tcpMem = sampleTcpMemory(250);
  let summary;
  let tcpMemPeakPages;
  try {
    summary = await runChild({ url, headers, expectStatus, n, rate, seconds });
  } finally {
    sampler.stop();
    tcpMemPeakPages = tcpMem.stop();
  }
  const kernelAfter = tcpCounters();
  const { peakRssBytes, cpuSeconds } = sampler.stop();
  const above = peakRssBytes - rssBefore;
  const mb = summary.bytes / 1e6;
  return {
    listeners: n,
    rate,
    seconds,
    requests: summary.answered,
    rps: summary.answered / summary.totalSeconds,
    mbps: summary.windowBytes / 1e6 / seconds,
    peakRssBytes,
    peakRssMiB: peakRssBytes / 2 ** 20,
    rssBeforeMiB: rssBefore / 2 ** 20,
    rssAboveIdleMiB: above / 2 ** 20,
    rssPerListenerKB: above / n / 1000,
    cpuSeconds,
    cpuUsPerMB: mb ? (cpuSeconds * 1e6) / mb : undefined,
    slowestFraction: summary.slowest,
    p1Fraction: summary.p1,
    medianFraction: summary.median,
    erroredListeners: summary.errored,
    errors: summary.errored,
    openSeconds: summary.openSeconds,
    errorDetail: summary.errorDetail,
    errorSamples: summary.errorSamples,
    // The whole machine's TCP (every process's sockets, not only this run's): see tcpCounters.
    tcpMemPeakMiB: pagesMiB(tcpMemPeakPages),
    tcpMemPressureMiB: pagesMiB(tcpMemLimits()?.pressure),
    tcpCounters: kernelBefore && kernelAfter ? Object.fromEntries(TCP_COUNTERS.map((k) => [k, kernelAfter[k] - kernelBefore[k]])) : undefined,
  };
}

/** One request read to a few KiB and dropped: the server's code paths are loaded before "idle" is read. */
function warm(url, headers) {
  return new Promise((resolve, reject) => {
    const socket = openListener(url, headers, {
      onHead: () => socket.destroy(),
      onBody: () => undefined,
      onEnd: resolve,
      onError: reject,
    });
  });
}

function runChild(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = /^LISTENERS_JSON (.*)$/m.exec(out);
      if (code !== 0 || !line) reject(new Error(`the listeners' driver exited ${code}: ${out.slice(-500)}`));
      else resolve(JSON.parse(line[1]));
    });
  });
}

/**
 * A GET of `url` on a raw socket. `onHead(status)` once the headers are in, `onBody(bytes)` for
 * each piece of body, `onEnd(err?)` once the socket is closed (err: why, when it was not a clean end).
 */
function openListener(url, headers, { onHead, onBody, onEnd, onError }) {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port) });
  const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let head = '';
  let inBody = false;
  socket.on('data', (chunk) => {
    if (inBody) return onBody(chunk.length);
    head += chunk.toString('latin1');
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    inBody = true;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
    const rest = head.length - end - 4;
    head = '';
    onHead(status);
    if (rest > 0) onBody(rest);
  });
  let error;
  socket.once('error', (err) => {
    error = err;
    if (onError) onError(err);
  });
  socket.once('close', (hadError) => onEnd(hadError ? (error ?? new Error('socket error')) : undefined));
  return socket;
}

/** The driver: the child process's whole work; prints one LISTENERS_JSON line. */
async function drive({ url, headers, expectStatus, n, rate, seconds }) {
  const started = performance.now();
  const all = [];
  const errorDetail = {};
  // The first SAMPLES failures of each kind: why, when (seconds after the listener's first byte, or after it
  // connected), its bytes, the socket error's code and the local port (the server logs it).
  const errorSamples = [];
  const fail = (l, why, err) => {
    if (l.failed) return;
    l.failed = why;
    errorDetail[why] = (errorDetail[why] ?? 0) + 1;
    if (errorDetail[why] <= SAMPLES) {
      errorSamples.push({ why, after: Number(((performance.now() - (l.t0 || l.opened)) / 1000).toFixed(2)), bytes: l.bytes, code: err?.code, port: l.socket?.localPort ?? l.port });
    }
  };
  let pending = 0;
  let next = 0;
  let answered = 0;
  let settle;
  const allAnswered = new Promise((resolve) => (settle = resolve));
  const check = () => {
    if (answered + all.filter((l) => l.failed && !l.t0).length >= n) settle();
  };
  function openMore() {
    while (pending < OPENING && next < n) {
      const l = { bytes: 0, t0: 0, opened: performance.now(), port: undefined, paused: false, socket: undefined, failed: undefined, done: false, fraction: undefined };
      all.push(l);
      next++;
      pending++;
      let headSeen = false;
      l.socket = openListener(url, headers, {
        onHead: (status) => {
          headSeen = true;
          l.port = l.socket.localPort;
          pending--;
          if (status !== expectStatus) {
            fail(l, `status ${status}`);
            l.socket.destroy();
          } else {
            l.t0 = performance.now();
            answered++;
          }
          check();
          openMore();
        },
        onBody: (bytes) => {
          l.bytes += bytes;
          if (!l.paused && l.bytes >= rate * ((performance.now() - l.t0) / 1000)) {
            l.paused = true;
            l.socket.pause();
          }
        },
        onEnd: (err) => {
          l.done = true;
          if (!headSeen) {
            pending--;
            fail(l, err ? 'connect/read error' : 'closed before answering', err);
            check();
            openMore();
          } else if (!l.failed && !stopping) fail(l, err ? 'read error' : 'ended early', err);
        },
        onError: () => undefined,
      });
    }
  }
  let stopping = false;
  let settled = false;
  // The shared tick: a listener whose time is up gets its fraction; one that has fallen behind
  // its rate is resumed.
  let recorded = 0;
  let allRecorded;
  const allDone = new Promise((resolve) => (allRecorded = resolve));
  const tick = setInterval(() => {
    const now = performance.now();
    for (const l of all) {
      if (l.fraction === undefined && l.t0 && now - l.t0 >= seconds * 1000) {
        l.fraction = l.bytes / (rate * seconds);
        if (++recorded === answered && settled) allRecorded();
      }
      if (l.paused && !l.done && l.bytes < rate * ((now - l.t0) / 1000)) {
        l.paused = false;
        l.socket.resume();
      }
    }
  }, TICK_MS);
  openMore();
  const timeout = setTimeout(settle, OPEN_TIMEOUT_MS);
  await allAnswered;
  clearTimeout(timeout);
  for (const l of all) if (!l.t0 && !l.failed) fail(l, 'no answer in time');
  const openSeconds = (performance.now() - started) / 1000;
  settled = true;
  if (recorded === answered) allRecorded();
  await allDone;
  const fractions = all.map((l) => l.fraction ?? 0);
  const bytes = all.reduce((s, l) => s + l.bytes, 0);
  const windowBytes = all.reduce((s, l) => s + (l.fraction ?? 0) * rate * seconds, 0);
  stopping = true;
  clearInterval(tick);
  for (const l of all) l.socket.destroy();
  fractions.sort((a, b) => a - b);
  const summary = {
    answered,
    errored: all.filter((l) => l.failed).length,
    errorDetail,
    errorSamples,
    slowest: fractions[0],
    p1: fractions[Math.floor(fractions.length * 0.01)],
    median: fractions[Math.floor(fractions.length / 2)],
    windowBytes,
    bytes,
    openSeconds,
    totalSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`LISTENERS_JSON ${JSON.stringify(summary)}\n`);
}

if (process.argv[1] === SELF) {
  await drive(JSON.parse(process.argv[2]));
  process.exit(0);
}
