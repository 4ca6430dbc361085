// The S3 adapter's own SigV4 (adapters/sigv4.ts) against @smithy/signature-v4 with the settings
// the adapter used before it (S3: the path not escaped again, no checksum added), byte for byte,
// over keys, ranges, regions, session tokens, dates and header values with odd blanks.
import t from 'tap';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest, buildQueryString, extendedEncodeURIComponent } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { SigV4, amzDate, escapeUri, type SigningIdentity } from '../adapters/sigv4.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const identities: SigningIdentity[] = [
  { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 's3cr3t', sessionToken: 'tok/en+= with space' },
];
const keys = ['recordings/a.wav', 'calls/2024/Anruf Müller (1).wav', "o'brien/*!~.mp3", 'a//b/ü€😀.wav'];
const dates = [Date.UTC(2026, 11, 1, 1, 2, 3, 456), Date.UTC(2026, 11, 1, 23, 59, 59, 999), Date.UTC(2026, 11, 2, 0, 0, 0, 0)];
const pathOf = (prefix: string, key: string) => `${prefix}/${key.split('/').map(extendedEncodeURIComponent).join('/')}`;

function smithy(region: string, identity: SigningIdentity): SignatureV4 {
  return new SignatureV4({ service: 's3', region, credentials: identity, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
}

t.test('signGet: the same headers as SignatureV4.sign', async (t) => {
  let compared = 0;
  for (const region of ['us-east-1', 'eu-central-1']) {
    const ours = new SigV4(region, 's3');
    for (const identity of identities) {
      for (const key of keys) {
        for (const range of [undefined, 'bytes=0-1023', 'bytes=  5-  ']) {
          for (const now of dates) {
            const host = region === 'us-east-1' ? 'recordings.s3.us-east-1.amazonaws.com' : '127.0.0.1:9000';
            const path = pathOf(region === 'us-east-1' ? '' : '/recordings', key);
            const headers: Record<string, string> = { host, 'x-amz-content-sha256': EMPTY_SHA256 };
            if (range) headers.range = range;
            const theirs = await smithy(region, identity).sign(
              new HttpRequest({ method: 'GET', protocol: 'http:', hostname: host.split(':')[0], headers: { ...headers }, path }),
              { signingDate: new Date(now) },
            );
            t.same(ours.signGet(identity, path, headers, now), theirs.headers, `${region} ${key} ${range} ${now}`);
            compared++;
          }
        }
      }
    }
  }
  t.equal(compared, 2 * 2 * 4 * 3 * 3);
});

t.test('presignQuery: the query of SignatureV4.presign, as buildQueryString writes it', async (t) => {
  let compared = 0;
  for (const region of ['us-east-1', 'ap-southeast-2']) {
    const ours = new SigV4(region, 's3');
    for (const identity of identities) {
      for (const key of keys) {
        for (const now of dates) {
          for (const expiresIn of [1, 900, 604800]) {
            const host = 'media.example.test:9000';
            const path = pathOf('/recordings', key);
            const query = {
              'response-content-disposition': `attachment; filename="x.wav"; filename*=UTF-8''${escapeUri(key)}`,
              'response-content-type': 'audio/mpeg',
              'x-id': 'GetObject',
            };
            const signed = await smithy(region, identity).presign(
              new HttpRequest({ method: 'GET', protocol: 'http:', hostname: 'media.example.test', port: 9000, path, query: { ...query }, headers: { host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } }),
              { signingDate: new Date(now), expiresIn },
            );
            t.equal(ours.presignQuery(identity, host, path, query, expiresIn, now), buildQueryString(signed.query!), `${region} ${key} ${now} ${expiresIn}`);
            compared++;
          }
        }
      }
    }
  }
  t.equal(compared, 2 * 2 * 4 * 3 * 3);
});

t.test('amzDate drops the milliseconds; the signing key follows the day and the secret', async (t) => {
  t.equal(amzDate(Date.UTC(2026, 0, 2, 3, 4, 5, 999)), '20260102T030405Z');
  const ours = new SigV4('us-east-1', 's3');
  const headers = { host: 'h', 'x-amz-content-sha256': EMPTY_SHA256 };
  const sign = (identity: SigningIdentity, now: number) => ours.signGet(identity, '/k', headers, now).authorization;
  const [a, b] = identities;
  const day1 = sign(a!, dates[1]!);
  t.not(sign(a!, dates[2]!), day1, 'a new day: a new key');
  t.not(sign({ ...a!, secretAccessKey: 'other' }, dates[1]!), day1, 'another secret: another key');
  t.equal(sign(a!, dates[1]!), day1, 'the first again: the same signature');
  t.match(sign(b!, dates[0]!), /^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE\/20261201\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
});
