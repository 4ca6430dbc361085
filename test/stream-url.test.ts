import t from 'tap';
import { StreamUrlCache, issueStreamUrl } from '../src/stream-url.js';
import type { AppContext } from '../src/context.js';
import type { CallRow } from '../src/stores/types.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const call: CallRow = {
  call_sid: 'call_1', org_id: 'org_1', to_number: '+1555', from_number: null, started_at: null, duration_ms: null,
  storage_key: 'recordings/org_1/call_1.wav', content_type: 'audio/wav', size_bytes: 10, sha256: 'x', created_at: '', deleted_at: null,
};

/** A context whose storage counts stats and signatures: a real cache, a counting backend. */
const clock = { now: Date.now() };

function fakeContext(reuseSec: number, ttl = 3600) {
  const counts = { stat: 0, sign: 0 };
  const ctx = {
    config: { streamTtl: ttl, streamMode: 'presigned' },
    streamUrls: new StreamUrlCache(reuseSec * 1000),
    storage: {
      name: 's3',
      async stat() { counts.stat++; return { size: 10, etag: '"e"', lastModified: new Date() }; },
      async signedUrl(_key: string, o: { expiresIn: number }) {
        counts.sign++;
        // Like SigV4: the signing time counts from a whole second (of the test's clock).
        const signedAt = Math.floor(clock.now / 1000) * 1000;
        return { url: `https://s3.example/obj?sig=${counts.sign}`, expiresAt: new Date(signedAt + o.expiresIn * 1000) };
      },
    },
  } as unknown as AppContext;
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
