/**
 * .ci/run, run for real in a scratch git repository where npm, node, the toolchain and
 * scripts/node24.sh are stand-ins: it must run the suite on both runtimes, each in its own tree,
 * keep going when one fails, and end with one "N passed, N failed" line covering both.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CI_RUN = fileURLToPath(new URL('../.ci/run', import.meta.url));

function script(path: string, body: string): void {
  writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path, 0o755);
}

/**
 * `npm` answers as the runtime in FAKE_RUNTIME (20 unless the node24.sh stand-in set 24):
 * OUTCOME_<runtime> is `pass` (5 passed), `fail` (3 passed, 2 failed) or `ci-fail`
 * (`npm ci` fails). Every npm call is logged as "runtime command cwd files|empty" (whether
 * the directory holds package.json).
 */
function scratchRepo(t: Test): { dir: string; bin: string; calls: string } {
  const dir = mkdtempSync(join(tmpdir(), 'recproxy-ci-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'fake-bin');
  const calls = join(dir, 'npm-calls.log');
  for (const sub of ['.ci', 'scripts', 'test', 'fake-bin']) mkdirSync(join(dir, sub));
  copyFileSync(CI_RUN, join(dir, '.ci/run'));
  writeFileSync(join(dir, '.gitignore'), 'fake-bin/\nnpm-calls.log\n');
  writeFileSync(join(dir, 'package.json'), '{}\n');
  script(join(dir, 'test/ensure-chromium.sh'), 'exit 0');
  script(join(dir, 'test/ensure-radosgw.sh'), 'exit 0');
  script(
    join(dir, 'scripts/node24.sh'),
    `if [ $# -eq 0 ]; then echo "${bin}"; exit 0; fi\nFAKE_RUNTIME=24 exec "$@"`,
  );
  for (const tool of ['g++', 'make', 'python3', 'apt-get']) script(join(bin, tool), 'exit 0');
  script(join(bin, 'node'), 'case "$1" in --version) echo "v${FAKE_RUNTIME:-20}.0.0";; *) echo "${FAKE_RUNTIME:-20}";; esac');
  script(
    join(bin, 'npm'),
    [
      'rt=${FAKE_RUNTIME:-20}',
      `echo "$rt $1 $PWD $([ -f package.json ] && echo files || echo empty)" >> "${calls}"`,
      'outcome_var=OUTCOME_$rt; outcome=${!outcome_var}',
      'case "$1" in',
      '  --version) echo 11.0.0 ;;',
      '  ci) [ "$outcome" != ci-fail ] ;;',
      '  test) if [ "$outcome" = fail ]; then echo "# { total: 5, pass: 3, fail: 2 }"; exit 1; fi',
      '        echo "# { total: 5, pass: 5, fail: 0 }" ;;',
      'esac',
    ].join('\n'),
  );
  const git = spawnSync('git', ['init', '-q', dir]);
  t.equal(git.status, 0, 'git init');
  return { dir, bin, calls };
}

function ciRun(repo: { dir: string; bin: string }, outcomes: { 20: string; 24: string }) {
  const r = spawnSync('bash', [join(repo.dir, '.ci/run')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: `${repo.bin}:${process.env.PATH}`, HOME: repo.dir, OUTCOME_20: outcomes[20], OUTCOME_24: outcomes[24] },
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { status: r.status, lines, last: lines.at(-1), out: r.stdout + r.stderr };
}

t.test('both runtimes green: one line sums both, each in its own tree, each timed', async (t) => {
  const repo = scratchRepo(t);
  const run = ciRun(repo, { 20: 'pass', 24: 'pass' });
  t.equal(run.last, '10 passed, 0 failed', 'the last line', { output: run.out });
  t.equal(run.status, 0);
  t.match(run.out, /== node20: 5 passed, 0 failed in \d+ s/);
  t.match(run.out, /== node24: 5 passed, 0 failed in \d+ s/);
  const calls = readFileSync(repo.calls, 'utf8').trim().split('\n').map((l) => l.split(' '));
  const ci = calls.filter(([, cmd]) => cmd === 'ci');
  t.same(ci.map(([rt]) => rt), ['20', '24'], 'a clean install per runtime');
  const [checkout = [], own = []] = ci;
  t.equal(checkout[2], repo.dir, 'the machine Node runs in the checkout');
  t.not(own[2], checkout[2], 'Node 24 runs in a tree of its own');
  t.equal(own[3], 'files', "Node 24's tree holds the checkout's files");
});

t.test('a failing pass does not stop the other; the line counts both; the exit is non-zero', async (t) => {
  const run = ciRun(scratchRepo(t), { 20: 'fail', 24: 'pass' });
  t.equal(run.last, '8 passed, 2 failed', 'the last line', { output: run.out });
  t.not(run.status, 0);
  t.match(run.out, /== node24: 5 passed, 0 failed/);
});

t.test('an install that fails counts as a failure and the other runtime still runs', async (t) => {
  const run = ciRun(scratchRepo(t), { 20: 'pass', 24: 'ci-fail' });
  t.equal(run.last, '5 passed, 1 failed', 'the last line', { output: run.out });
  t.not(run.status, 0);
  t.match(run.out, /npm ci failed/);
});
