/**
 * Readiness (`/readyz`, src/routes/health.ts): 200 while the index and the storage backend
 * answer; 503 naming the failing part within the probe timeout when the backend is down, and
 * 200 again once it is back, without restarting the daemon. Probes are shared and cached.
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READY_CACHE_MS, READY_TIMEOUT_MS, Readiness } from '../src/routes/health.js';
import { startDaemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readyz(url: string) {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as unknown, cache: res.headers.get('cache-control') };
}

t.test('local storage: ready, and /healthz stays as it was', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  t.same(await readyz(d.url), { status: 200, body: { status: 'ready' }, cache: 'no-store' });
  t.same(await (await fetch(`${d.url}/healthz`)).json(), { status: 'ok' });
});

for (const storage of ['s3', 'minio']) {
  t.test(`${storage}: backend stopped → 503 naming storage; restarted → 200, same daemon`, async (t) => {
    const directory = await mkdtemp(join(tmpdir(), 'recproxy-readyz-'));
    t.teardown(() => rm(directory, { recursive: true, force: true }));
    let s3 = await startS3Server({ buckets: [BUCKET], directory });
    t.teardown(() => s3.stop());
    const d = await startDaemon(storageEnv(storage, 'proxy', s3, { RECPROXY_STORAGE_TIMEOUT_MS: '1000' }));
    t.teardown(() => d.stop());
    t.same((await readyz(d.url)).body, { status: 'ready' });

    await s3.stop();
    await sleep(READY_CACHE_MS + 50); // the last answer ages out
    const start = Date.now();
    const down = await readyz(d.url);
    const elapsed = Date.now() - start;
    t.same({ status: down.status, body: down.body }, { status: 503, body: { status: 'unready', failing: ['storage'] } });
    // A guard against hanging, not a speed target.
    t.ok(elapsed < READY_TIMEOUT_MS + 1000, `answered within the probe timeout (${elapsed} ms)`);

    s3 = await startS3Server({ buckets: [BUCKET], directory, port: s3.port });
    await sleep(READY_CACHE_MS + 50);
    t.same(await readyz(d.url), { status: 200, body: { status: 'ready' }, cache: 'no-store' }, 'ready again');
  });
}

t.test('a storm of probes makes one check per cache period; each part is named; a hang is a failure', async (t) => {
  let storageCalls = 0;
  let indexCalls = 0;
  let storageFails = false;
  const readiness = new Readiness(
    {
      storage: {
        probe: async () => {
          storageCalls++;
          if (storageFails) throw new Error('down');
        },
      },
      indexAnswers: async () => {
        indexCalls++;
      },
    },
    { timeoutMs: 100, cacheMs: 60_000 },
  );
  const answers = await Promise.all(Array.from({ length: 200 }, () => readiness.failing()));
  t.ok(answers.every((a) => a.length === 0), 'all ready');
  t.same([storageCalls, indexCalls], [1, 1], '200 concurrent probes: one check');
  storageFails = true;
  t.same(await readiness.failing(), [], 'within the cache period: the kept answer');
  t.same(await readiness.failing(Date.now() + 60_001), ['storage'], 'after it: a new check');
  t.equal(storageCalls, 2);

  const hanging = new Readiness({ storage: { probe: () => new Promise(() => undefined) }, indexAnswers: () => Promise.reject(new Error('locked')) }, { timeoutMs: 50, cacheMs: 0 });
  t.same(await hanging.failing(), ['index', 'storage'], 'a storage probe that never answers fails after the timeout');
});
