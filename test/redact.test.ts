import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { pino } from 'pino';
import { REDACTED, REDACT_PATHS, loggerOptions, redactText, redactUrl, serializers } from '../src/redact.js';

const API_KEY = 'rpk_AbCdEfGh1234_' + 'S'.repeat(40) + 'e-_';
const MEDIA_TOKEN = 'k1.eyJrIjoicmVjb3JkaW5ncy9hLndhdiJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dQ';
const AMZ_SIG = '3f1b2c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c';
const AMZ_CRED = 'AKIAIOSFODNN7EXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request';
const PRESIGNED =
  `https://s3.example.com/bucket/rec.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AMZ_CRED}` +
  `&X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=${AMZ_SIG}`;
const SECRETS = [API_KEY, MEDIA_TOKEN, AMZ_SIG, 'AKIAIOSFODNN7EXAMPLE', 'session=supersecretcookie', 'hunter2'];

/** A stream collecting what a logger writes. */
function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

function assertClean(t: Test, text: string): void {
  for (const secret of SECRETS) t.notOk(text.includes(secret), `no ${secret.slice(0, 12)}… in the log`);
}

t.test('redactUrl', async (t) => {
  t.equal(redactUrl(`/media/${MEDIA_TOKEN}`), `/media/${REDACTED}`);
  t.equal(redactUrl(`http://127.0.0.1:3000/media/${MEDIA_TOKEN}?x=1#frag`), `http://127.0.0.1:3000/media/${REDACTED}?x=1#frag`);
  t.equal(redactUrl(`/prefix/media/${MEDIA_TOKEN}/`), `/prefix/media/${REDACTED}/`);
  t.equal(redactUrl('/media/'), '/media/', 'nothing to hide');
  const presigned = redactUrl(PRESIGNED);
  t.notOk(presigned.includes(AMZ_SIG));
  t.notOk(presigned.includes('AKIAIOSFODNN7EXAMPLE'));
  t.match(presigned, /X-Amz-Signature=\[redacted\]$/);
  t.match(presigned, /X-Amz-Credential=\[redacted\]&X-Amz-Date=20250101T000000Z/, 'other parameters kept');
  t.equal(redactUrl('/x?x-amz-security-token=abc&ok=1'), `/x?x-amz-security-token=${REDACTED}&ok=1`, 'case-insensitive');
  t.equal(redactUrl('/x?Signature=abc&AWSAccessKeyId=AKIA'), `/x?Signature=${REDACTED}&AWSAccessKeyId=${REDACTED}`, 'SigV2');
  t.equal(redactUrl('/cb?access_token=abc&state=1'), `/cb?access_token=${REDACTED}&state=1`);
  t.equal(redactUrl('https://user:hunter2@minio:9000/b/k'), `https://${REDACTED}@minio:9000/b/k`);
  t.equal(redactUrl('/api/calls/call_abc/recording/download'), '/api/calls/call_abc/recording/download', 'ordinary URLs unchanged');
  t.equal(redactUrl('%%%/media/%zz?token=%'), `%%%/media/${REDACTED}?token=${REDACTED}`, 'malformed URLs too');
});

t.test('redactText', async (t) => {
  const text = redactText(`refused ${API_KEY}, header "Bearer ${API_KEY}", Basic dXNlcjpodW50ZXIy, url ${PRESIGNED}`);
  assertClean(t, text);
  t.notOk(text.includes('dXNlcjpodW50ZXIy'));
  t.match(text, /Bearer \[redacted\]/);
});

