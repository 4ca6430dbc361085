/** Daemon environment for each storage backend, pointed at a test S3-protocol server. */
import type { S3Server } from './s3-server.js';
import { S3RVER_CREDENTIALS } from './s3-server.js';

export const BUCKET = 'recordings';

/** Public endpoints use "localhost" so tests can tell them from the internal 127.0.0.1 one. */
export function storageEnv(storage: string, mode: string, s3?: S3Server, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { RECPROXY_STORAGE: storage, RECPROXY_STREAM_MODE: mode, ...extra };
  if (storage === 's3') {
    Object.assign(env, {
      RECPROXY_S3_BUCKET: BUCKET,
      RECPROXY_S3_ENDPOINT: s3!.endpoint,
      RECPROXY_S3_PUBLIC_ENDPOINT: s3!.endpoint.replace('127.0.0.1', 'localhost'),
      RECPROXY_S3_FORCE_PATH_STYLE: 'true',
    });
  }
  if (storage === 'minio') {
    Object.assign(env, {
      RECPROXY_MINIO_ENDPOINT: s3!.endpoint,
      RECPROXY_MINIO_PUBLIC_ENDPOINT: s3!.endpoint.replace('127.0.0.1', 'localhost'),
      RECPROXY_MINIO_BUCKET: BUCKET,
      RECPROXY_MINIO_ACCESS_KEY: S3RVER_CREDENTIALS.accessKeyId,
      RECPROXY_MINIO_SECRET_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    });
  }
  return env;
}

