/**
 * BENCH_NODE (bench/lib/runtime.mjs): bench/run.mjs runs itself again under the named node,
 * after checking that this tree's better-sqlite3 loads there. The "node" here is a stand-in
 * script, so no benchmark runs.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../bench/run.mjs', import.meta.url));

/** A stand-in node: `-e` (the native check) answers per `check`; a run logs its argv and exits 7. */
function fakeNode(t: Test, check: 'loads' | 'abi'): { node: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'recproxy-bench-node-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const node = join(dir, 'node');
  const log = join(dir, 'argv.log');
  const abi = 'echo "was compiled against a different Node.js version using NODE_MODULE_VERSION 115. This version of Node.js requires NODE_MODULE_VERSION 137." >&2; exit 1';
  writeFileSync(
    node,
    `#!/usr/bin/env bash\nif [ "$1" = -e ]; then ${check === 'abi' ? abi : 'exit 0'}; fi\necho "$* BENCH_ONLY=$BENCH_ONLY" > "${log}"\nexit 7\n`,
  );
  chmodSync(node, 0o755);
  return { node, log };
}

const bench = (node: string) =>
  spawnSync(process.execPath, [RUN], { encoding: 'utf8', env: { ...process.env, BENCH_NODE: node, BENCH_ONLY: 'stream' } });

t.test('BENCH_NODE=<path>: the bench runs under that node, with its environment, and its exit code', async (t) => {
  const { node, log } = fakeNode(t, 'loads');
  const r = bench(node);
  t.equal(r.status, 7, 'the exit code of the run under BENCH_NODE');
  t.equal(readFileSync(log, 'utf8').trim(), `${RUN} BENCH_ONLY=stream`);
});

t.test('a node_modules built for another Node: a clear error, and nothing runs', async (t) => {
  const { node, log } = fakeNode(t, 'abi');
  const r = bench(node);
  t.equal(r.status, 1);
  t.match(r.stderr, /BENCH_NODE=.*built for NODE_MODULE_VERSION 115, .* needs 137.*BENCHMARKS\.md/);
  t.throws(() => readFileSync(log), 'the bench did not run');
});

t.test('BENCH_NODE naming no binary is refused', async (t) => {
  const r = bench('/nonexistent/node');
  t.equal(r.status, 1);
  t.match(r.stderr, 'BENCH_NODE=/nonexistent/node: no node binary');
});
