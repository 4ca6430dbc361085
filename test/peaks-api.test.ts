/**
 * GET /api/calls/{call_sid}/recording/peaks over HTTP on a real daemon, on local storage and on
 * S3 (s3rver): the values of generated tones, `points` and its bounds, what cannot be decoded
 * (422, still playable), the organization scope, and the cache: computed once (concurrent first
 * requests share one storage read), answered without storage afterwards, never for a deleted call
 * nor from peaks of other bytes.
 */
import t from 'tap';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { makeMp3 } from './helpers/mp3.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';
import { storageEnv } from './helpers/storage-env.js';
import { linearToAlaw, makeFormatWav, tone } from './helpers/wav-formats.js';
import { ALAW } from '../src/calls/peaks.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

const ORG = 'org_peaks';
const SR = 8000;
const TO = '+15550000000';

interface Peaks {
  version: number;
  channels: number;
  sample_rate: number;
  samples_per_pixel: number;
  bits: number;
  length: number;
  duration: number;
  data: number[];
}

const peaksUrl = (d: Daemon, sid: string, query = '') => `${d.url}/api/calls/${sid}/recording/peaks${query}`;
async function get(d: Daemon, sid: string, query = '', org = ORG) {
  const res = await fetch(peaksUrl(d, sid, query), { headers: d.headers(org) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Peaks & { error?: { code: string; message: string } } };
}
/** The distinct pairs of a body, as "min,max". */
const distinct = (data: number[]) => [...new Set(Array.from({ length: data.length / 2 }, (_, i) => `${data[i * 2]},${data[i * 2 + 1]}`))];

const tone16 = makeFormatWav({ frames: 60 * SR, sample: tone(16000, 1000, SR) });

t.test('local storage: tones of known amplitude, points, and what is refused', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const add = (sid: string, bytes: Buffer, org = ORG) => d.addCall({ org, sid, to: TO, bytes });
  await add('call_tone16', tone16);
  await add('call_tone8', makeFormatWav({ format: 'u8', frames: 10 * SR, sample: tone(16384, 1000, SR) }));
  await add('call_alaw', makeFormatWav({ format: 'alaw', frames: 10 * SR, sample: tone(16000, 1000, SR) }));
  await add('call_ulaw', makeFormatWav({ format: 'ulaw', frames: 10 * SR, sample: tone(16000, 1000, SR) }));
  await add('call_stereo', makeFormatWav({ channels: 2, sampleRate: 16000, frames: 10 * 16000, sample: (f, c) => tone(c === 0 ? 16000 : 8000, 1000, 16000)(f) }));
  await add('call_silence', makeFormatWav({ frames: 10 * SR, sample: () => 0 }));
  await add('call_mp3', makeMp3(2));
  await add('call_gsm', makeFormatWav({ format: { tag: 0x31, bits: 8 }, frames: 1000, sample: () => 0 }));
  await add('call_otherorg', tone16, 'org_else');

  const first = await get(d, 'call_tone16', '?points=200');
  t.equal(first.status, 200);
  t.equal(first.headers.get('cache-control'), 'private, max-age=86400');
  t.match(first.headers.get('content-type'), /^application\/json/);
  t.same(Object.keys(first.body), ['version', 'channels', 'sample_rate', 'samples_per_pixel', 'bits', 'length', 'duration', 'data'], 'audiowaveform’s fields, in its order');
  t.match(first.body, { version: 2, channels: 1, sample_rate: SR, samples_per_pixel: 2400, bits: 16, length: 200, duration: 60 });
  t.equal(first.body.data.length, 400);
  t.same(distinct(first.body.data), ['-16000,16000'], '16-bit tone at 16000: every pair exact');

  for (const [sid, expected] of [
    ['call_tone8', 16384],
    ['call_alaw', ALAW[linearToAlaw(16000)]!],
    ['call_stereo', 16000],
  ] as const) {
    const { status, body } = await get(d, sid, '?points=50');
    t.equal(status, 200, sid);
    t.same(distinct(body.data), [`${-expected},${expected}`], `${sid}: ±${expected}`);
  }
  const ulaw = await get(d, 'call_ulaw', '?points=50');
  t.equal(distinct(ulaw.body.data).length, 1, 'µ-law: one pair throughout');
  t.ok(Math.abs(ulaw.body.data[1]! - 16000) <= 512 && ulaw.body.data[0] === -ulaw.body.data[1]!, `µ-law: ±${ulaw.body.data[1]}, within a step of 16000`);
  t.match((await get(d, 'call_stereo', '?points=50')).body, { sample_rate: 16000, duration: 10 }, 'stereo 16 kHz: merged into one channel');
  const silence = await get(d, 'call_silence');
  t.equal(silence.body.length, 1000, 'points defaults to 1000');
  t.ok(silence.body.data.every((v) => v === 0), 'silence: zeros');

  for (const points of [1, 10000]) t.equal((await get(d, 'call_tone16', `?points=${points}`)).body.length, points, `points=${points}`);
  for (const bad of ['0', '10001', '-5', '1.5', 'abc', '', '1e9']) {
    const { status, body } = await get(d, 'call_tone16', `?points=${bad}`);
    t.equal(status, 400, `points=${bad}: 400`);
    t.equal(body.error?.code, 'INVALID_REQUEST', `points=${bad}: INVALID_REQUEST`);
    t.match(body.error?.message, /points/, 'the message names points');
  }
  t.equal((await get(d, 'call_tone16', '?points=5&points=6')).body.error?.code, 'INVALID_REQUEST', 'points twice');
  t.equal((await get(d, 'nope', '?points=0')).body.error?.code, 'INVALID_CALL_SID', 'a bad call_sid keeps its own code');
  const { 'X-Organization-Id': _org, ...keyOnly } = d.headers(ORG);
  const noOrg = await fetch(peaksUrl(d, 'call_tone16', '?points=10'), { headers: keyOnly });
  t.equal(((await noOrg.json()) as { error: { code: string } }).error.code, 'MISSING_ORGANIZATION', 'so does a missing organization header');

  const mp3 = await get(d, 'call_mp3');
  t.equal(mp3.status, 422);
  t.equal(mp3.body.error?.code, 'WAVEFORM_UNAVAILABLE');
  t.match(mp3.body.error?.message, /audio\/mpeg.*still plays/, 'says the content type, and that it still plays');
  const gsm = await get(d, 'call_gsm');
  t.equal(gsm.status, 422);
  t.match(gsm.body.error, { code: 'WAVEFORM_UNAVAILABLE', message: /0x0031 \(GSM 6\.10\).*still plays/ });
  t.match(await d.ctx.index.getPeaks('call_gsm'), { unavailable: /0x0031/, data: new Int16Array(0) }, 'the reason is cached: the header is not read again');
  const download = await fetch(`${d.url}/api/calls/call_gsm/recording/download`, { headers: d.headers(ORG) });
  t.equal(download.status, 200, 'and the download still answers');
  await download.arrayBuffer();

  const other = await get(d, 'call_otherorg');
  t.equal(other.status, 404);
  t.equal(other.body.error?.code, 'CALL_NOT_FOUND', 'another organization’s call is not found');
  t.equal((await get(d, 'call_nothere')).body.error?.code, 'CALL_NOT_FOUND');
  const anonymous = await fetch(peaksUrl(d, 'call_tone16'), { headers: { 'X-Organization-Id': ORG } });
  t.equal(anonymous.status, 401, 'a credential is needed');
  await anonymous.arrayBuffer();
  const forbidden = await fetch(peaksUrl(d, 'call_otherorg'), { headers: { ...d.headers(ORG), 'X-Organization-Id': 'org_else' } });
  t.equal(forbidden.status, 403, 'an organization the credential does not hold');
  await forbidden.arrayBuffer();
});

