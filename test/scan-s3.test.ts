/**
 * `recproxy scan` on the s3 adapter against s3rver (src/cli-ingest.ts): the objects of an
 * Asterisk spool under `--prefix` are indexed in place, with their own keys, the right
 * to/from/started_at/duration; names outside the grammar are skipped; a second run adds nothing;
 * nothing is written to or deleted from the bucket.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import t from 'tap';
import { runCli } from './helpers/cli.js';
import { indexRows, makeAsteriskTree, summaryLine, tinyWav, wrongRows } from './helpers/pbx-trees.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';

const dir = await mkdtemp(join(tmpdir(), 'recproxy-scan-s3-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

function env(name: string): Record<string, string> {
  return { RECPROXY_DB_PATH: join(dir, `${name}.db`), RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key') };
}

t.test('scan on the s3 adapter (s3rver) indexes the objects under --prefix in place; a second run adds nothing', async (t) => {
  const s3 = await startS3Server({ buckets: [BUCKET] });
  t.teardown(() => s3.stop());
  const spool = join(dir, 'small-spool');
  const calls = await makeAsteriskTree(spool, 150);
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  t.teardown(() => client.destroy());
  const put = (key: string, body: Buffer) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'audio/wav' }));
  for (let i = 0; i < calls.length; i += 25) {
    await Promise.all(calls.slice(i, i + 25).map(async (c) => put(`pbx/monitor/${c.path}`, await readFile(join(spool, c.path)))));
  }
  await put('pbx/monitor/2026/11/28/notes.txt', Buffer.from('not a recording'));
  await put('elsewhere/2026/11/28/in-1-2-20261128-000000-9.9.wav', tinyWav(2, 9)); // outside the prefix
  const e = {
    ...env('s3'),
    ...storageEnv('s3', 'presigned', s3),
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  };
  const args = ['scan', '--layout', 'asterisk', '--org', 'org_s3', '--prefix', 'pbx/monitor', '--settle-ms', '0'];
  const writes = () => s3.requests().filter((r) => r.method !== 'GET' && r.method !== 'HEAD').length;
  const writesBefore = writes();
  const first = await runCli(args, { env: e, timeoutMs: 120_000 });
  t.equal(first.code, 0, first.stderr.slice(-2000));
  t.equal(summaryLine(first.stderr, 'scan'), 'scan: 150 indexed, 0 already indexed, 1 skipped, 0 failed');
  t.match(first.stderr, 'skipped pbx/monitor/2026/11/28/notes.txt: not in the asterisk layout');
  const rows = indexRows(join(dir, 's3.db'));
  t.same(wrongRows(rows, calls, 'org_s3').slice(0, 5), []);
  const byPath = new Map(calls.map((x) => [x.sid, x.path]));
  t.ok(rows.every((r) => r.storage_key === `pbx/monitor/${byPath.get(r.call_sid)}`), 'the keys are the objects\' own');
  const again = await runCli(args, { env: e, timeoutMs: 120_000 });
  t.equal(summaryLine(again.stderr, 'scan'), 'scan: 0 indexed, 150 already indexed, 1 skipped, 0 failed');
  t.equal(indexRows(join(dir, 's3.db')).length, 150);
  t.equal(writes(), writesBefore, 'scan wrote and deleted nothing in the bucket');
});
