/** Daemon environment for each storage backend, pointed at a test S3-protocol server. */
import { S3RVER_CREDENTIALS } from './s3-server.js';

export const BUCKET = 'recordings';

/** What the environment needs of a test S3 server (s3rver, or radosgw with its own keys). */
export interface S3Backend {
  endpoint: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Public endpoints use "localhost" so tests can tell them from the internal 127.0.0.1 one. */
export function storageEnv(storage: string, mode: string, s3?: S3Backend, extra: Record<string, string> = {}): Record<string, string> {
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
    const credentials = s3!.credentials ?? S3RVER_CREDENTIALS;
    Object.assign(env, {
      RECPROXY_MINIO_ENDPOINT: s3!.endpoint,
      RECPROXY_MINIO_PUBLIC_ENDPOINT: s3!.endpoint.replace('127.0.0.1', 'localhost'),
      RECPROXY_MINIO_BUCKET: BUCKET,
      RECPROXY_MINIO_ACCESS_KEY: credentials.accessKeyId,
      RECPROXY_MINIO_SECRET_KEY: credentials.secretAccessKey,
    });
  }
  return env;
}
