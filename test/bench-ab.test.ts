/**
 * bench/ab.mjs, the side-by-side comparison of builds: what it answers when it is asked wrongly
 * (before it needs wrk, taskset or a server). Its measurements are BENCHMARKS.md's, not a test's.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const AB = fileURLToPath(new URL('../bench/ab.mjs', import.meta.url));
const ab = (...args: string[]) => spawnSync(process.execPath, [AB, ...args], { encoding: 'utf8' });

t.test('fewer than two servers, or a round count that is not a number: the usage, exit 2', async (t) => {
  for (const args of [[], ['A=.'], ['--rounds', 'x', 'A=.', 'bare-fastify'], ['--seconds', '0', 'A=.', 'B=.']]) {
    const r = ab(...args);
    t.equal(r.status, 2, `exit 2 for ${JSON.stringify(args)}`);
    t.match(r.stderr, /^usage: node bench\/ab\.mjs \[--rounds N\] \[--seconds S\] NAME=DIR/);
    t.equal(r.stdout, '', 'nothing measured');
  }
});

t.test('an option it does not know: the usage and the option named, exit 2', async (t) => {
  const r = ab('--round', '3', 'A=.', 'B=.');
  t.equal(r.status, 2);
  t.match(r.stderr, /^usage: node bench\/ab\.mjs .*\n.*'--round'/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
