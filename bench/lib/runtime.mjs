/**
 * BENCH_NODE: the Node the whole bench runs on. Every server, peer and load driver is started
 * with process.execPath, so running bench/run.mjs itself under that Node is enough.
 * `24` is the Node of scripts/node24.sh (the Docker image's); anything else is a node binary's
 * path. better-sqlite3 is native: node_modules must be built for that Node (BENCHMARKS.md).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';

/**
 * When BENCH_NODE names another Node than this one: runs `script` under it (same arguments and
 * environment) and resolves to its exit code, or to 1 after saying why it cannot.
 * Otherwise undefined: the bench runs here.
 */
export async function onBenchNode(value, root, script) {
  if (!value) return undefined;
  const fail = (why) => {
    process.stderr.write(`[bench] BENCH_NODE=${value}: ${why}\n`);
    return 1;
  };
  let node;
  try {
    node = value === '24' ? join(execFileSync('bash', [join(root, 'scripts/node24.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim(), 'node') : value;
    node = realpathSync(node);
  } catch (err) {
    return fail(`no node binary (${err.message.split('\n')[0]})`);
  }
  if (node === realpathSync(process.execPath)) return undefined;
  const check = spawnSync(node, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], { cwd: root, encoding: 'utf8' });
  if (check.status !== 0) {
    const abi = /NODE_MODULE_VERSION (\d+)[\s\S]*NODE_MODULE_VERSION (\d+)/.exec(check.stderr ?? '');
    const why = abi ? `built for NODE_MODULE_VERSION ${abi[1]}, ${node} needs ${abi[2]}` : (check.error?.message ?? check.stderr.trim().split('\n')[0]);
    return fail(`this tree's better-sqlite3 does not load under ${node} (${why}); run the bench from a tree installed with that Node (BENCHMARKS.md, "On Node 24")`);
  }
  const child = spawn(node, [script, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1))));
}
