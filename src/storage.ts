/** Builds the configured storage adapter. S3 and MinIO SDKs load only when used. */
import { LocalAdapter } from '../adapters/local.js';
import type { Config } from '../config/schema.js';
import type { SignOptions, SignedUrl, StorageAdapter } from './core/storage.js';

export async function createStorage(
  config: Config,
  mediaUrl: (key: string, options: SignOptions) => SignedUrl,
): Promise<StorageAdapter> {
  switch (config.storage) {
    case 'local':
      return new LocalAdapter({ root: config.localRoot, signUrl: mediaUrl });
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
