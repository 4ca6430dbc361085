/**
 * Two or more builds of recproxy (and the peers) side by side on the stream endpoint, for changes
 * too small for `npm run bench` to see: this machine's speed moves in phases of tens of seconds,
 * which fall on one server of a run and not on another. Here every server runs at once, pinned to
 * CPU 0 (`taskset`); wrk `-t1 -c16`, pinned to CPU 1, loads one of them for SECONDS at a time, in
 * turn, the order turning each round. A server's CPU a request is its user + system time
 * (/proc/PID/stat) over its turn ÷ the requests answered; the figures are medians over the rounds,
 * and each ratio is the median of the rounds' ratios to the first server (each pair of a round ran
 * in the same phase). Two servers of one build come out up to ~6% apart: smaller differences are
 * noise (BENCHMARKS.md, "Comparing builds").
 *
 *   node bench/ab.mjs [--rounds N] [--seconds S] SERVER...
 *
 * SERVER: NAME=DIR (a checkout with `dist/` built: DIR/bin/recproxy serve), NAME=DIR:ENVJSON (the
 * same with more environment, e.g. 'nolimit=.:{"RECPROXY_RATE_LIMIT_MAX":"0"}'), `bare-fastify`
 * (bench/peers/bare-fastify.mjs) or `bare-node-json` (bench/peers/bare-node-json.mjs). Each
 * recproxy gets its own copy of the fixtures (one 2 MiB call, one API key, recproxyEnv's limits).
 * recproxy runs with `npm start`'s Node flags (or BENCH_RECPROXY_FLAGS, as in bench/run.mjs).
 * Needs wrk and taskset (util-linux).
 */
import { execFileSync } from 'node:child_process';
import { cp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cliAdd, cliKeyCreate, makeTempDir, makeWav, recproxyEnv } from './lib/fixtures.mjs';
import { ORPHAN_GUARD, cpuTree, freePort, killAllNow, startServer, stopAll, waitForHttp } from './lib/proc.mjs';
import { RECPROXY_NODE_FLAGS, peer } from './lib/servers.mjs';

const USAGE = 'usage: node bench/ab.mjs [--rounds N] [--seconds S] NAME=DIR[:ENVJSON] | bare-fastify | bare-node-json ... (two or more)';
let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { rounds: { type: 'string', default: '20' }, seconds: { type: 'string', default: '1' } },
  });
} catch (err) {
  console.error(`${USAGE}\n${err.message}`);
  process.exit(2);
}
const { values, positionals } = parsed;
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
if (positionals.length < 2 || !(rounds >= 1) || !(seconds >= 1)) {
  console.error(USAGE);
  process.exit(2);
}
for (const tool of ['wrk', 'taskset']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    console.error(`bench/ab.mjs needs ${tool} on the PATH`);
    process.exit(2);
  }
}

const ORG = 'org_bench';
const SID = 'call_ab';
const PATH = `/api/calls/${SID}/recording/stream`;
const PEERS = { 'bare-fastify': 'bare-fastify.mjs', 'bare-node-json': 'bare-node-json.mjs' };
const pinned = (args) => ['-c', '0', process.execPath, '--import', ORPHAN_GUARD, ...args];

process.on('exit', killAllNow);
process.on('SIGINT', () => process.exit(130));

const dir = await makeTempDir();
const servers = [];
try {
  await writeFile(join(dir, 'ab.wav'), makeWav(2 * 1024 * 1024));
  const env = recproxyEnv(dir);
  await cliAdd(env, { org: ORG, sid: SID, to: '+15551234567', file: join(dir, 'ab.wav') });
  const headers = { Authorization: `Bearer ${await cliKeyCreate(env, ORG)}`, 'X-Organization-Id': ORG };

  let body;
  // recproxy builds first: the peers answer the body the first of them answered.
  const specs = positionals.map((spec, i) => ({ spec, i })).sort((a, b) => Number(a.spec in PEERS) - Number(b.spec in PEERS));
  for (const { spec, i } of specs) {
    const port = await freePort();
    let server;
    if (spec in PEERS) {
      if (body === undefined) throw new Error('a peer needs a recproxy build beside it: it answers the body recproxy answered');
      server = startServer(spec, 'taskset', pinned([peer(PEERS[spec])]), { env: { PORT: String(port), BENCH_BODY: body } });
    } else {
      const m = /^([^=]+)=([^:]+)(?::(.*))?$/s.exec(spec);
      if (!m) throw new Error(`not a server: ${spec}`);
      const [, name, root, extra] = m;
      const copy = `${dir}-${i}`;
      await cp(dir, copy, { recursive: true });
      const own = { ...recproxyEnv(copy), ...(extra ? JSON.parse(extra) : {}), HOST: '127.0.0.1', PORT: String(port) };
      server = startServer(name, 'taskset', pinned([...RECPROXY_NODE_FLAGS, join(resolve(root), 'bin/recproxy'), 'serve']), { env: own });
      server.copy = copy;
    }
    servers.push(server);
    server.url = `http://127.0.0.1:${port}${PATH}`;
    server.order = i;
    await waitForHttp(server, `http://127.0.0.1:${port}/`);
    const res = await fetch(server.url, { headers });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${server.name} answered ${res.status}: ${text}`);
    body ??= text;
  }
  servers.sort((a, b) => a.order - b.order);

  const wrkArgs = ['-c', '1', 'wrk', '-t1', '-c16', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])];
  /** One turn of load on `server`: its req/s and CPU µs a request. */
  const turn = (server, s) => {
    const before = cpuTree(server.pid);
    const out = execFileSync('taskset', [...wrkArgs, `-d${s}s`, server.url], { encoding: 'utf8' });
    const cpu = cpuTree(server.pid) - before;
    if (/Non-2xx/.test(out)) throw new Error(`${server.name} answered errors under load:\n${out}`);
    const requests = Number(/(\d+) requests in/.exec(out)[1]);
    return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]), us: (cpu * 1e6) / requests };
  };
  for (const server of servers) turn(server, 1); // warm-up
  const results = servers.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < servers.length; k++) {
      const j = (k + r) % servers.length;
      results[j][r] = turn(servers[j], seconds);
    }
    process.stderr.write(`\r[ab] round ${r + 1}/${rounds}`);
  }
  process.stderr.write('\n');
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const n = s.length;
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  };
  const first = servers[0].name;
  console.log(`${rounds} rounds of ${seconds} s, ${PATH}; ratios: the median of each round's ratio to ${first}`);
  console.log(['server'.padEnd(16), 'CPU µs/req'.padStart(10), 'req/s'.padStart(8), `CPU ÷ ${first}`.padStart(20), `req/s ÷ ${first}`.padStart(20)].join('  '));
  for (const [j, server] of servers.entries()) {
    const own = results[j];
    console.log(
      [
        server.name.padEnd(16),
        median(own.map((x) => x.us)).toFixed(1).padStart(10),
        median(own.map((x) => x.rps)).toFixed(0).padStart(8),
        median(own.map((x, r) => x.us / results[0][r].us)).toFixed(3).padStart(20),
        median(own.map((x, r) => x.rps / results[0][r].rps)).toFixed(3).padStart(20),
      ].join('  '),
    );
  }
} finally {
  await stopAll();
  for (const server of servers) if (server.copy) await rm(server.copy, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
}
