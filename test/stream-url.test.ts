import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAdapter } from '../adapters/local.js';
import { MediaUrls, PublicOrigin, defaultPublicUrl } from '../src/calls/media-urls.js';
import { CallsService } from '../src/calls/service.js';
import { StreamUrlCache, issueStreamUrl, type StreamUrlDeps } from '../src/calls/stream-url.js';
import { TokenSigner } from '../src/token.js';
import { isPromise } from '../src/core/awaitable.js';
import type { CallRow } from '../src/stores/types.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const call: CallRow = {
  call_sid: 'call_1', org_id: 'org_1', to_number: '+1555', from_number: null, started_at: null, duration_ms: null,
  storage_key: 'recordings/org_1/call_1.wav', content_type: 'audio/wav', size_bytes: 10, sha256: 'x', created_at: '', deleted_at: null, legal_hold_at: null,
};

/** What issuing uses, its storage counting stats and signatures: a real cache, a counting backend. */
const clock = { now: Date.now() };

function fakeContext(reuseSec: number, ttl = 3600) {
  const counts = { stat: 0, sign: 0 };
  const ctx = {
    streamTtl: ttl,
    streamMode: 'presigned',
    streamUrls: new StreamUrlCache(reuseSec * 1000),
    mediaUrls: { url: () => { throw new Error('a presigning storage needs no media URL'); } },
    storage: {
      name: 's3',
      presignedUrls: true,
      recordingsPrefix: 'recordings/',
      async stat() { counts.stat++; return { size: 10, etag: '"e"', lastModified: new Date() }; },
      async signedUrl(_key: string, o: { expiresIn: number }) {
        counts.sign++;
        // Like SigV4: the signing time counts from a whole second (of the test's clock).
        const signedAt = Math.floor(clock.now / 1000) * 1000;
        return { url: `https://s3.example/obj?sig=${counts.sign}`, expiresAt: new Date(signedAt + o.expiresIn * 1000) };
      },
    },
  } as unknown as StreamUrlDeps;
  return { ctx, counts };
}

t.test('a URL is reused, byte-identical, within its window, and its expires_in shrinks', async (t) => {
  const { ctx, counts } = fakeContext(60);
  const now = Math.floor(Date.now() / 1000) * 1000;
  clock.now = now;
  const first = await issueStreamUrl(ctx, call, 'key1', now);
  t.equal(first.expires_in, 3600);
  const later = await issueStreamUrl(ctx, call, 'key1', now + 30_000);
  t.equal(later.url, first.url, 'same URL 30 s later');
  t.equal(later.expires_in, 3570, 'expires_in is the remaining lifetime');
  t.same(counts, { stat: 1, sign: 1 }, 'no second storage check or signature');
  const edge = await issueStreamUrl(ctx, call, 'key1', now + 60_000);
  t.equal(edge.url, first.url, 'still reused at the edge of the window');
  clock.now = now + 60_001;
  const past = await issueStreamUrl(ctx, call, 'key1', now + 60_001);
  t.not(past.url, first.url, 'never reused past the margin');
  t.same(counts, { stat: 2, sign: 2 });
});

t.test('different principals and storage keys never share a URL; reuse 0 disables', async (t) => {
  const { ctx, counts } = fakeContext(60);
  const a = await issueStreamUrl(ctx, call, 'key1');
  const b = await issueStreamUrl(ctx, call, 'key2');
  const c = await issueStreamUrl(ctx, { ...call, storage_key: 'other.wav' }, 'key1');
  t.not(a.url, b.url);
  t.not(a.url, c.url);
  t.equal(counts.sign, 3);
  const off = fakeContext(0);
  await issueStreamUrl(off.ctx, call, 'key1');
  await issueStreamUrl(off.ctx, call, 'key1');
  t.equal(off.counts.sign, 2, 'reuse 0: a fresh URL every time');
  t.equal(off.ctx.streamUrls.size, 0);
});

t.test('the cache is bounded and drops expired entries', async (t) => {
  const cache = new StreamUrlCache(60_000, 3);
  const now = Date.now();
  for (const k of ['a', 'b', 'c', 'd']) cache.set(k, { url: k, issuedAt: now, expiresAt: now + 3_600_000 });
  t.equal(cache.size, 3);
  t.equal(cache.get('a', now), undefined, 'the oldest was evicted');
  t.equal(cache.get('d', now)?.url, 'd');
  cache.set('short', { url: 's', issuedAt: now, expiresAt: now + 1000 });
  t.equal(cache.get('short', now + 1000), undefined, 'never past its expiry');
});

/** The expiry a media URL's token names, in milliseconds. */
const expiryOf = (url: string) => JSON.parse(Buffer.from(url.slice(url.indexOf('/media/')).split('.')[1]!, 'base64url').toString('utf8')).e * 1000;

