/**
 * AWS Signature Version 4 for the S3 adapter's two signatures: the header-signed GET of an
 * object's bytes and the presigned GET URL (#13). The same canonical request, string to sign and
 * signing key as @smithy/signature-v4 with the adapter's settings (S3: the path is signed as sent,
 * not escaped again; the GET's payload hash is its x-amz-content-sha256 header, the URL's
 * UNSIGNED-PAYLOAD), computed with node:crypto's HMAC and SHA-256 on strings.
 *
 * Why not @smithy/signature-v4: it clones the request twice, builds and sorts header and query
 * maps and hashes through async wrappers on every call. With 1,000 GETs opened at once that
 * garbage grew the JS heap by ~17 KiB a body over what the same GETs with one cached signature
 * needed (28 against 11 KiB, BENCHMARKS.md "S3 listeners: the project's own reader"), and a
 * presigned URL took ~40 µs. test/sigv4.test.ts checks both signatures byte for byte against
 * @smithy/signature-v4 and the SDK's getSignedUrl; test/radosgw.test.ts against a server that
 * verifies them.
 */
import { createHash, createHmac } from 'node:crypto';

export interface SigningIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

/** RFC 3986 escaping, as S3 wants it in canonical queries (and the SDK's `escapeUri`). */
export function escapeUri(value: string): string {
  const escaped = encodeURIComponent(value);
  return RESERVED.test(escaped) ? escaped.replace(RESERVED_ALL, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : escaped;
}

const RESERVED = /[!'()*]/;
const RESERVED_ALL = /[!'()*]/g;

/** The last second formatted by amzDate, and its text: most calls fall in the same second. */
let lastSecond = NaN;
let lastDate = '';

/** `YYYYMMDDTHHMMSSZ` of `ms` (milliseconds dropped). */
export function amzDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastDate = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
    lastSecond = second;
  }
  return lastDate;
}

/** Orders `name=value` pairs by name (a name never holds `=`: it is escaped). */
function byName(a: string, b: string): number {
  const x = a.slice(0, a.indexOf('='));
  const y = b.slice(0, b.indexOf('='));
  return x < y ? -1 : x > y ? 1 : 0;
}

export class SigV4 {
  readonly #region: string;
  readonly #service: string;
  /** The last signing key: its day and secret (a key serves every request of that day). */
  #key: { day: string; secret: string; key: Buffer } | undefined;

  constructor(region: string, service: string) {
    this.#region = region;
    this.#service = service;
  }

  /**
   * The headers of a signed GET without a body: `headers` (lower-case names, `host` and
   * `x-amz-content-sha256` among them) with x-amz-date, x-amz-security-token (with a session
   * token) and authorization added; every header given is signed. `path` is signed as sent.
   */
  signGet(identity: SigningIdentity, path: string, headers: Record<string, string>, now: number): Record<string, string> {
    const longDate = amzDate(now);
    const signed: Record<string, string> = { ...headers, 'x-amz-date': longDate };
    if (identity.sessionToken) signed['x-amz-security-token'] = identity.sessionToken;
    const names = Object.keys(signed).sort();
    let canonicalHeaders = '';
    for (const name of names) canonicalHeaders += `${name}:${canonicalValue(signed[name]!)}\n`;
    const signedHeaders = names.join(';');
    const canonical = `GET\n${path}\n\n${canonicalHeaders}\n${signedHeaders}\n${signed['x-amz-content-sha256']}`;
    const scope = this.#scope(longDate);
    const signature = this.#signature(identity, longDate, scope, canonical);
    signed.authorization = `${ALGORITHM} Credential=${identity.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return signed;
  }

  /**
   * The query string of a presigned GET URL of `path` on `host`, valid `expiresIn` seconds from
   * `now`: `query` (names and values unescaped) and the X-Amz-* parameters, sorted by name and
   * escaped as the SDK's getSignedUrl writes them; the payload is UNSIGNED-PAYLOAD, only `host` is signed.
   */
  presignQuery(identity: SigningIdentity, host: string, path: string, query: Record<string, string>, expiresIn: number, now: number): string {
    const longDate = amzDate(now);
    const scope = this.#scope(longDate);
    const pairs = [
      `X-Amz-Algorithm=${ALGORITHM}`,
      'X-Amz-Content-Sha256=UNSIGNED-PAYLOAD',
      `X-Amz-Credential=${escapeUri(`${identity.accessKeyId}/${scope}`)}`,
      `X-Amz-Date=${longDate}`,
      `X-Amz-Expires=${expiresIn}`,
      'X-Amz-SignedHeaders=host',
    ];
    if (identity.sessionToken) pairs.push(`X-Amz-Security-Token=${escapeUri(identity.sessionToken)}`);
    for (const name in query) pairs.push(`${escapeUri(name)}=${escapeUri(query[name]!)}`);
    pairs.sort(byName);
    const canonicalQuery = pairs.join('&');
    const canonical = `GET\n${path}\n${canonicalQuery}\nhost:${canonicalValue(host)}\n\nhost\nUNSIGNED-PAYLOAD`;
    const signature = this.#signature(identity, longDate, scope, canonical);
    // X-Amz-Signature sorts between X-Amz-Security-Token and X-Amz-SignedHeaders.
    const at = pairs.findIndex((pair) => pair > 'X-Amz-Signature=');
    pairs.splice(at < 0 ? pairs.length : at, 0, `X-Amz-Signature=${signature}`);
    return pairs.join('&');
  }

  #scope(longDate: string): string {
    return `${longDate.slice(0, 8)}/${this.#region}/${this.#service}/aws4_request`;
  }

  #signature(identity: SigningIdentity, longDate: string, scope: string, canonical: string): string {
    const hashed = createHash('sha256').update(canonical, 'utf8').digest('hex');
    const stringToSign = `${ALGORITHM}\n${longDate}\n${scope}\n${hashed}`;
    return createHmac('sha256', this.#signingKey(identity.secretAccessKey, longDate.slice(0, 8))).update(stringToSign, 'utf8').digest('hex');
  }

  #signingKey(secret: string, day: string): Buffer {
    const cached = this.#key;
    if (cached && cached.day === day && cached.secret === secret) return cached.key;
    let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(day, 'utf8').digest();
    for (const part of [this.#region, this.#service, 'aws4_request']) key = createHmac('sha256', key).update(part, 'utf8').digest();
    this.#key = { day, secret, key };
    return key;
  }
}

/** A header value as SigV4 signs it: line breaks and runs of blanks one space, trimmed. */
function canonicalValue(value: string): string {
  return value.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}
