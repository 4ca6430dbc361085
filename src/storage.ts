/**
 * Builds the configured storage adapter. S3 and MinIO SDKs load only when used. What each can
 * do (presigned URLs, where new recordings go) it declares itself (src/core/storage.ts).
 */
import { LocalAdapter } from '../adapters/local.js';
import type { Config } from '../config/schema.js';
import type { StorageAdapter } from './core/storage.js';

export async function createStorage(config: Config): Promise<StorageAdapter> {
  switch (config.storage) {
    case 'local':
      return new LocalAdapter({ root: config.localRoot });
    case 's3': {
      const { S3Adapter } = await import('../adapters/s3.js');
      return new S3Adapter({
        bucket: config.s3Bucket!,
        region: config.s3Region,
        endpoint: config.s3Endpoint,
        publicEndpoint: config.s3PublicEndpoint,
        forcePathStyle: config.s3ForcePathStyle,
        timeoutMs: config.storageTimeoutMs,
      });
    }
    case 'minio': {
      const { MinioAdapter } = await import('../adapters/minio.js');
      return new MinioAdapter({
        endpoint: config.minioEndpoint!,
        publicEndpoint: config.minioPublicEndpoint,
        bucket: config.minioBucket!,
        region: config.minioRegion,
        accessKey: config.minioAccessKey!,
        secretKey: config.minioSecretKey!,
        timeoutMs: config.storageTimeoutMs,
      });
    }
  }
  throw new Error(`unknown storage "${String(config.storage)}"`);
}
