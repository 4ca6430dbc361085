import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { appendFile, mkdir, mkdtemp, readdir, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalAdapter } from '../adapters/local.js';
import { TokenSigner } from '../src/token.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';


t.test('the local adapter never leaves its root', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'recproxy-local-'));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(join(outside, 'secret.wav'), 'secret');
  await symlink(join(outside, 'secret.wav'), join(root, 'link.wav'));
  await symlink(outside, join(root, 'linkdir'));
  await writeFile(join(root, 'inside.wav'), 'inside');
  await symlink(join(root, 'inside.wav'), join(root, 'ok-link.wav'));
  const a = new LocalAdapter({ root });

  t.equal((await a.stat('inside.wav')).size, 6);
  t.equal((await a.stat('ok-link.wav')).size, 6, 'a link that stays inside is fine');
  for (const key of ['../outside/secret.wav', '/etc/passwd', 'a\0b', 'link.wav', 'linkdir/secret.wav', 'x/../../outside/secret.wav']) {
    await t.rejects(a.stat(key), { code: /INVALID_STORAGE_KEY/ }, `stat ${JSON.stringify(key)}`);
    await t.rejects(a.read(key), { code: /INVALID_STORAGE_KEY/ }, `read ${JSON.stringify(key)}`);
  }
  for (const key of ['../outside/secret.wav', 'link.wav', 'linkdir/secret.wav']) {
    await t.rejects(a.open(key), { code: /INVALID_STORAGE_KEY/ }, `open ${JSON.stringify(key)}`);
  }
  await t.rejects(a.open('missing.wav'), { code: 'OBJECT_NOT_FOUND' });
  await t.rejects(a.open('adir-not-yet'), { code: 'OBJECT_NOT_FOUND' });
  await t.rejects(a.write('linkdir/new.wav', Buffer.from('x'), { contentType: 'audio/wav' }), { code: 'INVALID_STORAGE_KEY' });
  await t.rejects(a.write('../escape.wav', Buffer.from('x'), { contentType: 'audio/wav' }), { code: 'INVALID_STORAGE_KEY' });
  await t.rejects(a.delete('linkdir/secret.wav'), { code: 'INVALID_STORAGE_KEY' });
  t.same(await readdir(outside), ['secret.wav'], 'nothing written or deleted outside');
  await t.rejects(a.stat('missing.wav'), { code: 'OBJECT_NOT_FOUND' });
  await t.rejects(a.stat('linkdir'), { code: /INVALID_STORAGE_KEY/ });
  await mkdir(join(root, 'adir'));
  await t.rejects(a.read('adir'), { code: 'OBJECT_NOT_FOUND' }, 'a directory is not an object');
  await t.rejects(a.stat('adir'), { code: 'OBJECT_NOT_FOUND' }, 'a directory has no metadata either');
  await t.rejects(a.open('adir'), { code: 'OBJECT_NOT_FOUND' }, 'nor can it be opened');
});

t.test('open remembers a file it found inside the root, and opens nothing else by that path without the check', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'recproxy-local-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await mkdir(join(root, 'd'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'a.wav'), 'outside bytes');
  await writeFile(join(outside, 'secret.wav'), 'secret');
  const a = new LocalAdapter({ root });
  const text = async (key: string) => {
    const chunks: Buffer[] = [];
    for await (const c of (await a.open(key)).read()) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };

  await writeFile(join(root, 'd', 'a.wav'), 'inside');
  t.equal(await text('d/a.wav'), 'inside', 'found by the full check');
  t.equal(await text('d/a.wav'), 'inside', 'opened again, the same file');
  await appendFile(join(root, 'd', 'a.wav'), ' and more');
  t.equal(await text('d/a.wav'), 'inside and more', 'written in place: checked again, served');

  // The directory moved away and replaced by a link out of the root, to a file of the same name.
  await rename(join(root, 'd'), join(base, 'moved'));
  await symlink(outside, join(root, 'd'));
  await t.rejects(a.open('d/a.wav'), { code: 'INVALID_STORAGE_KEY' }, 'a path that now leads out of the root is refused');
  await rm(join(root, 'd'));
  await rename(join(base, 'moved'), join(root, 'd'));

  t.equal(await text('d/a.wav'), 'inside and more', 'back: found again');
  await rm(join(root, 'd', 'a.wav'));
  await symlink(join(outside, 'secret.wav'), join(root, 'd', 'a.wav'));
  await t.rejects(a.open('d/a.wav'), { code: 'INVALID_STORAGE_KEY' }, 'the file replaced by a link out of the root is refused');
  await rm(join(root, 'd', 'a.wav'));
  await t.rejects(a.open('d/a.wav'), { code: 'OBJECT_NOT_FOUND' }, 'then gone: not found');
  await writeFile(join(root, 'd', 'a.wav'), 'new file');
  t.equal(await text('d/a.wav'), 'new file', 'a new file at the path: its own bytes');
  await symlink(join(root, 'd', 'a.wav'), join(root, 'ok-link.wav'));
  t.equal(await text('ok-link.wav'), 'new file', 'a link inside the root: served');
  t.equal(await text('ok-link.wav'), 'new file', 'and again');
  await rm(join(root, 'ok-link.wav'));
  await symlink(join(outside, 'secret.wav'), join(root, 'ok-link.wav'));
  await t.rejects(a.open('ok-link.wav'), { code: 'INVALID_STORAGE_KEY' }, 'that link pointed out of the root: refused');
});

