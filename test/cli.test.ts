import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
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
  await writeFile(join(cwd, 'other.wav'), makeWav(1));

  const add = await runCli(['calls', 'add', '--org', 'org_1', '--sid', 'call_cli1', '--to', '+15559876543', '--from', '+15550000001', '--file', 'in.wav'], { cwd });
  t.equal(add.code, 0, add.stderr);
  const row = JSON.parse(add.stdout) as Record<string, unknown>;
  t.equal(row.call_sid, 'call_cli1');
  t.equal(row.size_bytes, wav.length);
  t.equal(row.duration_ms, 2000);
  t.equal(row.content_type, 'audio/wav');

  const again = await runCli(['calls', 'add', '--org', 'org_1', '--sid', 'call_cli1', '--to', '+15559876543', '--file', 'in.wav'], { cwd });
  t.equal(again.code, 0, 'the same file again: not an error (a re-run)');
  t.match(again.stderr, /^recproxy: call_cli1 is already indexed with these bytes; nothing changed\n$/);
  t.same(JSON.parse(again.stdout), row, 'and it prints the existing row');

  const get = await runCli(['calls', 'get', '--sid', 'call_cli1'], { cwd });
  t.equal(get.code, 0);
  t.equal((JSON.parse(get.stdout) as { org_id: string }).org_id, 'org_1');

  const failures: [string[], number, RegExp][] = [
    [['calls', 'add', '--org', 'org_1'], 2, /calls add needs --sid, --to, --file/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'bad', '--to', '1', '--file', 'in.wav'], 2, /^recproxy: --sid must be/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_x', '--to', '1', '--file', 'nope.wav'], 1, /INVALID_REQUEST: cannot read nope\.wav: ENOENT/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_x', '--to', '1', '--file', 'in.wav', '--content-type', 'not a type'], 2, /--content-type must be a media type/],
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_cli1', '--to', '1', '--file', 'other.wav'], 1, /CALL_EXISTS/],
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

  const keyRun = await runCli(['keys', 'create', '--org', 'org_1', '--label', 'cli test'], { cwd });
  t.equal(keyRun.code, 0, keyRun.stderr);
  const key = keyRun.stdout.trim();
  t.match(key, /^rpk_[A-Za-z0-9]+_[A-Za-z0-9_-]+$/, 'the key is printed once, on stdout');
  t.match(keyRun.stderr, /shown once/);
  const listed = await runCli(['keys', 'list'], { cwd });
  t.notMatch(listed.stdout, key.split('_').at(-1)!, 'keys list never shows the secret');
  const auth = { Authorization: `Bearer ${key}`, 'X-Organization-Id': 'org_1' };

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
  const stream = await fetch(`${base}/api/calls/call_cli1/recording/stream`, { headers: auth });
  t.equal(stream.status, 200);
  t.ok(existsSync(join(cwd, 'data', 'index.audit.db')), 'the audit has its own file beside ./data/index.db');
  const { data } = (await stream.json()) as { data: { url: string } };
  t.ok(data.url.startsWith(`${base}/media/`), 'the media URL uses the port actually bound');
  const bytes = Buffer.from(await (await fetch(data.url)).arrayBuffer());
  t.ok(bytes.equals(wav), 'the daemon serves what the CLI registered');
  const id = key.split('_')[1]!;
  const revoked = await runCli(['keys', 'revoke', id], { cwd });
  t.equal(revoked.code, 0, revoked.stderr);
  const after = await fetch(`${base}/api/calls/call_cli1/recording/stream`, { headers: auth });
  t.equal(after.status, 401, 'a key revoked by the CLI is refused on the next request');
  await after.arrayBuffer();
  t.equal((await runCli(['keys', 'revoke', 'nosuchkeyid1'], { cwd })).code, 1);
  const audit = await runCli(['audit', '--sid', 'call_cli1'], { cwd });
  t.equal(audit.code, 0, audit.stderr);
  const rows = JSON.parse(audit.stdout) as { action: string; principal: string }[];
  t.ok(rows.some((r) => r.action === 'stream_url' && r.principal === id), 'the stream URL issue is audited');
  t.ok(rows.some((r) => r.action === 'media' && r.principal === id), 'the media read is audited under the same key');
  t.equal((await runCli(['audit'], { cwd })).code, 2, 'audit needs --sid or --org');

  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  t.equal(await closed, 0, 'SIGTERM closes cleanly');
});
