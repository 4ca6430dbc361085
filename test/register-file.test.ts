/**
 * `calls add --file` (src/register-file.ts, then the calls service) takes a regular audio file and nothing else: no
 * symbolic link unless --follow-symlinks, no device, directory or pipe, no bytes that are not
 * audio. A refusal stores nothing and indexes nothing.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerFile } from '../src/register-file.js';
import { runCli } from './helpers/cli.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const SHADOW = 'root:$6$Qe1d$kY3Jd0TnO8t2fQ:19700:0:99999:7:::\n';

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

t.test('only a regular audio file is registered; a refusal leaves nothing behind', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const dir = join(d.dir, 'in');
  await mkdir(dir);
  const wav = makeWav(0.2);
  await writeFile(join(dir, 'tone.wav'), wav);
  await writeFile(join(dir, 'shadow'), SHADOW);
  await writeFile(join(dir, 'empty.wav'), '');
  await mkdir(join(dir, 'folder.wav'));
  execFileSync('mkfifo', [join(dir, 'pipe.wav')]);
  await symlink(join(dir, 'tone.wav'), join(dir, 'link-to-tone.wav'));
  await symlink(join(dir, 'shadow'), join(dir, 'link-to-shadow.wav'));
  await symlink('/dev/null', join(dir, 'link-to-null.wav'));

  // Files that cannot be taken are INVALID_REQUEST; bytes that are not audio UNSUPPORTED_MEDIA_TYPE.
  const refused: [string, string, boolean, string, RegExp][] = [
    ['a symbolic link', 'link-to-tone.wav', false, 'INVALID_REQUEST', /link-to-tone\.wav is a symbolic link; pass --follow-symlinks/],
    ['a followed link to text', 'link-to-shadow.wav', true, 'UNSUPPORTED_MEDIA_TYPE', /link-to-shadow\.wav is not audio: no WAV, MP3, Ogg, FLAC, GSM/],
    ['a text file named .wav', 'shadow', false, 'UNSUPPORTED_MEDIA_TYPE', /shadow is not audio/],
    ['an empty file', 'empty.wav', false, 'UNSUPPORTED_MEDIA_TYPE', /empty\.wav is not audio/],
    ['a directory', 'folder.wav', false, 'INVALID_REQUEST', /folder\.wav is not a regular file \(a directory\)/],
    ['a named pipe (no writer: must not wait for one)', 'pipe.wav', false, 'INVALID_REQUEST', /pipe\.wav is not a regular file \(a pipe\)/],
    ['a device', '/dev/null', false, 'INVALID_REQUEST', /\/dev\/null is not a regular file \(a device\)/],
    ['a device through a followed link', 'link-to-null.wav', true, 'INVALID_REQUEST', /link-to-null\.wav is not a regular file \(a device\)/],
    ['a missing file', 'missing.wav', false, 'INVALID_REQUEST', /cannot read .*missing\.wav: ENOENT/],
  ];
  for (const [what, name, followSymlinks, code, message] of refused) {
    const file = name.startsWith('/') ? name : join(dir, name);
    await t.rejects(registerFile(d.ctx.calls, { org: 'org_f', sid: 'call_f1', to: '+1555' }, file, followSymlinks), { code, message }, what);
  }
  t.equal(await d.ctx.index.get('call_f1'), undefined, 'nothing indexed');
  t.same(await filesUnder(d.ctx.config.localRoot), [], 'nothing stored');

  const { call: row } = await registerFile(d.ctx.calls, { org: 'org_f', sid: 'call_f1', to: '+1555' }, join(dir, 'link-to-tone.wav'), true);
  t.equal(row.size_bytes, wav.length, 'a followed link to audio is registered');
  t.equal(row.duration_ms, 200);
  const res = await fetch(`${d.url}/api/calls/call_f1/recording/download`, { headers: d.headers('org_f') });
  t.ok(Buffer.from(await res.arrayBuffer()).equals(wav), 'the bytes served are the file’s');
});

t.test('calls add: --follow-symlinks', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-add-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await writeFile(join(cwd, 'tone.wav'), makeWav(0.1));
  await symlink('tone.wav', join(cwd, 'link.wav'));
  const args = ['calls', 'add', '--org', 'org_f', '--sid', 'call_l1', '--to', '+1555', '--file', 'link.wav'];
  const refused = await runCli(args, { cwd });
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^recproxy: INVALID_REQUEST: link\.wav is a symbolic link; pass --follow-symlinks/m);
  const followed = await runCli([...args, '--follow-symlinks'], { cwd });
  t.equal(followed.code, 0, followed.stderr);
  t.equal((JSON.parse(followed.stdout) as { duration_ms: number }).duration_ms, 100);
});
