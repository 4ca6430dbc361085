/**
 * The same end-to-end journey (test/helpers/journey.ts) over every storage backend and both
 * stream modes. S3 and MinIO run against s3rver on a loopback port (test/radosgw.test.ts runs
 * them against radosgw, which also checks signatures).
 */
import t from 'tap';
import { startDaemon } from './helpers/daemon.js';
import { journey } from './helpers/journey.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from './helpers/s3-server.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

for (const storage of ['local', 's3', 'minio']) {
  for (const mode of ['presigned', 'proxy']) {
    t.test(`${storage}, ${mode}`, async (t) => {
      let s3: S3Server | undefined;
      if (storage !== 'local') {
        s3 = await startS3Server({ buckets: [BUCKET] });
        t.teardown(() => s3!.stop());
      }
      const d = await startDaemon(storageEnv(storage, mode, s3));
      t.teardown(d.stop);
      t.equal(d.ctx.storage.name, storage);
      await journey(t, d, storage, mode, s3);
    });
  }
}
