import t from 'tap';
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
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
