/**
 * An upload cut off mid-way (src/routes/upload.ts) leaves nothing, on local, s3 and minio
 * storage (the last two against s3rver): curl killed while its POST is being written, and a PUT
 * whose socket ends short of its Content-Length. No object, no temp file, no multipart upload
 * left open, no index row; the daemon serves afterwards.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from './helpers/s3-server.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';
import { admin, filesUnder, hArgs, serving, stored, until } from './helpers/upload.js';
import { makeWav } from './helpers/wav.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

t.test('an upload cut off mid-way leaves nothing: no object, no temp file, no multipart upload, no row', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-upload-cut-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // 17.6 MB at 1 MB/s: 7 s still to send when the multipart upload has begun (s3: after one
  // 5 MiB part, minio: after two).
  const big = makeWav(1100);
  const file = join(dir, 'big.wav');
  await writeFile(file, big);

  for (const storage of ['local', 's3', 'minio']) {
    t.test(storage, async (t) => {
      let s3: S3Server | undefined;
      if (storage !== 'local') {
        s3 = await startS3Server({ buckets: [BUCKET] });
        t.teardown(() => s3!.stop());
      }
      const d = await startDaemon(storage === 'local' ? {} : storageEnv(storage, 'proxy', s3));
      t.teardown(d.stop);
      const headers = await admin(d);
      /** The upload is in flight: a temp file (local) or a multipart upload begun (S3). */
      const inFlight = async () => (s3 ? (await s3.incompleteUploads()) > 0 : (await filesUnder(d.ctx.config.localRoot)).some((n) => n.endsWith('.part')));
      const nothingLeft = async (what: string) => {
        await until(async () => !(await inFlight()), `${what}: the in-flight upload to go`);
        t.same(await stored(d), [], `${what}: no object`);
        t.same(await filesUnder(d.ctx.config.localRoot), [], `${what}: no temp file`);
        if (s3) t.equal(await s3.incompleteUploads(), 0, `${what}: the multipart upload aborted`);
        t.equal(await d.ctx.index.get('call_cut'), undefined, `${what}: no row`);
        await serving(t, d, what);
      };

      // curl killed: a POST sent slowly, killed once the daemon is writing it.
      const child = spawn('curl', ['-sS', '--limit-rate', '1M', ...hArgs(headers), '-F', 'call_sid=call_cut', '-F', 'to=1', '-F', `file=@${file}`, `${d.url}/api/calls`], { stdio: 'ignore' });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await until(inFlight, 'curl’s upload to be in flight');
      child.kill('SIGKILL');
      await exited;
      await nothingLeft('curl killed mid-upload');

      // A body short of its Content-Length: the socket ends after half of it.
      const req = request(`${d.url}/api/calls/call_cut/recording?to=1`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'audio/wav', 'content-length': String(big.length) },
        agent: false,
      });
      req.on('error', () => undefined);
      req.on('response', (res) => res.resume());
      // Past the parts that begin a multipart upload, short of the whole.
      req.write(big.subarray(0, big.length - 1_000_000));
      await until(inFlight, 'the short PUT to be in flight');
      req.socket?.end();
      await nothingLeft('a body short of its Content-Length');
    });
  }
});