t.test('open: one lookup, the bytes of that version, ranges, release without reading', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-'));
  const a = new LocalAdapter({ root });
  await a.write('v.wav', Buffer.from('first version'), { contentType: 'audio/wav' });
  const opened = await a.open('v.wav');
  t.equal(opened.meta.size, 13);
  await a.write('v.wav', Buffer.from('second, longer version'), { contentType: 'audio/wav' });
  const chunks: Buffer[] = [];
  for await (const c of opened.read({ range: { start: 0, end: 4 } })) chunks.push(c as Buffer);
  t.equal(Buffer.concat(chunks).toString(), 'first', 'the opened version, even after a replace');
  t.throws(() => opened.read(), /read after close/, 'one read per open');
  opened.close();
  const idle = await a.open('v.wav');
  idle.close();
  idle.close();
  t.throws(() => idle.read(), /read after close/, 'closed without reading');
  const aborted = await a.open('v.wav');
  const controller = new AbortController();
  controller.abort(new Error('gone'));
  const body = aborted.read({ signal: controller.signal });
  await t.rejects(
    (async () => {
      for await (const _ of body) void _;
    })(),
    /gone/,
  );
});

t.test('a whole-object read sends the size its metadata promised, even if the file grows or shrinks', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-'));
  const a = new LocalAdapter({ root });
  await a.write('g.wav', Buffer.from('0123456789'), { contentType: 'audio/wav' });
  const collect = async (body: Readable) => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };
  const opened = await a.open('g.wav');
  await appendFile(join(root, 'g.wav'), 'appended while serving');
  t.equal(await collect(opened.read()), '0123456789', 'open: only the bytes of the Content-Length');
  const { meta, body } = await a.read('g.wav');
  t.equal(meta.size, 32);
  await truncate(join(root, 'g.wav'), 5);
  await t.rejects(collect(body), { code: 'STORAGE_UNAVAILABLE' }, 'read: a file cut short fails the body');
  await writeFile(join(root, 'empty.wav'), '');
  t.equal(await collect((await a.open('empty.wav')).read()), '', 'an empty file is an empty body');
});

t.test('a failed write leaves nothing behind, not even its temporary file', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-'));
  const a = new LocalAdapter({ root });
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(1024));
      this.destroy(new Error('upload cut'));
    },
  });
  await t.rejects(a.write('d/x.wav', failing, { contentType: 'audio/wav' }), { code: 'STORAGE_UNAVAILABLE' });
  t.same(await readdir(join(root, 'd')), []);
  await t.rejects(a.write('d/y.wav', Buffer.from('abc'), { contentType: 'audio/wav', size: 5 }), { code: 'STORAGE_UNAVAILABLE' }, 'size mismatch');
  t.same(await readdir(join(root, 'd')), []);
});

t.test('a validly signed token naming a key outside the root gets 404, and the daemon serves on', async (t) => {
  const d = await startDaemon({ RECPROXY_SIGNING_KEYS: `k1:${'s'.repeat(40)}` });
  t.teardown(d.stop);
  const signer = new TokenSigner([{ id: 'k1', secret: 's'.repeat(40) }]);
  for (const key of ['../../etc/passwd', '/etc/passwd', 'a\0b']) {
    const token = signer.sign({ key, exp: Math.floor(Date.now() / 1000) + 60, disposition: 'inline', filename: 'x.wav', contentType: 'audio/wav' });
    const res = await fetch(`${d.url}/media/${token}`);
    t.equal(res.status, 404, JSON.stringify(key));
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'RECORDING_NOT_FOUND');
  }
  t.equal((await fetch(`${d.url}/healthz`)).status, 200);
});

t.test('a FIFO or a socket in the tree is answered as missing, at once, without waiting for a writer', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  execFileSync('mkfifo', [join(root, 'pipe.wav')]);
  const listener = createServer().listen(join(root, 'sock.wav'));
  t.teardown(() => listener.close());
  await new Promise((resolve) => listener.once('listening', resolve));
  const a = new LocalAdapter({ root });
  for (const key of ['pipe.wav', 'sock.wav']) {
    // Nothing ever opens the FIFO's other end: an open that waited for one would never return.
    await t.rejects(a.stat(key), { code: 'OBJECT_NOT_FOUND' }, `stat ${key}`);
    await t.rejects(a.open(key), { code: 'OBJECT_NOT_FOUND' }, `open ${key}`);
    await t.rejects(a.read(key), { code: 'OBJECT_NOT_FOUND' }, `read ${key}`);
  }
});

