/**
 * The calls API, read side, through the real daemon: one call's metadata and the listing
 * (order, filters, keyset cursors across inserts, bad input), organization-scoped, for a `read`
 * key, with deleted calls hidden. And the cursor's checks on their own (src/calls/listing.ts).
 */
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';
import { decodeCursor, encodeCursor, parseListQuery } from '../src/calls/listing.js';

interface Listed {
  call_sid: string;
  to: string;
  from: string | null;
  started_at: string | null;
  [field: string]: unknown;
}

async function get(d: Daemon, org: string, path: string, headers = d.headers(org)) {
  const res = await fetch(`${d.url}${path}`, { headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** One page of the listing: its sids and its next cursor (asserting a 200). */
async function page(t: Test, d: Daemon, org: string, query: string) {
  const a = await get(d, org, `/api/calls${query}`);
  t.equal(a.status, 200, `GET /api/calls${query}`);
  const body = a.body as { success: boolean; data: Listed[]; next_cursor: string | null };
  return { sids: body.data.map((c) => c.call_sid), data: body.data, next: body.next_cursor };
}

/** Every sid of the listing `query`, following cursors `limit` at a time. */
async function all(t: Test, d: Daemon, org: string, query: string, limit: number) {
  const sids: string[] = [];
  let cursor: string | null = null;
  do {
    const sep = query ? '&' : '?';
    const p = await page(t, d, org, `${query}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    t.ok(p.sids.length <= limit);
    sids.push(...p.sids);
    cursor = p.next;
  } while (cursor);
  return sids;
}

const wav = makeWav(0.05);

// Registration order matters: ties and undated calls are listed newest-registered first.
const CALLS = [
  { org: 'org_a', sid: 'call_a1', to: '+15551000001', from: '201', startedAt: '2026-01-01T10:00:00Z' },
  { org: 'org_a', sid: 'call_a2', to: '+15551000002', from: '202', startedAt: '2026-01-01T12:00:00+02:00' }, // = a1's instant
  { org: 'org_a', sid: 'call_a3', to: '+15552000001', from: '201', startedAt: '2026-01-02T00:00:00.000Z' },
  { org: 'org_a', sid: 'call_a4', to: '+15551000003' },
  { org: 'org_b', sid: 'call_b1', to: '+15551000001', from: '201', startedAt: '2026-01-03T00:00:00Z' },
  { org: 'org_a', sid: 'call_a5', to: '+1555[*]9' },
  { org: 'org_a', sid: 'call_a6', to: '+15559000000', from: '201', startedAt: '2025-12-31T23:59:59.999Z' },
];

t.test('the calls API over HTTP', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '0' });
  t.teardown(d.stop);
  for (const c of CALLS) await d.addCall({ ...c, bytes: wav });
  d.headers('org_a');
  d.headers('org_b');
  t.same((await d.ctx.apiKeys.list()).map((k) => k.scope), ['read', 'read'], 'the requests below use read keys');

  t.test('one call: its metadata, never its storage key; other organizations’ calls are not found', async (t) => {
    const a = await get(d, 'org_a', '/api/calls/call_a1');
    t.equal(a.status, 200);
    t.equal(a.headers.get('cache-control'), 'private, no-store');
    const row = (await d.ctx.index.get('call_a1'))!;
    t.strictSame(a.body, {
      success: true,
      data: {
        call_sid: 'call_a1',
        to: '+15551000001',
        from: '201',
        started_at: '2026-01-01T10:00:00.000Z',
        duration_ms: 50,
        content_type: 'audio/wav',
        size_bytes: wav.length,
        sha256: createHash('sha256').update(wav).digest('hex'),
        created_at: row.created_at,
        legal_hold: false,
        legal_hold_at: null,
      },
    });
    t.notMatch(JSON.stringify(a.body), row.storage_key, 'no storage key');
    const undated = await get(d, 'org_a', '/api/calls/call_a4');
    t.match(undated.body, { data: { from: null, started_at: null } });

    const foreign = await get(d, 'org_a', '/api/calls/call_b1');
    const missing = await get(d, 'org_a', '/api/calls/call_b9');
    t.equal(foreign.status, 404);
    t.same(foreign.body, { success: false, error: { code: 'CALL_NOT_FOUND', message: 'no call call_b1 in this organization' } });
    t.same(missing.body, { success: false, error: { code: 'CALL_NOT_FOUND', message: 'no call call_b9 in this organization' } });
    t.match(await get(d, 'org_a', '/api/calls/nope'), { status: 400, body: { error: { code: 'INVALID_CALL_SID' } } });
    t.match(await get(d, 'org_a', '/api/calls/call_a1', { 'X-Organization-Id': 'org_a' }), { status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    t.match(await get(d, 'org_b', '/api/calls/call_b1', { ...d.headers('org_a'), 'X-Organization-Id': 'org_b' }), {
      status: 403,
      body: { error: { code: 'ORG_FORBIDDEN' } },
    });
  });

  t.test('the listing: newest started_at first, ties and undated calls newest-registered first, one organization', async (t) => {
    const p = await page(t, d, 'org_a', '');
    t.same(p.sids, ['call_a3', 'call_a2', 'call_a1', 'call_a6', 'call_a5', 'call_a4']);
    t.equal(p.next, null, 'one page holds them all');
    t.strictSame(p.data[2], (await get(d, 'org_a', '/api/calls/call_a1')).body.data, 'each entry is the call’s metadata');
    t.same((await page(t, d, 'org_b', '')).sids, ['call_b1']);
  });

  t.test('filters: exact or prefix to/from, since (inclusive) and until (exclusive)', async (t) => {
    const sids = async (q: string) => (await page(t, d, 'org_a', q)).sids;
    t.same(await sids('?to=%2B15551000001'), ['call_a1'], 'exact to');
    t.same(await sids('?to=%2B1555100'), [], 'without * a value is not a prefix');
    t.same(await sids('?to=%2B1555100*'), ['call_a2', 'call_a1', 'call_a4'], 'prefix to');
    t.same(await sids('?to=%2B1555%5B*'), ['call_a5'], 'a prefix’s [ and * are characters, not patterns');
    t.same(await sids('?to=%2B1555%5B*%5D9'), ['call_a5'], 'a * inside an exact value is a character');
    t.same(await sids('?to=*'), ['call_a3', 'call_a2', 'call_a1', 'call_a6', 'call_a5', 'call_a4'], 'an empty prefix matches every call');
    t.same(await sids('?from=201'), ['call_a3', 'call_a1', 'call_a6'], 'exact from');
    t.same(await sids('?from=20*'), ['call_a3', 'call_a2', 'call_a1', 'call_a6'], 'prefix from: calls with no from are left out');
    t.same(await sids('?since=2026-01-01T10:00:00Z'), ['call_a3', 'call_a2', 'call_a1'], 'since includes its instant, in any offset');
    t.same(await sids('?until=2026-01-01T12:00:00%2B02:00'), ['call_a6'], 'until excludes its instant');
    t.same(await sids('?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z&from=201'), ['call_a1'], 'filters combine');
  });

  t.test('bad input is a 400 naming the problem', async (t) => {
    for (const [query, code] of [
      ['?limit=0', 'INVALID_REQUEST'],
      ['?limit=1001', 'INVALID_REQUEST'],
      ['?limit=ten', 'INVALID_REQUEST'],
      ['?since=yesterday', 'INVALID_REQUEST'],
      ['?until=2026-13-01T00:00:00Z', 'INVALID_REQUEST'],
      ['?to=', 'INVALID_REQUEST'],
      ['?cursor=garbage', 'INVALID_CURSOR'],
    ] as const) {
      const a = await get(d, 'org_a', `/api/calls${query}`);
      t.equal(a.status, 400, query);
      t.match(a.body, { success: false, error: { code, message: String } }, query);
    }
    t.match((await get(d, 'org_a', '/api/calls?limit=0')).body, { error: { message: /limit/ } });
    t.match((await get(d, 'org_a', '/api/calls?since=x')).body, { error: { message: /since/ } });
    t.match(await get(d, 'org_a', '/api/calls'), { status: 200 }, 'the daemon serves afterwards');
  });

  t.test('cursors: altered, another organization’s or other filters’ are refused', async (t) => {
    const first = await page(t, d, 'org_a', '?limit=2');
    t.same(first.sids, ['call_a3', 'call_a2']);
    const cursor = first.next!;
    t.type(cursor, 'string');
    t.same((await page(t, d, 'org_a', `?limit=2&cursor=${encodeURIComponent(cursor)}`)).sids, ['call_a1', 'call_a6']);
    const refused = async (org: string, query: string, message: RegExp) => {
      const a = await get(d, org, `/api/calls${query}`);
      t.equal(a.status, 400, query);
      t.match(a.body, { success: false, error: { code: 'INVALID_CURSOR', message } }, query);
    };
    const flipped = cursor.slice(0, 5) + (cursor[5] === 'A' ? 'B' : 'A') + cursor.slice(6);
    await refused('org_a', `?cursor=${encodeURIComponent(flipped)}`, /altered/);
    await refused('org_a', `?cursor=${encodeURIComponent(cursor + 'x')}`, /altered/);
    await refused('org_b', `?cursor=${encodeURIComponent(cursor)}`, /another organization/);
    await refused('org_a', `?from=201&cursor=${encodeURIComponent(cursor)}`, /other filters/);
    const filtered = (await page(t, d, 'org_a', '?from=20*&limit=1')).next!;
    t.same((await page(t, d, 'org_a', `?from=20*&limit=1&cursor=${encodeURIComponent(filtered)}`)).sids, ['call_a2'], 'same filters: accepted');
    await refused('org_a', `?from=2*&limit=1&cursor=${encodeURIComponent(filtered)}`, /other filters/);
  });

  t.test('deleted calls are neither listed nor found', async (t) => {
    t.equal(await d.ctx.index.markDeleted('call_a2'), true);
    t.same((await page(t, d, 'org_a', '')).sids, ['call_a3', 'call_a1', 'call_a6', 'call_a5', 'call_a4']);
    t.same((await page(t, d, 'org_a', '?to=%2B15551000002')).sids, []);
    t.match(await get(d, 'org_a', '/api/calls/call_a2'), { status: 404, body: { error: { code: 'CALL_NOT_FOUND' } } });
  });
});

t.test('pagination stays stable while calls are added between pages', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '0' });
  t.teardown(d.stop);
  const minute = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
  const original: string[] = [];
  for (let i = 0; i < 20; i++) {
    // Pairs share a started_at (a tie), and every fifth call has none.
    const sid = `call_p${i}`;
    await d.addCall({ org: 'org_p', sid, to: `+1555${i}`, startedAt: i % 5 === 4 ? undefined : minute(Math.floor(i / 2)), bytes: wav });
    original.push(sid);
  }
  const expected = (await page(t, d, 'org_p', '?limit=1000')).sids;
  t.same([...expected].sort(), [...original].sort());

  const seen: string[] = [];
  let cursor: string | null = null;
  let n = 0;
  let lastStarted: string | null | undefined;
  do {
    const p = await page(t, d, 'org_p', `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    seen.push(...p.sids);
    lastStarted = p.data.at(-1)?.started_at;
    cursor = p.next;
    // Between pages: a newer call, an older one, one tied with the page's last, an undated one.
    const k = n++;
    await d.addCall({ org: 'org_p', sid: `call_new${k}`, to: '+1', startedAt: minute(100 + k), bytes: wav });
    await d.addCall({ org: 'org_p', sid: `call_old${k}`, to: '+1', startedAt: minute(-100 - k), bytes: wav });
    if (lastStarted) await d.addCall({ org: 'org_p', sid: `call_tie${k}`, to: '+1', startedAt: lastStarted, bytes: wav });
    await d.addCall({ org: 'org_p', sid: `call_und${k}`, to: '+1', bytes: wav });
  } while (cursor);

  t.equal(new Set(seen).size, seen.length, 'no call twice');
  t.same(seen.filter((s) => original.includes(s)), expected, 'every call there at the start, once, in order: no gaps');
  t.notOk(seen.some((s) => s.startsWith('call_new') || s.startsWith('call_tie')), 'calls sorting before the cursor are not shown late');
  t.ok(seen.some((s) => s.startsWith('call_old')) && seen.some((s) => s.startsWith('call_und')), 'calls sorting after it are');
  const full = await all(t, d, 'org_p', '', 1000);
  const order = full.filter((s) => seen.includes(s));
  t.same(seen, order, 'the pages, joined, are in the listing’s order');
});

t.test('listing rules and cursors outside HTTP', async (t) => {
  t.throws(() => parseListQuery('o', { limit: 0 }), { code: 'INVALID_REQUEST', message: /limit/ });
  t.throws(() => parseListQuery('o', { limit: 1.5 }), { code: 'INVALID_REQUEST' });
  t.throws(() => parseListQuery('o', { since: 'soon' }), { code: 'INVALID_REQUEST', message: /since/ });
  t.throws(() => parseListQuery('o', { until: 'later' }), { code: 'INVALID_REQUEST', message: /until/ });
  const q = parseListQuery('o', { to: '+1*', from: '2', since: '2026-01-01T00:00:00Z' });
  t.same(q.filter, { to: { prefix: '+1' }, from: { exact: '2' }, since: new Date('2026-01-01T00:00:00Z') });
  t.equal(q.limit, 100, 'default page size');
  t.equal(parseListQuery('o', { since: '2026-01-01T01:00:00+01:00', to: '+1*' }).digest, parseListQuery('o', { to: '+1*', since: '2026-01-01T00:00:00.000Z' }).digest, 'the same filters, however written');

  const c = encodeCursor('o', q.digest, { startedMs: null, seq: 7 });
  t.same(decodeCursor(c, 'o', q.digest), { startedMs: null, seq: 7 });
  t.same(parseListQuery('o', { to: '+1*', from: '2', since: '2026-01-01T00:00:00Z', cursor: c }).after, { startedMs: null, seq: 7 });
  // Payloads with a good checksum but a wrong shape: what only a forger could send.
  const forged = (payload: string) =>
    `${Buffer.from(payload).toString('base64url')}.${createHash('sha256').update(`recproxy listing cursor\n${payload}`).digest('base64url').slice(0, 16)}`;
  t.equal(decodeCursor(forged(JSON.stringify([1, 'o', 'd', 5, 6])), 'o', 'd').seq, 6, 'the forger’s checksum is the real one');
  t.throws(() => decodeCursor(forged('not json'), 'o', 'd'), { code: 'INVALID_CURSOR', message: /version/ });
  t.throws(() => decodeCursor(forged('[2,"o","d",1,1]'), 'o', 'd'), { code: 'INVALID_CURSOR', message: /version/ });
  t.throws(() => decodeCursor(forged('[1,"o","d","x",1]'), 'o', 'd'), { code: 'INVALID_CURSOR', message: /altered/ });
  t.throws(() => decodeCursor(forged('[1,"o","d",1,null]'), 'o', 'd'), { code: 'INVALID_CURSOR', message: /altered/ });
  t.throws(() => decodeCursor('', 'o', 'd'), { code: 'INVALID_CURSOR' });
  t.throws(() => decodeCursor('a.b.c', 'o', 'd'), { code: 'INVALID_CURSOR' });
});

t.test('one rate-limit bucket per credential across the calls and recording routes', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '3', RECPROXY_RATE_LIMIT_WINDOW_MS: '600000' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_r', sid: 'call_r1', to: '+1', bytes: wav });
  t.equal((await get(d, 'org_r', '/api/calls')).status, 200);
  t.equal((await get(d, 'org_r', '/api/calls/call_r1')).status, 200);
  t.equal((await get(d, 'org_r', '/api/calls/call_r1/recording/stream')).status, 200);
  const refused = await get(d, 'org_r', '/api/calls');
  t.match(refused, { status: 429, body: { error: { code: 'RATE_LIMITED' } } }, 'the fourth request, whichever route');
  t.ok(Number(refused.headers.get('retry-after')) > 0);
  t.equal((await get(d, 'org_r', '/api/calls/call_r1/recording/download')).status, 429);
});
