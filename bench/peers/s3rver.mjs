/**
 * An S3-protocol server (s3rver) on 127.0.0.1:PORT, objects under BENCH_S3_DIR, with the
 * bucket `recordings`. Accepts the access key S3RVER / S3RVER. BENCH_S3_SILENT=false: log each request.
 */
import { createRequire } from 'node:module';

const S3rver = createRequire(import.meta.url)('s3rver');
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.PORT),
  silent: process.env.BENCH_S3_SILENT !== 'false',
  directory: process.env.BENCH_S3_DIR,
  configureBuckets: [{ name: 'recordings' }],
  vhostBuckets: false,
});
await server.run();
process.once('SIGTERM', () => {
  const closing = server.close();
  server.httpServer?.closeAllConnections();
  closing.then(() => process.exit(0));
});