/** A daemon media URL maker (a real signer) counting its calls, and storage that cannot presign, counting stats. */
function mediaContext(reuseSec: number, ttl = 3600) {
  const counts = { stat: 0, url: 0, issued: 0 };
  const media = new MediaUrls(new TokenSigner([{ id: 'k1', secret: 'first-issue-secret' }]), new PublicOrigin('http://daemon.example', 'h', 1));
  const ctx: StreamUrlDeps = {
    streamTtl: ttl,
    streamMode: 'proxy',
    streamUrls: new StreamUrlCache(reuseSec * 1000),
    mediaUrls: { url: (...args: Parameters<MediaUrls['url']>) => (counts.url++, media.url(...args)) },
    onIssued: () => counts.issued++,
    storage: {
      name: 'local',
      presignedUrls: false,
      async stat() { counts.stat++; return { size: 10, etag: '"e"', lastModified: new Date() }; },
    } as unknown as StreamUrlDeps['storage'],
  };
  return { ctx, counts };
}

t.test('a media URL: its first issue kept as its times, made again byte-identical on the second request, then kept in full', async (t) => {
  const { ctx, counts } = mediaContext(60);
  const now = Date.now();
  const issuing = issueStreamUrl(ctx, call, 'key1', now);
  t.ok(isPromise(issuing), 'a first issue asks the storage: a promise');
  const first = await issuing;
  t.ok(first.url.startsWith('http://daemon.example/media/k1.'));
  t.equal(ctx.streamUrls.size, 1, 'the first issue is remembered');
  const made = issueStreamUrl(ctx, call, 'key1', now + 30_000);
  t.notOk(isPromise(made), 'made again at once: no storage call, no promise');
  const second = await made;
  t.equal(second.url, first.url, 'the same URL, byte for byte');
  t.equal(second.expires_in, Math.ceil((expiryOf(first.url) - now - 30_000) / 1000), 'its remaining lifetime');
  t.same(counts, { stat: 1, url: 2, issued: 1 }, 'made again without a storage check; not counted as a new URL');
  t.equal(ctx.streamUrls.size, 1, 'kept in full now, the first issue forgotten');
  const third = await issueStreamUrl(ctx, call, 'key1', now + 40_000);
  t.equal(third.url, first.url);
  t.same(counts, { stat: 1, url: 2, issued: 1 }, 'the third request signs nothing');

  t.notOk(isPromise(issueStreamUrl(ctx, call, 'key1', now + 40_000)), 'a URL kept is answered at once, without a promise');

  const other = { ...call, call_sid: 'call_2' };
  await issueStreamUrl(ctx, other, 'key1', now);
  await issueStreamUrl(ctx, other, 'key1', now + 60_001);
  t.same(counts, { stat: 3, url: 4, issued: 3 }, 'a first issue past the window: a new URL, checked again');

  const short = mediaContext(60, 10);
  const once = await issueStreamUrl(short.ctx, call, 'key1', now);
  await issueStreamUrl(short.ctx, call, 'key1', expiryOf(once.url));
  t.same(short.counts, { stat: 2, url: 2, issued: 2 }, 'never past its expiry');

  const off = mediaContext(0);
  await issueStreamUrl(off.ctx, call, 'key1', now);
  await issueStreamUrl(off.ctx, call, 'key1', now);
  t.same(off.counts, { stat: 2, url: 2, issued: 2 }, 'reuse 0: nothing remembered');
  t.equal(off.ctx.streamUrls.size, 0);
});

t.test('first issues: slots of a hash, a taken slot forgets the key before', async (t) => {
  const cache = new StreamUrlCache(60_000);
  const now = Date.now();
  t.equal(cache.takeFirst('never', now), undefined);
  for (let i = 0; i < 200_000; i++) cache.setFirst(`k${i}`, now, now + 3_600_000);
  t.ok(cache.size <= 1 << 16, `bounded (${cache.size})`);
  let kept = 0;
  for (let i = 0; i < 1000; i++) if (cache.takeFirst(`k${i}`, now)) kept++;
  t.ok(kept < 1000, `the oldest keys mostly forgotten (${kept} of 1,000 kept)`);
  t.same(cache.takeFirst('k199999', now + 1), { issuedAt: now, expiresAt: now + 3_600_000 }, 'the newest kept, with its times');
  t.equal(cache.takeFirst('k199999', now + 1), undefined, 'taken once');
});

