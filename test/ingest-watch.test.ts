/**
 * `recproxy ingest DIR --watch` (src/cli-ingest.ts), a real process watching a real folder: a
 * WAV written slowly, in chunks with pauses, is indexed exactly once and complete (its sha256 is
 * the final file's); a file deleted before it settles is never indexed; SIGTERM stops the
 * watch cleanly with the summary. The settle time is set far above the writer's pauses, and the
 * test waits for outcomes (lines the run prints), never for a time.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { BIN, cleanEnv } from './helpers/cli.js';
import { indexRows, tinyWav } from './helpers/pbx-trees.js';

const dir = await mkdtemp(join(tmpdir(), 'recproxy-ingest-watch-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const spool = join(dir, 'spool');
await mkdir(spool, { recursive: true });
// Already there before the watch starts: the first pass indexes it.
await mkdir(join(spool, '2026/11/27'), { recursive: true });
await writeFile(join(spool, '2026/11/27/in-15550000000-200-20261127-080000-1764000000.1.wav'), tinyWav(10, 1));

const env = {
  RECPROXY_DB_PATH: join(dir, 'index.db'),
  RECPROXY_LOCAL_ROOT: join(dir, 'store'),
  RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key'),
};
/** Far above the writer's pauses (300 ms), so a pause never looks like a finished file. */
const SETTLE_MS = 4000;

t.test('a slowly written WAV is indexed once, complete; a file deleted before it settles never is', async (t) => {
  const child = spawn(process.execPath, [BIN, 'ingest', spool, '--layout', 'asterisk', '--org', 'org_w', '--watch', '--settle-ms', String(SETTLE_MS), '--poll-ms', '100'], {
    env: cleanEnv(env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    for (const w of waiters.filter((w) => w.pattern.test(stderr))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const printed = (pattern: RegExp) => new Promise<void>((resolve) => (pattern.test(stderr) ? resolve() : waiters.push({ pattern, resolve })));

  await printed(/ingest: watching /);
  t.match(stderr, /ingest: indexed 2026\/11\/27\/in-15550000000-200-20261127-080000-1764000000\.1\.wav \(call_17640000001\)/, 'the first pass took what was there');

  // A recording written over about 10 s: the header first, then chunks with pauses.
  await mkdir(join(spool, '2026/11/28'), { recursive: true });
  const slow = '2026/11/28/out-15559876543-201-20261128-093012-1764322212.84.wav';
  const whole = tinyWav(20_000, 42); // 20 s of audio, 320 KB
  const chunks = 30;
  const step = Math.ceil((whole.length - 44) / chunks);
  await writeFile(join(spool, slow), whole.subarray(0, 44));
  // And a file that appears and goes before it could settle.
  const gone = '2026/11/28/in-15550001111-202-20261128-093500-1764322299.1.wav';
  await writeFile(join(spool, gone), tinyWav(5, 5).subarray(0, 30));
  for (let i = 0; i < chunks; i++) {
    await sleep(300);
    await appendFile(join(spool, slow), whole.subarray(44 + i * step, 44 + (i + 1) * step));
    if (i === 2) await unlink(join(spool, gone));
  }
  await printed(/ingest: indexed 2026\/11\/28\/out-15559876543-201-20261128-093012-1764322212\.84\.wav/);

  const rows = indexRows(join(dir, 'index.db'));
  const row = rows.find((r) => r.call_sid === 'call_176432221284');
  t.ok(row, 'indexed');
  t.equal(row!.sha256, createHash('sha256').update(whole).digest('hex'), 'complete: the sha256 of the final file');
  t.equal(row!.size_bytes, whole.length);
  t.equal(row!.duration_ms, 20_000);
  t.same(await readFile(join(dir, 'store', row!.storage_key)), whole, 'the stored bytes are the whole file');
  t.notOk(rows.some((r) => r.call_sid === 'call_17643222991'), 'the file deleted before it settled was never indexed');
  t.notMatch(stderr, /1764322299/, 'nor reported');
  t.equal(rows.length, 2);

  child.kill('SIGTERM');
  t.equal(await closed, 0, stderr);
  t.match(stderr, /ingest: 2 indexed, 0 already indexed, 0 skipped, 0 failed/, 'each file counted once');
  t.match(stderr, /ingest: SIGTERM: stopped watching/);
  t.equal(stderr.match(/ingest: indexed 2026\/11\/28\/out-/g)?.length, 1, 'indexed exactly once');
});