t.test('local storage: the cache answers without the bytes; deleted calls and other bytes never get stale peaks', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: 'call_cached', to: TO, bytes: tone16 });
  await d.addCall({ org: ORG, sid: 'call_gone', to: TO, bytes: tone16 });
  const call = (await d.ctx.index.get('call_cached'))!;

  const missing = await d.ctx.index.get('call_gone');
  await d.ctx.storage.delete(missing!.storage_key);
  const gone = await get(d, 'call_gone');
  t.equal(gone.status, 404);
  t.equal(gone.body.error?.code, 'RECORDING_NOT_FOUND', 'bytes missing before any peaks: as the download answers');

  const first = await get(d, 'call_cached', '?points=300');
  t.equal(first.status, 200);
  t.match(await d.ctx.index.getPeaks('call_cached'), { sha256: call.sha256, unavailable: null, sampleRate: SR, frames: 60 * SR }, 'cached with the sha256 of its bytes');
  await d.ctx.storage.delete(call.storage_key);
  const download = await fetch(`${d.url}/api/calls/call_cached/recording/download`, { headers: d.headers(ORG) });
  t.equal(download.status, 404, 'the bytes are gone');
  await download.arrayBuffer();
  const again = await get(d, 'call_cached', '?points=300');
  t.equal(again.status, 200, 'the peaks are answered from the cache');
  t.same(again.body, first.body, 'the same peaks');
  t.equal((await get(d, 'call_cached', '?points=7')).body.length, 7, 'any other width from the same cache');

  // Peaks of other bytes (another sha256) are not served: they are computed again.
  await d.addCall({ org: ORG, sid: 'call_fresh', to: TO, bytes: tone16 });
  const stale = { sha256: 'f'.repeat(64), unavailable: null, sampleRate: 1, frames: 2, data: Int16Array.from([1, 2, 3, 4]) };
  t.equal(await d.ctx.index.putPeaks('call_fresh', stale), true);
  const fresh = await get(d, 'call_fresh', '?points=10');
  t.match(fresh.body, { sample_rate: SR, length: 10, duration: 60 }, 'recomputed from the call’s bytes');
  t.same(distinct(fresh.body.data), ['-16000,16000']);

  await d.ctx.calls.deleteAnyCall('call_fresh');
  t.equal((await get(d, 'call_fresh')).body.error?.code, 'CALL_NOT_FOUND', 'a deleted call has no peaks');
  t.equal(await d.ctx.index.getPeaks('call_fresh'), undefined, 'and its tombstone keeps none');
  t.equal(await d.ctx.index.putPeaks('call_fresh', stale), false, 'nor takes new ones');
});

