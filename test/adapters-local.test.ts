import t from 'tap';
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAdapter } from '../adapters/local.js';
import { adapterContract, listAll } from './helpers/adapter-contract.js';

// The local adapter hands out no URLs of its own; the daemon's media URLs that stand for them
// are tested in test/stream-url.test.ts.
adapterContract(t, 'local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-contract-'));
  const adapter = new LocalAdapter({ root });
  return {
    adapter,
    fetchable: false,
    // Partial writes are temp files (".<hex>.part") beside their target.
    incompleteUploads: async () =>
      (await readdir(root, { recursive: true })).filter((name) => /(^|\/)\.[0-9a-f]+\.part$/.test(name)).length,
    cleanup: async () => {
      await rm(root, { recursive: true, force: true });
    },
  };
});

t.test('local list: an empty root, temp files of writes in flight, links, what is not a file', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'recproxy-local-list-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  const adapter = new LocalAdapter({ root });
  t.same(await listAll(adapter, ''), [], 'a root that does not exist yet lists nothing');
  t.same(await listAll(adapter, 'org/'), [], 'nor does a prefix under it');

  await adapter.write('org/a.wav', Buffer.from('aaaa'), { contentType: 'audio/wav' });
  // What a write in flight leaves beside its target (adapters/local.ts: write).
  await writeFile(join(root, 'org', `.${'0123456789abcdef'}.part`), 'partial');
  await writeFile(join(root, 'org', '.notes.part'), 'not a temp name: listed'); // control
  const outside = join(base, 'outside');
  await mkdir(join(outside, 'dir'), { recursive: true });
  await writeFile(join(outside, 'secret.wav'), 'outside the root');
  await writeFile(join(outside, 'dir', 'deep.wav'), 'outside the root');
  await symlink(join(outside, 'secret.wav'), join(root, 'org', 'escape.wav'));
  await symlink(join(outside, 'dir'), join(root, 'org', 'escape-dir'));
  await symlink(join(root, 'org', 'a.wav'), join(root, 'org', 'inside.wav'));
  await symlink(join(root, 'org', 'gone.wav'), join(root, 'org', 'dangling.wav'));
  await symlink(root, join(root, 'org', 'loop')); // a cycle, were links to directories followed
  await mkdir(join(root, 'org', 'empty'));
  spawnSync('mkfifo', [join(root, 'org', 'pipe.wav')]);
  t.ok((await lstat(join(root, 'org', 'pipe.wav'))).isFIFO(), 'control: the FIFO exists');

  const listed = await listAll(adapter, '');
  t.same(listed.map((item) => item.key).sort(), ['org/.notes.part', 'org/a.wav', 'org/inside.wav'],
    'no temp file, nothing behind a link out of the root, no FIFO, no dangling link');
  const inside = listed.find((item) => item.key === 'org/inside.wav');
  t.equal(inside?.size, 4, 'a link inside the root is listed with its target\'s size');
  t.equal(inside?.size, (await adapter.stat('org/inside.wav')).size, 'as stat serves it');
  t.same((await listAll(adapter, 'org/esc')), [], 'a prefix naming the links out of the root lists nothing');
});

t.test('local list: a root that cannot be read is StorageUnavailable, with a cause', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'recproxy-local-list-down-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  await writeFile(root, 'a file where the root should be');
  const adapter = new LocalAdapter({ root });
  const err = (await listAll(adapter, '').catch((e: unknown) => e)) as { code?: string; cause?: unknown };
  t.equal(err.code, 'STORAGE_UNAVAILABLE');
  t.ok(err.cause, 'the filesystem error as cause');
  await rm(root);
  t.same(await listAll(adapter, ''), [], 'once the root is a directory, the same adapter lists again');
  await adapter.write('x/y.wav', Buffer.from('y'), { contentType: 'audio/wav' });
  t.same((await listAll(adapter, 'x')).map((item) => item.key), ['x/y.wav']);
});

t.test('local open: a small Range as one Buffer (bytes), a large one left to the stream', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-bytes-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const adapter = new LocalAdapter({ root });
  const data = Buffer.alloc(300 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 10)) & 0xff;
  await writeFile(join(root, 'a.wav'), data);
  await writeFile(join(root, 'empty.wav'), '');
  const fds = async () => (await readdir('/proc/self/fd')).length;
  const before = await fds();

  const opened = await adapter.open('a.wav');
  const got = opened.bytes?.({ start: 65536, end: 131071 });
  t.ok(got instanceof Promise, 'a 64 KiB Range is one read');
  t.ok((await got!).equals(data.subarray(65536, 131072)), 'exactly its bytes');
  opened.close(); // released by bytes(): nothing to do
  t.throws(() => opened.read(), /read after close/, 'bytes() released the handle as read() does');

  const big = await adapter.open('a.wav');
  t.equal(big.bytes?.({ start: 0, end: 65536 }), undefined, 'a Range one byte over 64 KiB: no Buffer');
  t.equal(big.bytes?.(), undefined, 'nor the whole 300 KiB file');
  const chunks: Buffer[] = [];
  for await (const chunk of big.read({ range: { start: 0, end: 65536 } })) chunks.push(chunk as Buffer);
  t.ok(Buffer.concat(chunks).equals(data.subarray(0, 65537)), 'the handle is untouched: read() streams the Range');

  const empty = await adapter.open('empty.wav');
  t.equal(empty.bytes?.(), undefined, 'an empty file: no Buffer (nothing to read)');
  empty.close();
  t.equal(await fds(), before, 'every descriptor closed');
});

t.test('local open: bytes() of a file that shrank since it was opened is StorageUnavailable', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-shrink-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const adapter = new LocalAdapter({ root });
  await writeFile(join(root, 'a.wav'), Buffer.alloc(100 * 1024, 7));
  const opened = await adapter.open('a.wav');
  await truncate(join(root, 'a.wav'), 70 * 1024);
  await t.rejects(opened.bytes!({ start: 60 * 1024, end: 90 * 1024 - 1 })!, {
    code: 'STORAGE_UNAVAILABLE',
    message: 'the file ended 20480 bytes early',
  });
});
