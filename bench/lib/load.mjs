/**
 * Load from a second process: wrk when installed (a generated Lua script sets the headers,
 * picks random call_sids, and prints its summary as one JSON line), else autocannon run in a
 * child process (bench/lib/autocannon-child.mjs) printing the same JSON line.
 *
 * A load spec: { url, headers?, connections, seconds, timeoutSec?, random?: {prefix, count, suffix} }
 * (`random`: each request asks `${prefix}${0..count-1}${suffix}` instead of the URL's path).
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const AUTOCANNON_CHILD = fileURLToPath(new URL('./autocannon-child.mjs', import.meta.url));

export const WRK = (() => {
  if (process.env.BENCH_DRIVER === 'autocannon') return false;
  try {
    execFileSync('wrk', ['-v'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return err.code !== 'ENOENT'; // `wrk -v` exits 1 after printing its version
  }
})();

export const driverName = WRK ? 'wrk' : 'autocannon';

let scriptCount = 0;

function luaScript(spec) {
  const lines = ['math.randomseed(os.time())'];
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  }
  if (spec.random) {
    const { prefix, count, suffix } = spec.random;
    lines.push(
      'request = function()',
      `  return wrk.format(nil, ${JSON.stringify(prefix)} .. math.random(0, ${count - 1}) .. ${JSON.stringify(suffix)})`,
      'end',
    );
  }
  lines.push(
    'done = function(s, latency, requests)',
    '  local e = s.errors',
    '  io.write(string.format(\'BENCH_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"p50Us":%d,"p99Us":%d,' +
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n\',',
    '    s.requests, s.duration, s.bytes, latency:percentile(50), latency:percentile(99),',
    '    e.connect, e.read, e.write, e.status, e.timeout))',
    'end',
  );
  return lines.join('\n') + '\n';
}

const running = new Set();

/** Stop a load generator still running (harness interrupted); resolves once it has exited. */
export function stopLoad() {
  return Promise.all(
    [...running].map((child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

function runChild(command, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      running.delete(child);
      const line = /^BENCH_JSON (.*)$/m.exec(stdout);
      if (!line) return reject(new Error(`${command} gave no summary: ${err?.message ?? ''}\n${stdout}\n${stderr}`));
      resolve(JSON.parse(line[1]));
    });
    running.add(child);
  });
}

/** One load run; `workDir` receives the wrk script. Returns raw counts and derived figures. */
export async function load(spec, workDir) {
  const timeoutSec = spec.timeoutSec ?? 10;
  let raw;
  if (WRK) {
    const script = join(workDir, `load-${++scriptCount}.lua`);
    await writeFile(script, luaScript(spec));
    const args = ['-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--latency', `--timeout`, `${timeoutSec}s`, '-s', script, spec.url];
    raw = await runChild('wrk', args, (spec.seconds + timeoutSec + 30) * 1000);
  } else {
    raw = await runChild(process.execPath, [AUTOCANNON_CHILD, JSON.stringify({ ...spec, timeoutSec })], (spec.seconds + timeoutSec + 30) * 1000);
  }
  const seconds = raw.durationUs / 1e6;
  const errors = Object.values(raw.errors).reduce((a, b) => a + b, 0);
  return {
    requests: raw.requests,
    rps: raw.requests / seconds,
    mbps: raw.bytes / seconds / 1e6,
    p50ms: raw.p50Us / 1000,
    p99ms: raw.p99Us / 1000,
    bytesPerRequest: raw.requests ? raw.bytes / raw.requests : 0,
    errors,
    errorDetail: raw.errors,
  };
}