t.test('s3 (s3rver): computed once, by one storage read shared by concurrent first requests; then no storage request', async (t) => {
  const s3 = await startS3Server({ buckets: ['recordings'] });
  t.teardown(() => s3.stop());
  const d = await startDaemon(storageEnv('s3', 'proxy', s3));
  t.teardown(d.stop);
  const stereo = makeFormatWav({ channels: 2, frames: 30 * SR, sample: (_f, c) => (c === 0 ? 12000 : -7000), before: [{ id: 'LIST', body: Buffer.alloc(31) }] });
  await d.addCall({ org: ORG, sid: 'call_s3peaks', to: TO, bytes: stereo });
  await d.addCall({ org: ORG, sid: 'call_s3tone', to: TO, bytes: tone16 });

  const before = s3.requests().length;
  const answers = await Promise.all([get(d, 'call_s3peaks', '?points=100'), get(d, 'call_s3peaks', '?points=40'), get(d, 'call_s3peaks')]);
  const reads = s3.requests().slice(before);
  t.same(reads.map((r) => r.method), ['GET'], 'three concurrent first requests: one GET of the object');
  t.same(answers.map((a) => [a.status, a.body.length]), [[200, 100], [200, 40], [200, 1000]]);
  for (const a of answers) t.same(distinct(a.body.data), ['-7000,12000'], 'min from the right channel, max from the left');

  const after = s3.requests().length;
  t.equal((await get(d, 'call_s3peaks', '?points=100')).status, 200);
  t.equal(s3.requests().length, after, 'cached: no storage request');

  const toneAnswer = await get(d, 'call_s3tone', '?points=60');
  t.match(toneAnswer.body, { length: 60, duration: 60, samples_per_pixel: SR });
  t.same(distinct(toneAnswer.body.data), ['-16000,16000']);
  const other = await get(d, 'call_s3tone', '', 'org_else');
  t.equal(other.status, 404);
  t.equal(other.body.error?.code, 'CALL_NOT_FOUND');
});
