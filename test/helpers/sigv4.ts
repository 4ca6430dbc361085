/**
 * An independent SigV4 for presigned GETs (AWS "Authenticating Requests: Using Query
 * Parameters"), written from the spec for the tests: it checks the adapters' URLs, and with
 * another `encode` it makes the kind of wrong signature a hand-written signer gets, to show
 * which servers notice.
 */
import { createHash, createHmac } from 'node:crypto';

const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** What SigV4 requires for the canonical query: everything but A-Z a-z 0-9 - _ . ~ escaped. */
export const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The signature of the presigned GET `raw` (its X-Amz-Signature ignored), canonical query escaped with `encode`. */
export function presignSignature(raw: string, secret: string, region: string, encode: (s: string) => string = rfc3986): string {
  const url = new URL(raw);
  const params = [...url.searchParams].filter(([k]) => k !== 'X-Amz-Signature').map(([k, v]) => `${encode(k)}=${encode(v)}`);
  params.sort();
  const canonical = ['GET', url.pathname, params.join('&'), `host:${url.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const date = url.searchParams.get('X-Amz-Date') ?? '';
  const scope = `${date.slice(0, 8)}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key = hmac(`AWS4${secret}`, date.slice(0, 8));
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  return hmac(key, toSign).toString('hex');
}

export function signatureIsValid(raw: string, secret: string, region: string): boolean {
  return presignSignature(raw, secret, region) === new URL(raw).searchParams.get('X-Amz-Signature');
}

/** `raw` with its X-Amz-Signature replaced by one computed with `encode`; nothing else changes. */
export function resign(raw: string, secret: string, region: string, encode: (s: string) => string): string {
  return raw.replace(/X-Amz-Signature=[0-9a-f]{64}/, `X-Amz-Signature=${presignSignature(raw, secret, region, encode)}`);
}
