/**
 * The check of test/aborted-downloads*.test.ts (one file per storage, each under tap's time
 * limit on a loaded machine). A thousand downloads cut off by their clients (some right after the headers, some after the
 * first body chunk) leave nothing behind in `recproxy serve`: its open file descriptors and
 * sockets (/proc/PID/fd) come back to their baseline and no transfer stays counted in flight
 * (/metrics), on local storage and through the S3 adapter (whose backend reads must be
 * aborted, not left to drain or pool).
 */
import type { Test } from 'tap';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli } from './cli.js';
import { serveProcess } from './serve.js';
import { makeWav } from './wav.js';

export const ABORTS = 1000;
const CONCURRENCY = 50;

/** The daemon's open descriptors: all, and those that are sockets. */
function fds(pid: number): { all: number; sockets: number } {
  let all = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while listed
    }
    all++;
    if (target.startsWith('socket:')) sockets++;
  }
  return { all, sockets };
}

/** One download cut off by the client: after the headers (`early`) or after the first body chunk. */
function abortedDownload(url: string, headers: Record<string, string>, early: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      if (early) return req.destroy();
      res.once('data', () => req.destroy());
    });
    req.on('close', () => resolve());
    req.on('error', () => undefined); // the abort itself
  });
}

/** Runs `count` aborted downloads, `CONCURRENCY` at a time. */
async function abortMany(count: number, url: string, headers: Record<string, string>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        await abortedDownload(url, headers, i % 2 === 0);
      }
    }),
  );
}

const inFlight = async (base: string) => {
  const text = await (await fetch(`${base}/metrics`)).text();
  return [...text.matchAll(/^recproxy_http_transfers_in_flight\{kind="download"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
};

/** Polls until the descriptors are no more than `baseline` (at most a minute); the last count. */
async function settled(pid: number, baseline: { all: number; sockets: number }) {
  let now = fds(pid);
  for (const until = Date.now() + 60_000; (now.all > baseline.all || now.sockets > baseline.sockets) && Date.now() < until; ) {
    await sleep(250);
    now = fds(pid);
  }
  return now;
}

/** Serves one 2 MB call from `storageEnv`'s storage, cuts ABORTS downloads, checks what is left. */
export async function checkAbortedDownloads(t: Test, storageEnv: Record<string, string>) {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-aborts-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await writeFile(join(cwd, 'rec.wav'), makeWav(125)); // 2 MB
  const add = await runCli(['calls', 'add', '--org', 'org_a', '--sid', 'call_cut', '--to', '+15550000001', '--file', 'rec.wav'], { cwd, env: storageEnv, timeoutMs: 120_000 });
  t.equal(add.code, 0, add.stderr);
  const key = (await runCli(['keys', 'create', '--org', 'org_a'], { cwd, env: storageEnv })).stdout.trim();
  const s = await serveProcess(t, cwd, { ...storageEnv, RECPROXY_RATE_LIMIT_MAX: '0' });
  const pid = s.child.pid!;
  const url = `${s.base}/api/calls/call_cut/recording/download`;
  const headers = { Authorization: `Bearer ${key}`, 'X-Organization-Id': 'org_a' };

  // Warm up (the audit thread, the storage client's pool), then let idle connections close.
  await abortMany(CONCURRENCY * 2, url, headers);
  const baseline = await settled(pid, { all: 0, sockets: 0 }).then(async () => {
    await sleep(6000); // longer than a backend's keep-alive: pooled sockets close
    return fds(pid);
  });

  await abortMany(ABORTS, url, headers);
  const during = fds(pid);
  const after = await settled(pid, baseline);
  t.ok(after.all <= baseline.all, `descriptors back to baseline: ${baseline.all} → ${after.all} (after the aborts: ${during.all})`);
  t.ok(after.sockets <= baseline.sockets, `sockets back to baseline: ${baseline.sockets} → ${after.sockets}`);
  t.equal(await inFlight(s.base), 0, 'no download counted in flight');
  const full = await fetch(url, { headers });
  t.equal((await full.arrayBuffer()).byteLength, 44 + 125 * 16000, 'and a whole download still works');
}

