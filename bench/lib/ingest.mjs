/**
 * The `ingest` scenario: files per second of `recproxy ingest` (copying each recording into the
 * local store) and `recproxy scan` (indexing them in place) over a generated Asterisk spool of
 * tiny WAVs, each a real CLI process with a fresh index. The rate is the file count over the
 * command's whole wall time, start-up included (about 0.7 s of it).
 * BENCH_INGEST_FILES sets the spool's size (10,000).
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, wavHeader } from './fixtures.mjs';
import { sampleProcess } from './proc.mjs';

const FILES = Number(process.env.BENCH_INGEST_FILES ?? 10_000);

/** A WAV of `ms` milliseconds of 8 kHz 16-bit mono (44 + 16·ms bytes), its samples from `seed`. */
function tinyWav(ms, seed) {
  const data = 16 * ms;
  const b = Buffer.alloc(44 + data);
  wavHeader(data).copy(b, 0);
  for (let i = 44; i + 4 <= b.length; i += 4) b.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
  return b;
}

/** `count` recordings under `root` in the asterisk layout (YYYY/MM/DD/{dir}-{to}-{from}-{date}-{time}-{uniqueid}.wav). */
async function writeSpool(root, count) {
  const pad = (n, w) => String(n).padStart(w, '0');
  for (let d = 1; d <= 28; d++) await mkdir(join(root, `2026/11/${pad(d, 2)}`), { recursive: true });
  const jobs = [];
  for (let i = 0; i < count; i++) {
    const day = pad(1 + (i % 28), 2);
    const name = `out-1555${pad(i, 7)}-${200 + (i % 50)}-202611${day}-${pad(i % 24, 2)}${pad(Math.floor(i / 24) % 60, 2)}00-${1764000000 + i}.${i % 100}.wav`;
    jobs.push([join(root, `2026/11/${day}`, name), tinyWav(1 + (i % 40), i)]);
  }
  for (let i = 0; i < jobs.length; i += 64) await Promise.all(jobs.slice(i, i + 64).map(([p, b]) => writeFile(p, b)));
}

/** Runs bin/recproxy with `args`; resolves with its wall time, peak RSS and stderr. @throws when it exits non-zero */
function timed(args, env, cpuProfDir) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const node = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
    const child = spawn(process.execPath, [...node, join(ROOT, 'bin/recproxy'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const sample = sampleProcess(child.pid);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const { peakRssBytes } = sample.stop();
      if (code !== 0) return reject(new Error(`recproxy ${args.join(' ')} exited ${code}: ${stderr.slice(-600)}`));
      resolve({ seconds, peakRssBytes, stderr });
    });
  });
}

/**
 * The scenario's rows: `ingest-local` and `scan-local`, each with `filesPerSec` (also as `rps`,
 * the table's rate column), `seconds` and the CLI's peak RSS.
 */
export async function ingestRuns(dir, { org, log, cpuProfDir }) {
  const spool = join(dir, 'ingest-spool');
  log(`writing ${FILES} recordings into ${spool}`);
  await writeSpool(spool, FILES);
  const base = { RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'), RECPROXY_LOG_LEVEL: 'warn' };
  const common = ['--layout', 'asterisk', '--org', org, '--settle-ms', '0'];
  const runs = [];
  const commands = [
    ['ingest-local', ['ingest', spool, ...common], { RECPROXY_DB_PATH: join(dir, 'ingest.db'), RECPROXY_LOCAL_ROOT: join(dir, 'ingest-store') }],
    ['scan-local', ['scan', ...common], { RECPROXY_DB_PATH: join(dir, 'scan.db'), RECPROXY_LOCAL_ROOT: spool }],
  ];
  for (const [server, args, env] of commands) {
    log(`ingest · ${server}: recproxy ${args[0]} of ${FILES} files`);
    try {
      const { seconds, peakRssBytes, stderr } = await timed(args, { ...base, ...env }, cpuProfDir);
      if (!stderr.includes(`${FILES} indexed, 0 already indexed, 0 skipped, 0 failed`)) throw new Error(`unexpected summary: ${stderr.slice(-600)}`);
      const filesPerSec = FILES / seconds;
      runs.push({ scenario: 'ingest', server, files: FILES, seconds, filesPerSec, rps: filesPerSec, requests: 0, peakRssBytes, peakRssMiB: peakRssBytes / 2 ** 20 });
    } catch (err) {
      runs.push({ scenario: 'ingest', server, failed: err.message });
    }
  }
  return runs;
}
