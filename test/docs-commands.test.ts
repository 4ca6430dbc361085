/**
 * The shell examples of README.md and docs/deploy.md are run, as written, so the docs cannot
 * drift from the code. Every ```sh block must be preceded by a marker line:
 *
 *   <!-- docs-test: run -->                 the block runs here (bash -e -o pipefail)
 *   <!-- docs-test: not here: REASON -->    it needs what this machine lacks (Docker, systemd, AWS)
 *
 * A block without a marker fails the test, so a new example is either run or says why not.
 * A block runs in a fresh project directory of its own (package.json, tsconfig and bin/ copied,
 * sources and node_modules linked), so `./data` is new each time. What the runner changes, and
 * nothing else:
 *   - `npm ci` is dropped: the suite itself runs after the README's `npm ci`;
 *   - `npm start` runs in the background, and the block goes on once `/healthz` answers;
 *   - the daemon gets a free loopback port, and `127.0.0.1:3000` in the block becomes that port;
 *   - files a block names as its input (`./x.wav`) are made first, as real WAVs.
 * Every curl in a run block uses `-f`, so an HTTP error fails the block.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { copyFile, cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = ['README.md', 'docs/deploy.md'];
const MARKER = /^<!-- docs-test: (run|not here: (.+\S)) -->$/;

interface Block {
  doc: string;
  line: number;
  run: boolean;
  reason?: string;
  code: string;
}

/** The ```sh blocks of a Markdown file, with the marker line above each (if any). */
export function shellBlocks(doc: string, text: string): (Block | { doc: string; line: number; missing: true })[] {
  const lines = text.split('\n');
  const out: (Block | { doc: string; line: number; missing: true })[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue;
    const end = lines.indexOf('```', i + 1);
    const code = lines.slice(i + 1, end).join('\n');
    const marker = MARKER.exec(lines[i - 1] ?? '');
    out.push(marker ? { doc, line: i + 1, run: marker[1] === 'run', reason: marker[2], code } : { doc, line: i + 1, missing: true });
    i = end;
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A project directory of its own: what `npm start` and `node bin/recproxy` need, nothing shared that they write. */
async function projectDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-docs-'));
  for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) await copyFile(join(ROOT, f), join(dir, f));
  await cp(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  for (const d of ['node_modules', 'src', 'adapters', 'config']) await symlink(join(ROOT, d), join(dir, d));
  return dir;
}

/** The block as bash runs it here (see the header for every change made). */
export function prepare(code: string, port: number): string {
  const script = code
    .split('\n')
    .map((line) => {
      const bare = line.replace(/\s+#.*$/, '').trim();
      if (bare === 'npm ci') return ': npm ci';
      if (bare === 'npm start' || bare === 'npm ci && npm start') return 'start_daemon';
      return line;
    })
    .join('\n')
    .replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`);
  return `set -eo pipefail
start_daemon() {
  npm start >daemon.log 2>&1 &
  echo $! >daemon.pid
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null http://127.0.0.1:${port}/healthz && return 0
    sleep 0.2
  done
  echo "the daemon did not answer /healthz:" >&2; cat daemon.log >&2; return 1
}
${script}
`;
}

function bash(
  script: string,
  cwd: string,
  env: Record<string, string>,
  started: (pid: number) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // A process group of its own, so the daemon `npm start` left behind dies with it.
    const child = spawn('bash', ['-c', script], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    started(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 200_000); // under tap's 240 s per file
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Stops what a block left running: the daemon `npm start` put in the block's process group. */
function stopGroup(pgid: number | undefined): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    /* the group is gone */
  }
}

const blocks = (await Promise.all(DOCS.map(async (doc) => shellBlocks(doc, await readFile(join(ROOT, doc), 'utf8'))))).flat();

t.test('every shell example in the docs is run here or says why it cannot be', async (t) => {
  t.ok(blocks.length >= 8, `found ${blocks.length} shell blocks`);
  for (const b of blocks) t.notOk('missing' in b, `${b.doc}:${b.line} has a docs-test marker`);
  const runs = blocks.filter((b): b is Block => 'run' in b && b.run);
  t.ok(runs.length >= 2, 'README quick start and the local-disk example are among the runs');
  for (const b of runs) {
    for (const line of b.code.split('\n').filter((l) => /^\s*curl\b/.test(l))) {
      t.match(line, /\bcurl -f|\bcurl -[A-Za-z]*f/, `${b.doc}:${b.line}: curl fails on an HTTP error: ${line.trim()}`);
    }
  }
});

interface BlockRun {
  code: number | null;
  stdout: string;
  stderr: string;
  wav: Buffer;
  /** The files the block left in its directory that the checks read. */
  files: Map<string, Buffer>;
}

/** Runs one block in a project directory of its own, and removes it (and stops its daemon) after. */
async function runBlock(b: Block): Promise<BlockRun> {
  const dir = await projectDir();
  let group: number | undefined;
  try {
    const wav = makeWav(3);
    await writeFile(join(dir, 'x.wav'), wav);
    const port = await freePort();
    const r = await bash(prepare(b.code, port), dir, { PORT: String(port) }, (pid) => (group = pid));
    const files = new Map<string, Buffer>();
    for (const name of ['tone.wav', 'recording_+15559876543.wav']) {
      const bytes = await readFile(join(dir, name)).catch(() => undefined);
      if (bytes) files.set(name, bytes);
    }
    return { ...r, wav, files };
  } finally {
    stopGroup(group);
    await rm(dir, { recursive: true, force: true });
  }
}

// The blocks run side by side (each builds the project, as `npm start` does), then are checked.
const runnable = blocks.filter((b): b is Block => 'run' in b && b.run);
const results = await Promise.all(runnable.map(runBlock));

runnable.forEach((b, i) => {
  const r = results[i]!;
  t.test(`${b.doc}:${b.line} runs as written`, async (t) => {
    if (!t.equal(r.code, 0, 'the block exits 0')) t.comment(`--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    const saved = r.files.get('recording_+15559876543.wav');
    // What the examples promise, checked on what they left behind.
    if (b.code.includes('tone.wav')) {
      t.ok(saved && saved.equals(r.files.get('tone.wav')!), 'the download is the tone, byte for byte');
      t.match(r.stdout, /\b206 1000\n/, 'the Range request answered 206 with 1000 bytes');
      t.match(r.stdout, /"success":true/, 'the stream URL answered');
    } else {
      t.ok(saved && saved.equals(r.wav), 'the download is x.wav, byte for byte');
    }
  });
});
