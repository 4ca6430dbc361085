import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
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
