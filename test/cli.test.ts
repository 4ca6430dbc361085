import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, cleanEnv, runCli } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

t.test('calls add / calls get / serve share one index from any working directory', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const wav = makeWav(2);
  await writeFile(join(cwd, 'in.wav'), wav);

  const add = await runCli(['calls', 'add', '--org', 'org_1', '--sid', 'call_cli1', '--to', '+15559876543', '--from', '+15550000001', '--file', 'in.wav'], { cwd });
  t.equal(add.code, 0, add.stderr);
  const row = JSON.parse(add.stdout) as Record<string, unknown>;
  t.equal(row.call_sid, 'call_cli1');
  t.equal(row.size_bytes, wav.length);
  t.equal(row.duration_ms, 2000);
  t.equal(row.content_type, 'audio/wav');

  const get = await runCli(['calls', 'get', '--sid', 'call_cli1'], { cwd });
  t.equal(get.code, 0);
  t.equal((JSON.parse(get.stdout) as { org_id: string }).org_id, 'org_1');

  const failures: [string[], number, RegExp][] = [
    [['calls', 'add', '--org', 'org_1'], 2, /calls add needs --sid, --to, --file/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'bad', '--to', '1', '--file', 'in.wav'], 1, /INVALID_REQUEST: --sid must be/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_x', '--to', '1', '--file', 'nope.wav'], 1, /INVALID_REQUEST: cannot read nope\.wav: ENOENT/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_x', '--to', '1', '--file', 'in.wav', '--content-type', 'not a type'], 1, /--content-type must be a media type/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_cli1', '--to', '1', '--file', 'in.wav'], 1, /CALL_EXISTS/],
    [['calls', 'add', '--bogus'], 2, /Unknown option '--bogus'/],
    [['calls', 'get', '--sid', 'call_none'], 1, /CALL_NOT_FOUND/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
    [[], 2, /no command given/],
  ];
  for (const [args, code, stderr] of failures) {
    const r = await runCli(args, { cwd });
    t.equal(r.code, code, `exit ${code}: ${args.join(' ')}`);
    t.match(r.stderr, stderr);
  }
  const help = await runCli(['--help'], { cwd });
  t.equal(help.code, 0);
  t.match(help.stdout, /recproxy calls add --org ORG/);

  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: cleanEnv({ PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listen line: ${out}`)), 20_000);
    child.stdout.on('data', (c) => {
      out += c;
      const m = /recproxy serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
  });
  const stream = await fetch(`${base}/api/calls/call_cli1/recording/stream`, { headers: { 'X-Organization-Id': 'org_1' } });
  t.equal(stream.status, 200);
  const { data } = (await stream.json()) as { data: { url: string } };
  t.ok(data.url.startsWith(`${base}/media/`), 'the media URL uses the port actually bound');
  const bytes = Buffer.from(await (await fetch(data.url)).arrayBuffer());
  t.ok(bytes.equals(wav), 'the daemon serves what the CLI registered');
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  t.equal(await closed, 0, 'SIGTERM closes cleanly');
});
