/**
 * Every server the benchmark compares, each its own child process on a free 127.0.0.1 port:
 * recproxy (`bin/recproxy serve`), the Node peers in bench/peers/, s3rver, and nginx.
 */
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, writeNginxConf } from './fixtures.mjs';
import { GUARD_WRAPPER, ORPHAN_GUARD, freePort, startServer, waitForHttp } from './proc.mjs';

/**
 * The Node flags recproxy runs with, as `npm start` gives them; BENCH_RECPROXY_FLAGS (space
 * separated) replaces them, to measure a flag side by side with the default.
 */
export const RECPROXY_NODE_FLAGS = process.env.BENCH_RECPROXY_FLAGS?.split(' ').filter(Boolean) ?? ['--no-memory-reducer'];

/** The path of a peer server in bench/peers/. */
export const peer = (file) => fileURLToPath(new URL(`../peers/${file}`, import.meta.url));

/**
 * `recproxy serve` with `env` (see fixtures.recproxyEnv). `cpuProfDir`: run it under
 * `node --cpu-prof`; the profile is written there when it stops.
 */
export async function startRecproxy(name, env, { cpuProfDir } = {}) {
  const port = await freePort();
  const prof = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  const server = startServer(name, process.execPath, ['--import', ORPHAN_GUARD, ...RECPROXY_NODE_FLAGS, ...prof, join(ROOT, 'bin/recproxy'), 'serve'], {
    cwd: ROOT,
    env: { HOST: '127.0.0.1', PORT: String(port), ...env },
  });
  server.url = `http://127.0.0.1:${port}`;
  await waitForHttp(server, `${server.url}/healthz`);
  return server;
}

/** A Node peer from bench/peers/ (`file`), with PORT and `env`. */
export async function startNodePeer(name, file, env = {}) {
  const port = await freePort();
  const server = startServer(name, process.execPath, ['--import', ORPHAN_GUARD, peer(file)], {
    cwd: ROOT,
    env: { PORT: String(port), ...env },
  });
  server.url = `http://127.0.0.1:${port}`;
  await waitForHttp(server, `${server.url}/`);
  return server;
}

/** `nginx version: nginx/1.22.1` (nginx -v prints to stderr), or undefined when not installed. */
export function nginxVersion() {
  const out = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (out.error) return undefined;
  return `${out.stderr}${out.stdout}`.trim() || 'nginx';
}

/**
 * nginx (worker_processes 1) serving `root`; undefined when nginx is not installed. `name`: its
 * files' names in `dir` (a second nginx beside the first); `connections`: worker_connections.
 */
export async function startNginx(dir, root, { name = 'nginx', connections } = {}) {
  if (!nginxVersion()) return undefined;
  const port = await freePort();
  const conf = await writeNginxConf(dir, root, port, { name, connections });
  const server = startServer(name, process.execPath, [GUARD_WRAPPER, 'nginx', '-p', dir, '-c', conf, '-e', join(dir, `${name}-error.log`)], {
    pidFromStdout: true,
  });
  server.url = `http://127.0.0.1:${port}`;
  await waitForHttp(server, `${server.url}/`);
  return server;
}

/**
 * One request: status, headers and (up to `keep` bytes of) the body. Used to check each
 * URL answers what the scenario means before it is loaded, and to fetch stream URLs.
 */
export function probe(url, headers = {}, keep = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks = [];
      let length = 0;
      res.on('data', (chunk) => {
        length += chunk.length;
        if (length <= keep) chunks.push(chunk);
      });
      res.once('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, length, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error(`probe of ${url} timed out`)));
    req.end();
  });
}

/**
 * `probe`, sent again every 500 ms for up to 30 s while it answers 503: a server just started
 * on a loaded machine may still be shedding load (SERVER_BUSY).
 */
export async function probeReady(url, headers = {}) {
  let answer = await probe(url, headers);
  for (const until = Date.now() + 30_000; answer.status === 503 && Date.now() < until; answer = await probe(url, headers)) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return answer;
}
