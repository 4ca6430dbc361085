/**
 * A thousand aborted downloads through the S3 adapter leave nothing behind, on either side: the
 * backend reads are aborted, not left to drain or pool (test/helpers/aborted-downloads.ts).
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ABORTS, checkAbortedDownloads } from './helpers/aborted-downloads.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';

t.test(`${ABORTS} aborted downloads through the S3 adapter leave no descriptor or socket behind`, async (t) => {
  const s3 = await startS3Server({ buckets: ['recordings'] });
  t.teardown(() => s3.stop());
  await checkAbortedDownloads(t, {
    RECPROXY_STORAGE: 's3',
    RECPROXY_S3_BUCKET: 'recordings',
    RECPROXY_S3_ENDPOINT: s3.endpoint,
    RECPROXY_S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  });
  // The last, whole download may leave one pooled connection until the backend's keep-alive ends.
  let open = await s3.connections();
  for (const until = Date.now() + 30_000; open > 0 && Date.now() < until; open = await s3.connections()) await sleep(250);
  t.equal(open, 0, "no connection left open on the backend's side");
});
