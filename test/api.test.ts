import t from 'tap';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const ORG = 'org_123';
const wav = makeWav(60);

t.test('a 60 s recording: stream URL, ranged playback, byte-exact download', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: 'call_abc123', to: '+15559876543', from: '+15551230000', bytes: wav });

  const res = await fetch(`${d.url}/api/calls/call_abc123/recording/stream`, { headers: d.headers(ORG) });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  const body = (await res.json()) as { success: boolean; data: Record<string, unknown> };
  t.same(Object.keys(body).sort(), ['data', 'success']);
  t.equal(body.success, true);
  t.same(Object.keys(body.data).sort(), ['content_type', 'expires_in', 'filename', 'url']);
  t.equal(body.data.content_type, 'audio/wav');
  t.equal(body.data.filename, 'recording_+15559876543.wav');
  t.ok((body.data.expires_in as number) >= 3599 && (body.data.expires_in as number) <= 3600, 'expires_in is the real lifetime');
  const url = body.data.url as string;
  t.ok(url.startsWith(`${d.url}/media/`), 'local storage streams through the daemon');

  const ranged = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
  t.equal(ranged.status, 206);
  t.equal(ranged.headers.get('content-range'), `bytes 1000-1999/${wav.length}`);
  t.equal(ranged.headers.get('content-length'), '1000');
  t.equal(ranged.headers.get('accept-ranges'), 'bytes');
  t.match(ranged.headers.get('content-disposition'), /^inline; filename="recording_\+15559876543\.wav"$/);
  t.ok(Buffer.from(await ranged.arrayBuffer()).equals(wav.subarray(1000, 2000)), 'exactly bytes 1000-1999');

  const full = await fetch(url);
  t.equal(full.status, 200);
  t.ok(Buffer.from(await full.arrayBuffer()).equals(wav));

  const dl = await fetch(`${d.url}/api/calls/call_abc123/recording/download`, { headers: d.headers(ORG) });
  t.equal(dl.status, 200);
  t.equal(dl.headers.get('content-type'), 'audio/wav');
  t.equal(dl.headers.get('x-content-type-options'), 'nosniff', 'browsers must not sniff the bytes');
  t.equal(dl.headers.get('content-disposition'), 'attachment; filename="recording_+15559876543.wav"');
  t.equal(dl.headers.get('content-length'), String(wav.length));
  t.ok(dl.headers.get('etag'));
  t.ok(dl.headers.get('last-modified'));
  t.ok(Buffer.from(await dl.arrayBuffer()).equals(wav), 'download is byte-for-byte');

  const resume = await fetch(`${d.url}/api/calls/call_abc123/recording/download`, {
    headers: { ...d.headers(ORG), Range: `bytes=${wav.length - 100}-` },
  });
  t.equal(resume.status, 206, 'a download can resume');
  t.ok(Buffer.from(await resume.arrayBuffer()).equals(wav.subarray(wav.length - 100)));

  const head = await fetch(`${d.url}/api/calls/call_abc123/recording/download`, {
    method: 'HEAD',
    headers: d.headers(ORG),
  });
  t.equal(head.status, 200);
  t.equal(head.headers.get('content-length'), String(wav.length));
  t.equal(head.headers.get('content-disposition'), 'attachment; filename="recording_+15559876543.wav"');
  t.equal((await head.arrayBuffer()).byteLength, 0, 'HEAD has no body');

  const row = (await d.ctx.index.get('call_abc123'))!;
  t.equal(row.duration_ms, 60000, 'duration read from the WAV header');
  t.equal(row.size_bytes, wav.length);
  t.match(row.sha256, /^[0-9a-f]{64}$/);
});

async function errorOf(res: Response) {
  const body = (await res.json()) as { success: boolean; error: { code: string; message: string } };
  return { status: res.status, success: body.success, code: body.error.code, message: body.error.message };
}

