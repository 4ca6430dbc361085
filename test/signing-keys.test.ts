import t from 'tap';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSigningKeys } from '../src/signing-keys.js';
import { runCli } from './helpers/cli.js';

const GOOD = `k1:${'a1B2'.repeat(10)}`;

t.test('a key file is held to the RECPROXY_SIGNING_KEYS rules and must be private', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-keyfile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases: [string, string, number, RegExp][] = [
    ['empty secret', 'k1:\n', 0o600, /the key has a secret shorter than 32 characters/],
    ['short secret', 'k1:tiny\n', 0o600, /the key has a secret shorter than 32 characters/],
    ['no colon: the whole line would be the secret', `${'s'.repeat(40)}\n`, 0o600, /the key must be kid:secret/],
    ['bad kid', `bad kid!:${'s'.repeat(40)}\n`, 0o600, /the key must be kid:secret/],
    ['secret with a space', `k1:${'s'.repeat(20)} ${'s'.repeat(20)}\n`, 0o600, /shorter than 32 characters \(or with spaces or commas\)/],
    ['one weak key among good ones', `${GOOD}\nk2:weak\n`, 0o600, /key 2 has a secret shorter than 32/],
    ['nothing in it', '\n\n', 0o600, /holds no key/],
    ['world-readable', `${GOOD}\n`, 0o644, /mode 0644 lets group or others read or write it; chmod 600 it/],
    ['group-readable', `${GOOD}\n`, 0o640, /mode 0640 lets group or others/],
    ['group-writable', `${GOOD}\n`, 0o620, /mode 0620 lets group or others/],
  ];
  for (const [what, text, mode, rule] of cases) {
    const file = join(dir, 'signing.key');
    await writeFile(file, text);
    await chmod(file, mode);
    t.throws(() => loadSigningKeys(undefined, file), { code: 'CONFIG_INVALID' }, what);
    try {
      loadSigningKeys(undefined, file);
    } catch (err) {
      const line = (err as Error).message.split('\n').slice(1);
      t.equal(line.length, 1, `${what}: one line`);
      t.ok(line[0]!.startsWith(`RECPROXY_SIGNING_KEY_FILE: ${file}: `), `${what}: names the file`);
      t.match(line[0], rule, what);
      t.notMatch(line[0], /s{20}|a1B2a1B2|weak|tiny/, `${what}: no secret printed`);
    }
  }
  await mkdir(join(dir, 'a-directory'));
  t.throws(() => loadSigningKeys(undefined, join(dir, 'a-directory')), /RECPROXY_SIGNING_KEY_FILE: cannot read .*a-directory \(EISDIR\)/);
});

t.test('good key files load, several keys in order; RECPROXY_SIGNING_KEYS wins over the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-keyfile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'signing.key');
  await writeFile(file, `${GOOD}\r\nold_2:${'z'.repeat(32)}\n`, { mode: 0o600 });
  t.same(loadSigningKeys(undefined, file), [
    { id: 'k1', secret: 'a1B2'.repeat(10) },
    { id: 'old_2', secret: 'z'.repeat(32) },
  ]);
  await chmod(file, 0o400);
  t.equal(loadSigningKeys(undefined, file).length, 2, 'read-only for the owner is fine');
  await writeFile(file, 'k1:\n');
  t.same(loadSigningKeys(`env:${'e'.repeat(32)}`, file), [{ id: 'env', secret: 'e'.repeat(32) }], 'the file is not read');
});

t.test('serve and the CLI refuse to start on a weak key file', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-keyfile-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  await mkdir(join(cwd, 'data'));
  await writeFile(join(cwd, 'data', 'signing.key'), 'k1:\n', { mode: 0o600 });
  for (const args of [['serve'], ['keys', 'list']]) {
    const r = await runCli(args, { cwd, env: { PORT: '0' } });
    t.equal(r.code, 1, `${args.join(' ')} exits 1`);
    t.match(r.stderr, /^RECPROXY_SIGNING_KEY_FILE: \.\/data\/signing\.key: the key has a secret shorter than 32 characters/m);
    t.notMatch(r.stdout, /serving on/);
  }
});