t.test('through the daemon: the same media URL within the window', async (t) => {
  const d = await startDaemon({ RECPROXY_STREAM_URL_REUSE_SEC: '60' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_1', sid: 'call_reuse', to: '+1', bytes: makeWav(0.1) });
  const get = async () =>
    ((await (await fetch(`${d.url}/api/calls/call_reuse/recording/stream`, { headers: d.headers('org_1') })).json()) as {
      data: { url: string; expires_in: number };
    }).data;
  const [one, two] = [await get(), await get()];
  t.equal(two.url, one.url);
  t.ok(two.expires_in <= one.expires_in);
});

const signer = new TokenSigner([{ id: 'k1', secret: 'contract-test-secret' }]);
const SIGN = { expiresIn: 60, disposition: 'inline' as const, filename: 'a.wav', contentType: 'audio/wav' };

t.test('the daemon’s media URL is a media token naming the key (what local storage hands out)', async (t) => {
  const media = new MediaUrls(signer, new PublicOrigin('http://127.0.0.1:3000', '127.0.0.1', 3000));
  const before = Date.now();
  const signed = media.url('calls/a.wav', SIGN);
  const after = Date.now();
  t.type(signed.url, 'string');
  t.ok(new URL(signed.url), 'an absolute URL');
  t.ok(signed.url.startsWith('http://127.0.0.1:3000/media/'));
  const at = signed.expiresAt.getTime();
  t.ok(at >= before + SIGN.expiresIn * 1000 - 1000 && at <= after + SIGN.expiresIn * 1000, 'expiresAt = now + expiresIn');
  const token = new URL(signed.url).pathname.replace(/^\/media\//, '');
  const grant = signer.verify(token);
  t.equal(grant.key, 'calls/a.wav');
  t.equal(grant.exp * 1000, signed.expiresAt.getTime());
  t.equal(grant.principal, undefined, 'no audit fields unless given');
  const audited = signer.verify(new URL(media.url('k.wav', SIGN, { org: 'o', sid: 'call_1', principal: 'p' }).url).pathname.slice('/media/'.length));
  t.match(audited, { key: 'k.wav', org: 'o', sid: 'call_1', principal: 'p' });
  t.ok(new MediaUrls(signer, new PublicOrigin('https://rec.example/base/', 'h', 1)).url('k', SIGN).url.startsWith('https://rec.example/base/media/'), 'trailing slashes of the base dropped');
});

t.test('the public origin: configured, from HOST:PORT, or bound once the server listens (PORT=0)', async (t) => {
  t.equal(new PublicOrigin('https://rec.example', '0.0.0.0', 0).url, 'https://rec.example', 'configured: whatever the port');
  const fixed = new PublicOrigin(undefined, '0.0.0.0', 3000);
  t.equal(fixed.url, 'http://127.0.0.1:3000');
  fixed.listening(3000);
  t.equal(fixed.url, 'http://127.0.0.1:3000');
  const configured = new PublicOrigin('https://rec.example', '127.0.0.1', 0);
  configured.listening(4567);
  t.equal(configured.url, 'https://rec.example', 'a configured URL is kept when the server listens');
  const late = new PublicOrigin(undefined, '::', 0);
  t.throws(() => late.url, /not known before the server listens/, 'never a URL with port 0');
  late.listening(4567);
  t.equal(late.url, 'http://[::1]:4567');
  late.listening(9999);
  t.equal(late.url, 'http://[::1]:4567', 'bound once');
  t.equal(defaultPublicUrl('10.0.0.1', 80), 'http://10.0.0.1:80');
});

t.test('presigned mode with storage that cannot presign: the daemon’s media URL (a capability, not a name)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-stream-local-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const storage = new LocalAdapter({ root });
  await storage.write('org_1/call_1.wav', Buffer.from('RIFF'), { contentType: 'audio/wav' });
  const media = new MediaUrls(signer, new PublicOrigin('http://daemon.example', 'h', 1));
  const calls = new CallsService({
    index: { get: async () => undefined, find: async () => undefined, list: async () => [], insert: async () => { throw new Error('unused'); }, update: async () => undefined,
      markDeleted: async () => false, setHold: async () => undefined, expired: async () => [], getPeaks: async () => undefined, putPeaks: async () => false },
    storage,
    mediaUrls: media,
    streamTtl: 600,
    streamMode: 'presigned',
    streamUrlReuseSec: 60,
  });
  const url = await calls.streamUrl({ ...call, storage_key: 'org_1/call_1.wav' }, 'key1');
  t.ok(url.url.startsWith('http://daemon.example/media/'), url.url);
  t.equal(url.expires_in, 600);
  t.match(signer.verify(url.url.slice('http://daemon.example/media/'.length)), { key: 'org_1/call_1.wav', org: 'org_1', sid: 'call_1', principal: 'key1', disposition: 'inline' });
  t.equal(calls.streamUrls.size, 1, 'the service keeps the reuse window');
  await t.rejects(async () => calls.streamUrl({ ...call, storage_key: 'org_1/missing.wav' }, 'key1'), { code: 'OBJECT_NOT_FOUND' }, 'no URL to nothing');
});