t.test('bad input answers a JSON error and the daemon keeps serving', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: 'call_mine', to: '+15550001111', bytes: makeWav(1) });
  await d.addCall({ org: 'org_other', sid: 'call_theirs', to: '+15550002222', bytes: makeWav(1) });
  await d.addCall({ org: ORG, sid: 'call_gone', to: '+15550003333', bytes: makeWav(1) });
  await rm(join(d.ctx.config.localRoot, (await d.ctx.index.get('call_gone'))!.storage_key));
  const auth = { Authorization: d.headers(ORG).Authorization! };
  const get = (path: string, headers: Record<string, string> = d.headers(ORG)) =>
    fetch(`${d.url}${path}`, { headers });

  for (const sid of ['abc123', 'call_', 'call_a-b', 'call_%2e%2e', `call_${'a'.repeat(65)}`, 'CALL_abc', 'call_ab%0d%0a']) {
    for (const ep of ['stream', 'download']) {
      const e = await errorOf(await get(`/api/calls/${sid}/recording/${ep}`));
      t.same([e.status, e.success, e.code], [400, false, 'INVALID_CALL_SID'], `${ep} ${sid}`);
    }
  }
  for (const ep of ['stream', 'download']) {
    const e = await errorOf(await get(`/api/calls/call_mine/recording/${ep}`, auth));
    t.same([e.status, e.code], [400, 'MISSING_ORGANIZATION'], `${ep} without org`);
    const bad = await errorOf(await get(`/api/calls/call_mine/recording/${ep}`, { ...auth, 'X-Organization-Id': '../org' }));
    t.same([bad.status, bad.code], [400, 'INVALID_ORGANIZATION'], `${ep} malformed org`);

    const theirs = await get(`/api/calls/call_theirs/recording/${ep}`);
    const missing = await get(`/api/calls/call_theirs2/recording/${ep}`);
    t.equal(theirs.status, 404);
    const [a, b] = [await theirs.json(), await missing.json()] as { error: { code: string; message: string } }[];
    t.equal(a!.error.code, 'CALL_NOT_FOUND');
    t.equal(a!.error.message.replace('call_theirs', 'SID'), b!.error.message.replace('call_theirs2', 'SID'),
      "another org's call reads exactly like a missing one");

    const gone = await errorOf(await get(`/api/calls/call_gone/recording/${ep}`));
    t.same([gone.status, gone.code], [404, 'RECORDING_NOT_FOUND'], `${ep} of a row whose file is gone`);
  }

  const routeless = await errorOf(await get('/api/nothing'));
  t.same([routeless.status, routeless.code], [404, 'ROUTE_NOT_FOUND']);
  const health = await fetch(`${d.url}/healthz`);
  t.equal(health.status, 200, 'still serving');
});

t.test('hostile to_number: the header stays valid and filename* carries non-ASCII', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const cases: [string, string, RegExp | null][] = [
    ['call_crlf', '+1555\r\nSet-Cookie: x=1', /^attachment; filename="recording_\+1555__Set-Cookie: x=1\.wav"$/],
    ['call_quote', '+1"555"\\', /^attachment; filename="recording_\+1_555__\.wav"$/],
    ['call_utf', '+1555 Zoë 東京', /filename\*=UTF-8''recording_%2B1555%20Zo%C3%AB%20%E6%9D%B1%E4%BA%AC\.wav/],
  ];
  for (const [sid, to, want] of cases) {
    await d.addCall({ org: ORG, sid, to, bytes: makeWav(0.1) });
    const res = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers: d.headers(ORG) });
    t.equal(res.status, 200, sid);
    const cd = res.headers.get('content-disposition')!;
    t.notMatch(cd, /[\r\n]/, `${sid}: no CR/LF`);
    t.match(cd, /^[\x20-\x7e]+$/, `${sid}: plain ASCII header`);
    t.match(cd, want!, `${sid}: ${cd}`);
    t.equal(res.headers.get('set-cookie'), null, 'no injected header');
    await res.arrayBuffer();
  }
  const utf = await fetch(`${d.url}/api/calls/call_utf/recording/stream`, { headers: d.headers(ORG) });
  const { data } = (await utf.json()) as { data: { filename: string; url: string } };
  t.equal(data.filename, 'recording_+1555 Zoë 東京.wav', 'the JSON keeps the real name');
  const media = await fetch(data.url, { method: 'HEAD' });
  t.match(media.headers.get('content-disposition'), /^inline; filename="recording_\+1555 Zo_ __\.wav"; filename\*=UTF-8''/);
});