t.test('a recording replaced by a FIFO: RECORDING_NOT_FOUND, and the daemon serves on', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const ORG = 'org_fifo';
  await d.addCall({ org: ORG, sid: 'call_fifo', to: '+1555', bytes: makeWav(1) });
  await d.addCall({ org: ORG, sid: 'call_fine', to: '+1555', bytes: makeWav(1) });
  const path = join(d.dir, 'recordings', (await d.ctx.index.get('call_fifo'))!.storage_key);
  await rm(path);
  execFileSync('mkfifo', [path]);
  for (const ep of ['download', 'stream']) {
    const res = await fetch(`${d.url}/api/calls/call_fifo/recording/${ep}`, { headers: d.headers(ORG) });
    t.equal(res.status, 404, ep);
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'RECORDING_NOT_FOUND', ep);
  }
  t.equal((await fetch(`${d.url}/healthz`)).status, 200);
  const fine = await fetch(`${d.url}/api/calls/call_fine/recording/download`, { headers: d.headers(ORG) });
  t.equal(fine.status, 200, 'another call is served');
  t.equal((await fine.arrayBuffer()).byteLength, makeWav(1).length);
});

t.test('media tokens over HTTP: tampered, expired, retired key', async (t) => {
  const oldSecret = 'o'.repeat(40);
  const newSecret = 'n'.repeat(40);
  const d = await startDaemon({ RECPROXY_SIGNING_KEYS: `new:${newSecret},old:${oldSecret}` });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_1', sid: 'call_tok', to: '+1', bytes: Buffer.from('RIFF....WAVE') });
  const key = (await d.ctx.index.get('call_tok'))!.storage_key;
  const mk = (id: string, secret: string, exp: number) =>
    new TokenSigner([{ id, secret }]).sign({ key, exp, disposition: 'inline', filename: 'r.wav', contentType: 'audio/wav' });
  const soon = Math.floor(Date.now() / 1000) + 60;
  const cases: [string, string, number, string][] = [
    ['current key', mk('new', newSecret, soon), 200, ''],
    ['rotating: old key still verifies', mk('old', oldSecret, soon), 200, ''],
    ['expired', mk('new', newSecret, Math.floor(Date.now() / 1000) - 1), 403, 'TOKEN_EXPIRED'],
    ['tampered', mk('new', newSecret, soon).replace(/\.(.)/, (_, c) => `.${c === 'A' ? 'B' : 'A'}`), 403, 'TOKEN_INVALID'],
    ['unknown key', mk('gone', newSecret, soon), 403, 'TOKEN_INVALID'],
    ['garbage', 'abc', 403, 'TOKEN_INVALID'],
    ['too long', 'a'.repeat(5000), 403, 'TOKEN_INVALID'],
    ['far too long', 'a'.repeat(9000), 414, 'URI_TOO_LONG'],
    ['bad escape', '%E0%A4%A', 400, 'INVALID_REQUEST'],
  ];
  for (const [name, token, status, code] of cases) {
    const res = await fetch(`${d.url}/media/${token}`);
    t.equal(res.status, status, name);
    if (code) t.equal(((await res.json()) as { error: { code: string } }).error.code, code, name);
    else await res.arrayBuffer();
  }
  // The same daemon after the old key is retired.
  await d.app.close();
  const d2 = await startDaemon({ RECPROXY_SIGNING_KEYS: `new:${newSecret}` });
  t.teardown(d2.stop);
  const res = await fetch(`${d2.url}/media/${mk('old', oldSecret, soon)}`);
  t.equal(res.status, 403);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'TOKEN_INVALID', 'retired key');
});

t.test('probe: a missing root is made; a root that is a file, or cannot be made, is unavailable, named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-probe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await new LocalAdapter({ root: join(dir, 'fresh', 'recordings') }).probe();
  t.same(await readdir(join(dir, 'fresh')), ['recordings'], 'made, as the first write would');
  await writeFile(join(dir, 'a-file'), 'x');
  await t.rejects(new LocalAdapter({ root: join(dir, 'a-file') }).probe(), {
    code: 'STORAGE_UNAVAILABLE',
    message: `storage is unavailable: local root ${join(dir, 'a-file')} is not a readable, writable directory (EEXIST)`,
  });
  await t.rejects(new LocalAdapter({ root: join(dir, 'a-file', 'below') }).probe(), { code: 'STORAGE_UNAVAILABLE', message: /\(ENOTDIR\)$/ });
});
