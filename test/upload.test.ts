/**
 * Uploading recordings over real HTTP (src/routes/upload.ts), with the real `curl` binary:
 * MP3's type and duration from its bytes; limits, non-audio, bad metadata, bad forms and
 * credentials, each leaving nothing stored and the daemon serving. Every storage, retries and
 * conflicts: upload-storage.test.ts; cut-off uploads: upload-cut.test.ts.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.js';
import { makeMp3, mp3DurationMs } from './helpers/mp3.js';
import { ORG, admin, curl, filesUnder, hArgs, serving, stored, type Answer } from './helpers/upload.js';
import { makeWav } from './helpers/wav.js';

t.test('MP3: content type and duration from the bytes, with and without a known length', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const h = await admin(d);
  const mp3 = makeMp3(30);
  const put = await fetch(`${d.url}/api/calls/call_m1/recording?to=1&duration_ms=1`, { method: 'PUT', headers: { ...h, 'content-type': 'audio/wav' }, body: mp3 });
  t.equal(put.status, 201);
  t.match(((await put.json()) as Answer['body']).data, { content_type: 'audio/mpeg', duration_ms: mp3DurationMs(mp3) }, 'not the declared audio/wav, not 1 ms');
  const form = new FormData();
  form.set('call_sid', 'call_m2');
  form.set('to', '1');
  form.set('file', new Blob([mp3]), 'rec.wav');
  const post = await fetch(`${d.url}/api/calls`, { method: 'POST', headers: h, body: form });
  t.equal(post.status, 201);
  t.match(((await post.json()) as Answer['body']).data, { content_type: 'audio/mpeg', duration_ms: mp3DurationMs(mp3) }, 'a form: no length, frames counted');
  const ogg = Buffer.concat([Buffer.from('OggS\0'), Buffer.alloc(5000, 3)]);
  const unreadable = await fetch(`${d.url}/api/calls/call_m3/recording?to=1&duration_ms=4321`, { method: 'PUT', headers: h, body: ogg });
  t.match(((await unreadable.json()) as Answer['body']).data, { content_type: 'audio/ogg', duration_ms: 4321 }, 'the sender’s duration only when the bytes do not tell');
  const download = await fetch(`${d.url}/api/calls/call_m1/recording/download`, { headers: d.headers(ORG) });
  t.match(download.headers.get('content-disposition'), /recording_1\.mp3/);
});

t.test('bad input: each refused with its code, nothing stored or indexed, the daemon serving', async (t) => {
  const LIMIT = 200_000;
  const d = await startDaemon({ RECPROXY_MAX_UPLOAD_BYTES: String(LIMIT) });
  t.teardown(d.stop);
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-upload-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const admins = await admin(d);
  const h = hArgs(admins);
  const files = {
    wav: makeWav(1),
    big: makeWav((LIMIT + 1000) / 16_000),
    text: Buffer.from('root:x:0:0:root:/root:/bin/bash\n'),
  };
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  const f = (name: keyof typeof files) => join(dir, name);
  const form = (...fields: string[]) => fields.flatMap((x) => ['-F', x]);
  const post = `${d.url}/api/calls`;
  const put = (sid: string, query = 'to=1') => `${d.url}/api/calls/${sid}/recording?${query}`;
  const otherOrg = await admin(d, 'org_other');

  const cases: [string, string[], number, string, RegExp?][] = [
    ['PUT over the limit (Content-Length)', [...h, '-T', f('big'), put('call_b1')], 413, 'PAYLOAD_TOO_LARGE', /200000 bytes \(RECPROXY_MAX_UPLOAD_BYTES\)/],
    ['PUT over the limit (chunked)', [...h, '-H', 'Transfer-Encoding: chunked', '-T', f('big'), put('call_b2')], 413, 'PAYLOAD_TOO_LARGE'],
    ['POST over the limit', [...h, ...form('call_sid=call_b3', 'to=1', `file=@${f('big')}`), post], 413, 'PAYLOAD_TOO_LARGE'],
    ['POST not audio', [...h, ...form('call_sid=call_b4', 'to=1', `file=@${f('text')}`), post], 415, 'UNSUPPORTED_MEDIA_TYPE', /text is not audio/],
    ['PUT not audio', [...h, '-T', f('text'), put('call_b5')], 415, 'UNSUPPORTED_MEDIA_TYPE', /not audio/],
    ['PUT of a text type', [...h, '-H', 'Content-Type: text/plain', '-T', f('wav'), put('call_b6')], 415, 'UNSUPPORTED_MEDIA_TYPE', /text\/plain/],
    ['POST of JSON', [...h, '-H', 'Content-Type: application/json', '-d', '{"call_sid":"call_b7"}', post], 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['POST of no form', [...h, '-X', 'POST', post], 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['malformed metadata', [...h, ...form('call_sid=call_b8', 'to=1', 'started_at=yesterday', 'duration_ms=ten', `file=@${f('wav')}`), post], 400, 'INVALID_REQUEST',
      /^started_at must be an ISO 8601 time; duration_ms must be a whole number of milliseconds$/],
    ['a bad call_sid', [...h, ...form('call_sid=nope', 'to=1', `file=@${f('wav')}`), post], 400, 'INVALID_REQUEST', /^call_sid must be call_ followed by/],
    ['no to', [...h, ...form('call_sid=call_b9', `file=@${f('wav')}`), post], 400, 'INVALID_REQUEST', /^to is required, before the file part$/],
    ['an empty to', [...h, '-T', f('wav'), put('call_b10', 'to=')], 400, 'INVALID_REQUEST', /^to must be a phone number/],
    ['PUT: malformed started_at', [...h, '-T', f('wav'), put('call_b11', 'to=1&started_at=soon')], 400, 'INVALID_REQUEST', /^started_at must be an ISO 8601 time$/],
    ['an unknown field', [...h, ...form('call_sid=call_b12', 'to=1', 'start=2026-01-01', `file=@${f('wav')}`), post], 400, 'INVALID_REQUEST', /unknown field start/],
    ['an unknown parameter', [...h, '-T', f('wav'), put('call_b13', 'to=1&start=x')], 400, 'INVALID_REQUEST', /unknown parameter start/],
    ['two file parts', [...h, ...form('call_sid=call_b14', 'to=1', `file=@${f('wav')}`, `file=@${f('wav')}`), post], 400, 'INVALID_REQUEST', /exactly one file part/],
    ['no file part', [...h, ...form('call_sid=call_b15', 'to=1'), post], 400, 'INVALID_REQUEST', /no file part/],
    ['a file part of another name', [...h, ...form('call_sid=call_b16', 'to=1', `audio=@${f('wav')}`), post], 400, 'INVALID_REQUEST', /unexpected file part audio/],
    ['the file as text', [...h, ...form('call_sid=call_b17', 'to=1', 'file=rec.wav'), post], 400, 'INVALID_REQUEST', /file must be a file part/],
    ['a field after the file', [...h, ...form('call_sid=call_b18', 'to=1', `file=@${f('wav')}`, 'from=2'), post], 400, 'INVALID_REQUEST', /from comes after the file part/],
    ['a field twice', [...h, ...form('call_sid=call_b19', 'to=1', 'to=2', `file=@${f('wav')}`), post], 400, 'INVALID_REQUEST', /to is given twice/],
    ['a form without a boundary', [...h, '-H', 'Content-Type: multipart/form-data', '--data-binary', 'call_sid=call_b24', post], 400, 'INVALID_REQUEST', /multipart body is malformed/],
    ['a form cut short', [...h, '-H', 'Content-Type: multipart/form-data; boundary=xyz', '--data-binary', '--xyz\r\nContent-Disposition: form-data; name="to"\r\n\r\n1', post], 400, 'INVALID_REQUEST', /multipart body is malformed/],
    ['a read key, POST', [...hArgs(d.headers(ORG)), ...form('call_sid=call_b20', 'to=1', `file=@${f('wav')}`), post], 403, 'INSUFFICIENT_SCOPE'],
    ['a read key, PUT', [...hArgs(d.headers(ORG)), '-T', f('wav'), put('call_b21')], 403, 'INSUFFICIENT_SCOPE'],
    ['another organization’s admin key', [...hArgs({ ...otherOrg, 'X-Organization-Id': ORG }), '-T', f('wav'), put('call_b22')], 403, 'ORG_FORBIDDEN'],
    ['no credentials', ['-T', f('wav'), put('call_b23')], 401, 'UNAUTHORIZED'],
    ['a bad call_sid in the path', [...h, '-T', f('wav'), put('nope')], 400, 'INVALID_CALL_SID'],
  ];
  for (const [what, args, status, code, message] of cases) {
    const a = await curl(args);
    t.equal(a.status, status, `${what}: ${status}`);
    t.equal(a.body.error?.code, code, `${what}: ${code}`);
    if (message) t.match(a.body.error?.message, message, `${what}: says why`);
    t.same(await stored(d), [], `${what}: nothing stored`);
    t.same(await filesUnder(d.ctx.config.localRoot), [], `${what}: no temp file`);
    t.same((await d.ctx.index.list(ORG, {}, undefined, 10)).length, 0, `${what}: nothing indexed`);
    await serving(t, d, what);
  }
  const ok = await curl([...h, ...form('call_sid=call_ok', 'to=1', `file=@${f('wav')}`), post]);
  t.equal(ok.status, 201, 'a good upload after all of them');
});
