import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, unknownVariables } from '../config/load.js';
import { editDistance, nearest } from '../config/nearest.js';
import { DEFAULTS, envName } from '../config/schema.js';
import { runCli } from './helpers/cli.js';

t.test('embedded defaults serve on their own', async (t) => {
  const c = loadConfig({});
  t.same(c, DEFAULTS);
  t.equal(c.host, '127.0.0.1');
  t.equal(c.port, 3000);
  t.equal(c.storage, 'local');
});

t.test('environment names', async (t) => {
  t.equal(envName('port'), 'PORT');
  t.equal(envName('s3PublicEndpoint'), 'RECPROXY_S3_PUBLIC_ENDPOINT');
  t.equal(envName('storageTimeoutMs'), 'RECPROXY_STORAGE_TIMEOUT_MS');
});

t.test('file, then environment: the environment wins', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-cfg-'));
  const file = join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ port: 4000, streamTtl: 600, storage: 'local' }));
  const c = loadConfig({ RECPROXY_CONFIG: file, PORT: '5000', RECPROXY_S3_FORCE_PATH_STYLE: 'true' });
  t.equal(c.port, 5000);
  t.equal(c.streamTtl, 600);
  t.equal(c.s3ForcePathStyle, true);
});

t.test('every bad value is named, one line each, secrets not echoed', async (t) => {
  const secret = 'k1:short';
  try {
    loadConfig({
      PORT: 'abc',
      RECPROXY_STORAGE: 'ftp',
      RECPROXY_STREAM_TTL: '0',
      RECPROXY_PUBLIC_URL: 'not a url',
      RECPROXY_SIGNING_KEYS: secret,
      RECPROXY_LOG_LEVEL: 'loud',
    });
    t.fail('should throw');
  } catch (err) {
    const e = err as Error & { code: string };
    t.equal(e.code, 'CONFIG_INVALID');
    const lines = e.message.split('\n').slice(1);
    t.equal(lines.length, 6, e.message);
    for (const name of ['PORT', 'RECPROXY_STORAGE', 'RECPROXY_STREAM_TTL', 'RECPROXY_PUBLIC_URL', 'RECPROXY_SIGNING_KEYS', 'RECPROXY_LOG_LEVEL']) {
      t.ok(lines.some((l) => l.startsWith(`${name}: `)), `${name} named`);
    }
    t.notMatch(e.message, 'short', 'the secret is not printed');
    t.match(e.message, /RECPROXY_STORAGE: must be one of local, s3, minio \(got "ftp"\)/);
  }
});

t.test('cross-setting rules and file problems', async (t) => {
  t.throws(() => loadConfig({ RECPROXY_STORAGE: 's3' }), /RECPROXY_S3_BUCKET: required when RECPROXY_STORAGE=s3/);
  t.throws(() => loadConfig({ RECPROXY_STORAGE: 'minio' }), /RECPROXY_MINIO_ENDPOINT: required[\s\S]*RECPROXY_MINIO_SECRET_KEY: required/);
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-cfg-'));
  await writeFile(join(dir, 'bad.json'), '{nope');
  await writeFile(join(dir, 'extra.json'), JSON.stringify({ prot: 1 }));
  t.throws(() => loadConfig({ RECPROXY_CONFIG: join(dir, 'bad.json') }), /RECPROXY_CONFIG: cannot read/);
  t.throws(() => loadConfig({ RECPROXY_CONFIG: join(dir, 'extra.json') }), /unknown key "prot"/);
  t.throws(() => loadConfig({ RECPROXY_CONFIG: join(dir, 'missing.json') }), /RECPROXY_CONFIG: cannot read/);
});

t.test('a bad value stops the daemon with one line per problem', async (t) => {
  const r = await runCli(['serve'], { env: { PORT: '99999', RECPROXY_STREAM_MODE: 'magic' } });
  t.equal(r.code, 1);
  t.match(r.stderr, /^PORT: must be an integer port from 0 to 65535 \(got "99999"\)$/m);
  t.match(r.stderr, /^RECPROXY_STREAM_MODE: must be one of presigned, proxy \(got "magic"\)$/m);
});

t.test('integers are integers: no fractions, exponents or hex, from the environment or the file', async (t) => {
  for (const [name, value] of [['PORT', '3000.5'], ['RECPROXY_STREAM_TTL', '1e3'], ['RECPROXY_RATE_LIMIT_MAX', '0x10'], ['PORT', ' 80']] as const) {
    const err = (() => { try { loadConfig({ [name]: value }); } catch (e) { return e as Error & { code: string }; } })();
    t.equal(err?.code, 'CONFIG_INVALID', `${name}=${value} is refused`);
    t.ok(err?.message.split('\n').includes(`${name}: must be ${name === 'PORT' ? 'an integer port from 0 to 65535' : /TTL/.test(name) ? 'whole seconds from 1 to 604800' : 'requests per window per credential, 0 for no limit'} (got "${value}")`), String(err?.message));
  }
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-cfg-'));
  await writeFile(join(dir, 'c.json'), JSON.stringify({ port: 3000.5, streamTtl: '600' }));
  const err = (() => { try { loadConfig({ RECPROXY_CONFIG: join(dir, 'c.json') }); } catch (e) { return e as Error; } })();
  t.match(err?.message, /: "port": must be an integer port from 0 to 65535 \(got 3000\.5\)$/m);
  t.equal(err?.message.split('\n').length, 2, 'one line for the one problem: "600" in the file is a whole number');
  const c = loadConfig({ PORT: '4000', RECPROXY_STREAM_TTL: '600' });
  t.equal(c.port, 4000, 'plain digits still load');
  t.equal(c.streamTtl, 600);
});

t.test('unknown RECPROXY_* variables are named with the nearest known name', async (t) => {
  t.same(
    unknownVariables({ RECPROXY_PORT: '4000', RECPROXY_STORGE: 's3', RECPROXY_CONFIG: 'c.json', RECPROXY_STORAGE: 'local', PORT: '1', OTHER_THING: 'x' }),
    [
      'RECPROXY_PORT is not a recproxy setting and is ignored; did you mean PORT?',
      'RECPROXY_STORGE is not a recproxy setting and is ignored; did you mean RECPROXY_STORAGE?',
    ],
  );
  t.same(unknownVariables({ RECPROXY_STREAM_TTL: '5', HOST: 'x' }), [], 'known names and other variables pass silently');
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(nearest('RECPROXY_JWT_SECRT', ['RECPROXY_JWT_SECRET', 'RECPROXY_JWT_ISSUER'], 'RECPROXY_'), 'RECPROXY_JWT_SECRET');

  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-cfg-'));
  const r = await runCli(['keys', 'list'], { cwd, env: { RECPROXY_PORT: '4000' } });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /^recproxy: warning: RECPROXY_PORT is not a recproxy setting and is ignored; did you mean PORT\?$/m);
});

t.test('HOST is an IP address or a host name, never a mistyped address', async (t) => {
  for (const host of ['127.0.0.1', '0.0.0.0', '::', '::1', 'fe80::1%eth0', '::ffff:127.0.0.1', 'localhost', 'recproxy.internal', 'my_host-1']) {
    t.equal(loadConfig({ HOST: host }).host, host, `${host} is accepted`);
  }
  for (const host of ['999.1.1.1', '1.2.3', '256.0.0.1', 'a b', 'http://x']) {
    t.throws(() => loadConfig({ HOST: host }), /^HOST: must be a host name or IP address/m, `${host} is refused`);
  }
});