t.test('REDACT_PATHS are valid pino paths covering the secret headers', async (t) => {
  t.ok(REDACT_PATHS.includes('req.headers.authorization'));
  t.ok(REDACT_PATHS.includes('req.headers.cookie'));
  t.ok(REDACT_PATHS.includes('req.headers["x-api-key"]'));
  const out = sink();
  const log = pino({ redact: { paths: REDACT_PATHS, censor: REDACTED } }, out.stream);
  const headers = {
    authorization: `Bearer ${API_KEY}`,
    cookie: 'session=supersecretcookie',
    'x-api-key': API_KEY,
    'proxy-authorization': 'Basic aHVudGVyMg==',
    'x-amz-security-token': 'hunter2',
    'user-agent': 'curl/8',
  };
  log.info({ req: { headers } }, 'req');
  log.info({ headers }, 'bare headers');
  log.info({ request: { headers } }, 'request');
  log.info({ upstream: { headers } }, 'nested one level');
  log.info({ res: { headers: { 'set-cookie': 'session=supersecretcookie' } } }, 'res');
  const text = out.text();
  assertClean(t, text);
  t.notOk(text.includes('aHVudGVyMg=='));
  t.match(text, /curl\/8/, 'other headers kept');
  t.equal(text.split('\n').filter(Boolean).length, 5);
});

t.test('loggerOptions on a bare pino logger: message strings and interpolated arguments are blanked', async (t) => {
  const out = sink();
  const log = pino(loggerOptions('info'), out.stream);
  log.info('issued %s', PRESIGNED);
  log.info({ key: 'id0000000001' }, `refused ${API_KEY} from ${MEDIA_TOKEN.length} chars at /media/${MEDIA_TOKEN}`);
  log.warn({ n: 1 }, 'header was Bearer %s', API_KEY);
  const text = out.text();
  assertClean(t, text);
  t.match(text, /issued https:\/\/s3\.example\.com\/bucket\/rec\.wav\?X-Amz-Algorithm=AWS4-HMAC-SHA256/, 'the rest of the URL kept');
  t.match(text, /"key":"id0000000001"/, 'objects untouched by the hook');
  t.equal(text.split('\n').filter(Boolean).length, 3);
});

t.test('serializers.req: method, redacted URL, address; no headers', async (t) => {
  t.same(
    serializers.req({ method: 'GET', url: `/media/${MEDIA_TOKEN}`, ip: '10.0.0.1' }),
    { method: 'GET', url: `/media/${REDACTED}`, remoteAddress: '10.0.0.1' },
  );
  t.same(
    serializers.req({ method: 'HEAD', url: '/healthz', socket: { remoteAddress: '::1' } }),
    { method: 'HEAD', url: '/healthz', remoteAddress: '::1' },
    'a bare IncomingMessage',
  );
  t.same(serializers.req({}), { method: undefined, url: undefined, remoteAddress: undefined });
});

t.test('a real Fastify server logging every request keeps secrets out', async (t) => {
  const out = sink();
  const app = Fastify({ logger: { ...loggerOptions('trace'), stream: out.stream } });
  app.get('/media/:token', async (request) => {
    // A handler that carelessly logs what it got.
    request.log.info({ headers: request.headers }, 'media read');
    return 'ok';
  });
  app.get('/api/calls/:sid/recording/stream', async (request) => {
    request.log.info({ req: request }, 'stream url');
    request.log.info(`issued ${redactUrl(PRESIGNED)}`);
    return { url: PRESIGNED };
  });
  t.teardown(() => app.close());

  const headers = { authorization: `Bearer ${API_KEY}`, cookie: 'session=supersecretcookie', 'x-api-key': API_KEY };
  t.equal((await app.inject({ url: `/media/${MEDIA_TOKEN}`, headers })).statusCode, 200);
  t.equal((await app.inject({ url: '/api/calls/call_1/recording/stream', headers })).statusCode, 200);
  t.equal((await app.inject({ url: `/nowhere/media/${MEDIA_TOKEN}?X-Amz-Signature=${AMZ_SIG}`, headers })).statusCode, 404);

  const text = out.text();
  t.match(text, /"incoming request"/, 'request logging was on');
  t.match(text, /\/media\/\[redacted\]/, 'the media URL is logged, redacted');
  t.match(text, /X-Amz-Signature=\[redacted\]/);
  t.match(text, /"method":"GET"/);
  assertClean(t, text);
});
