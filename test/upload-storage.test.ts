/**
 * Uploads on every storage over real HTTP (src/routes/upload.ts), with the real `curl` binary:
 * `curl -F` (POST /api/calls) and `curl -T` (PUT /api/calls/{sid}/recording) on local, s3 and
 * minio storage (the last two against s3rver), then the stream URL, a Range and a byte-identical
 * download; the same bytes again 200, other bytes 409, nothing more stored.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from './helpers/s3-server.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';
import { ORG, admin, curl, hArgs, stored, type Answer } from './helpers/upload.js';
import { makeWav } from './helpers/wav.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The call's recording through the stream URL (a Range) and the download: `bytes`, exactly. */
async function served(t: Test, d: Daemon, sid: string, bytes: Buffer) {
  const stream = await fetch(`${d.url}/api/calls/${sid}/recording/stream`, { headers: d.headers(ORG) });
  t.equal(stream.status, 200, `${sid}: stream URL`);
  const { url, content_type } = ((await stream.json()) as { data: { url: string; content_type: string } }).data;
  t.equal(content_type, 'audio/wav');
  const range = await fetch(url, { headers: { range: 'bytes=1000-1999' } });
  t.equal(range.status, 206, `${sid}: Range`);
  t.equal(range.headers.get('content-range'), `bytes 1000-1999/${bytes.length}`);
  t.ok(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(1000, 2000)), `${sid}: the range's bytes`);
  const download = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers: d.headers(ORG) });
  t.equal(download.status, 200);
  t.ok(Buffer.from(await download.arrayBuffer()).equals(bytes), `${sid}: the download is byte-identical`);
}

const wav60 = makeWav(60);
const other = makeWav(1);

t.test('uploads on every storage', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-upload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'rec.wav');
  await writeFile(file, wav60);
  const otherFile = join(dir, 'other.wav');
  await writeFile(otherFile, other);

  for (const storage of ['local', 's3', 'minio']) {
    t.test(`${storage}: curl -F and curl -T, then stream, Range and download; retries 200, other bytes 409`, async (t) => {
      let s3: S3Server | undefined;
      if (storage !== 'local') {
        s3 = await startS3Server({ buckets: [BUCKET] });
        t.teardown(() => s3!.stop());
      }
      const d = await startDaemon(storage === 'local' ? {} : storageEnv(storage, 'proxy', s3));
      t.teardown(d.stop);
      const h = hArgs(await admin(d));

      const post = await curl([
        ...h, '-F', 'call_sid=call_x', '-F', 'to=+15559876543', '-F', 'from=201', '-F', 'started_at=2026-11-28T09:30:12+01:00',
        '-F', 'duration_ms=5', '-F', `file=@${file}`, `${d.url}/api/calls`,
      ]);
      t.equal(post.status, 201, 'curl -F: created');
      const data = post.body.data!;
      t.match(data, {
        call_sid: 'call_x', to: '+15559876543', from: '201', started_at: '2026-11-28T08:30:12.000Z',
        duration_ms: 60_000, content_type: 'audio/wav', size_bytes: wav60.length, sha256: sha256(wav60),
      }, 'duration from the bytes, not the 5 ms sent; started_at in UTC');
      t.notOk('storage_key' in data, 'never the storage key');
      const get = await fetch(`${d.url}/api/calls/call_x`, { headers: d.headers(ORG) });
      t.same(((await get.json()) as Answer['body']).data, data, 'the same shape GET /api/calls/{sid} answers');
      await served(t, d, 'call_x', wav60);

      const put = await curl([...h, '-T', file, `${d.url}/api/calls/call_y/recording?to=%2B15559876543&started_at=2026-11-28T10:00:00Z`]);
      t.equal(put.status, 201, 'curl -T: created');
      t.match(put.body.data, { call_sid: 'call_y', to: '+15559876543', from: null, duration_ms: 60_000, size_bytes: wav60.length, sha256: sha256(wav60) });
      await served(t, d, 'call_y', wav60);

      const again = await curl([...h, '-F', 'call_sid=call_x', '-F', 'to=+15559876543', '-F', `file=@${file}`, `${d.url}/api/calls`]);
      t.equal(again.status, 200, 'the same bytes again: 200');
      t.same(again.body.data, data, 'with the existing row');
      const putAgain = await curl([...h, '-T', file, `${d.url}/api/calls/call_y/recording?to=%2B15559876543`]);
      t.equal(putAgain.status, 200);
      const conflict = await curl([...h, '-F', 'call_sid=call_x', '-F', 'to=+15559876543', '-F', `file=@${otherFile}`, `${d.url}/api/calls`]);
      t.equal(conflict.status, 409);
      t.equal(conflict.body.error?.code, 'CALL_EXISTS');
      const putConflict = await curl([...h, '-T', otherFile, `${d.url}/api/calls/call_y/recording?to=1`]);
      t.equal(putConflict.body.error?.code, 'CALL_EXISTS');
      t.equal((await stored(d)).length, 2, 'two objects: nothing stored by the retries and conflicts');
      if (s3) t.equal(await s3.incompleteUploads(), 0);
      await served(t, d, 'call_x', wav60);
    });
  }
});
