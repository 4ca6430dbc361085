/**
 * Child processes for the benchmark: start a server, wait until it answers, sample its RSS,
 * and make sure it stops. Every server is started with stdin piped from this process and
 * `bench/peers/orphan-guard.mjs` (or the guard wrapper) watching it, so a server also stops
 * when the harness dies without running its cleanup (SIGKILL, crash).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ORPHAN_GUARD = fileURLToPath(new URL('../peers/orphan-guard.mjs', import.meta.url));
export const GUARD_WRAPPER = fileURLToPath(new URL('../peers/guard.mjs', import.meta.url));

const children = new Set();

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start a server process. `pidFromStdout`: the process prints `PID <n>` for the real server
 * (the guard wrapper does, for nginx); its RSS is then sampled instead of the wrapper's.
 */
export function startServer(name, command, args, { env = {}, cwd, pidFromStdout = false } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const server = { name, child, pid: child.pid, log: '', exited: false };
  children.add(server);
  // BENCH_LOG_DIR: every line the server prints, in DIR/<name>.log (server.log keeps the last 8 KB);
  // with BENCH_RECPROXY_FLAGS='--no-memory-reducer --trace-gc', the collector's pauses.
  const logFile = process.env.BENCH_LOG_DIR ? openLog(process.env.BENCH_LOG_DIR, name) : undefined;
  let pidResolve;
  const pidKnown = new Promise((resolve) => (pidResolve = resolve));
  if (!pidFromStdout) pidResolve(child.pid);
  const collect = (chunk) => {
    logFile?.write(chunk);
    server.log = (server.log + chunk.toString()).slice(-8000);
    const m = /^PID (\d+)$/m.exec(server.log);
    if (m) pidResolve(Number(m[1]));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.stdin.on('error', () => undefined);
  server.exit = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      server.exited = true;
      children.delete(server);
      if (!server.stopping) {
        process.stderr.write(`[bench] ${name} (pid ${child.pid}) exited by itself: code ${code}, signal ${signal}\n${server.log.slice(-2000)}\n`);
      }
      resolve({ code, signal });
    }),
  );
  server.ready = pidKnown.then((pid) => (server.pid = pid));
  return server;
}

function openLog(dir, name) {
  mkdirSync(dir, { recursive: true });
  const file = createWriteStream(join(dir, `${name}.log`), { flags: 'a' });
  file.on('error', () => undefined);
  return file;
}

/** Resolve once `url` answers any HTTP status; reject if the server exits or `ms` pass. */
export async function waitForHttp(server, url, ms = 20000) {
  await server.ready;
  const deadline = Date.now() + ms;
  for (;;) {
    if (server.exited) throw new Error(`${server.name} exited (${JSON.stringify(await server.exit)}) while starting:\n${server.log}`);
    const ok = await new Promise((resolve) => {
      const req = request(url, { method: 'GET' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.once('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${server.name} did not answer ${url} within ${ms} ms:\n${server.log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopServer(server, graceMs = 3000) {
  if (server.exited) return;
  server.stopping = true;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  await server.exit;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...children].map((s) => stopServer(s)));
}

/** Synchronous last resort (process 'exit' handler): no waiting possible there. */
export function killAllNow() {
  for (const s of children) {
    s.stopping = true;
    try {
      s.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** `pid` and all its descendants (nginx: master and worker). */
function tree(pid) {
  const pids = [pid];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const kid of kids ? kids.split(/\s+/) : []) pids.push(...tree(Number(kid)));
    }
  } catch {
    /* the process ended between reads */
  }
  return pids;
}

/** Sum of `read(pid)` over the process tree; a process that ends between reads counts 0. */
function sumTree(pid, read) {
  let total = 0;
  for (const p of tree(pid)) {
    try {
      total += read(p);
    } catch {
      /* gone */
    }
  }
  return total;
}

/** Resident set size of `pid` and its descendants, in bytes (Linux /proc). */
export const rssTree = (pid) =>
  sumTree(pid, (p) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024);

/** CPU time (user + system) of `pid` and its descendants, in seconds (clock ticks of 1/100 s). */
export const cpuTree = (pid) =>
  sumTree(pid, (p) => {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime
  });

/** Sample peak RSS (every `everyMs`) and CPU time used of `pid` until stop() is called. */
export function sampleProcess(pid, everyMs = 100) {
  let peak = rssTree(pid);
  const cpu0 = cpuTree(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssTree(pid))), everyMs);
  let result;
  return {
    stop() {
      clearInterval(timer);
      result ??= { peakRssBytes: Math.max(peak, rssTree(pid)), cpuSeconds: cpuTree(pid) - cpu0 };
      return result;
    },
  };
}

/** Kernel's peak resident set of `pid` (VmHWM), in bytes. */
export const vmHwm = (pid) => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/**
 * The figures of a run that measured one operation on `pid` (upload, peaks): `bytes` in
 * `seconds`, with its sampler's stop() result; the peak is the sampled one or the kernel's, the higher.
 */
export function oneOperation({ pid, bytes, seconds, sampled }) {
  const peak = Math.max(sampled.peakRssBytes, vmHwm(pid));
  return {
    requests: 1,
    rps: 1 / seconds,
    mbps: bytes / 1e6 / seconds,
    seconds,
    peakRssBytes: peak,
    peakRssMiB: peak / 2 ** 20,
    cpuSeconds: sampled.cpuSeconds,
    cpuUsPerRequest: sampled.cpuSeconds * 1e6,
  };
}
