/**
 * Tenant isolation through the real daemon: two organizations with interleaved call_sids.
 * No request authenticated for one organization ever gets bytes, metadata, a URL or a
 * distinguishable error for the other's calls; a revoked key is refused from the next request.
 */
import t from 'tap';
import { startDaemon } from './helpers/daemon.js';
import { send, type Answer } from './helpers/http.js';
import { makeWav } from './helpers/wav.js';

const N = 10;
const ORGS = ['org_a', 'org_b'] as const;
type Org = (typeof ORGS)[number];

interface Call {
  org: Org;
  sid: string;
  /** A sid of the same length that no organization has. */
  missing: string;
  to: string;
  bytes: Buffer;
}



/** Everything a client can observe, with the sid replaced by a placeholder and Date dropped. */
function observable(a: Answer, sid: string) {
  const headers = Object.fromEntries(
    Object.entries(a.headers)
      // The date and the request's own id differ between any two answers.
      .filter(([k]) => k !== 'date' && k !== 'x-request-id')
      .map(([k, v]) => [k, String(v).split(sid).join('<SID>')]),
  );
  return { status: a.status, headers, body: a.body.toString('latin1').split(sid).join('<SID>') };
}

/** Distinct bytes per call: a short WAV followed by a marker naming the call. */
const bytesFor = (sid: string, i: number) => Buffer.concat([makeWav(0.05 + i / 1000), Buffer.from(`MARKER-${sid}-END`)]);

t.test('two organizations with interleaved call_sids', async (t) => {
  // Rate limiting off: x-ratelimit-remaining would differ between any two answers.
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '0' });
  t.teardown(d.stop);

  const calls: Call[] = [];
  for (let i = 1; i <= N; i++) {
    for (const org of ORGS) {
      const letter = org.slice(-1);
      const sid = `call_${letter}${i}`;
      const call: Call = { org, sid, missing: `call_n${i}`, to: `+1555${letter === 'a' ? 1 : 2}00000${String(i).padStart(2, '0')}`, bytes: bytesFor(sid, i) };
      await d.addCall({ org, sid, to: call.to, bytes: call.bytes });
      calls.push(call);
    }
  }
  t.same(calls.slice(0, 4).map((c) => c.sid), ['call_a1', 'call_b1', 'call_a2', 'call_b2'], 'registered interleaved');

  const S = (sid: string) => `/api/calls/${sid}/recording/stream`;
  const DL = (sid: string) => `/api/calls/${sid}/recording/download`;
  const variants: [string, string, (sid: string) => string, Record<string, string>][] = [
    ['stream', 'GET', S, {}],
    ['download GET', 'GET', DL, {}],
    ['download HEAD', 'HEAD', DL, {}],
    ['download GET Range', 'GET', DL, { Range: 'bytes=0-9' }],
    ['download HEAD Range', 'HEAD', DL, { Range: 'bytes=0-9' }],
    ['download GET suffix Range', 'GET', DL, { Range: 'bytes=-20' }],
  ];

  await t.test('each key reads its own calls (the test is not vacuous)', async (t) => {
    for (const call of calls) {
      const h = d.headers(call.org);
      const dl = await send(d.url, 'GET', DL(call.sid), h);
      t.ok(dl.status === 200 && dl.body.equals(call.bytes), `${call.org} downloads ${call.sid}`);
      const st = await send(d.url, 'GET', S(call.sid), h);
      const { data } = JSON.parse(st.body.toString()) as { data: { url: string; filename: string } };
      t.equal(data.filename, `recording_${call.to}.wav`);
      const media = await fetch(data.url);
      t.ok(Buffer.from(await media.arrayBuffer()).equals(call.bytes), `${call.sid}: its media URL serves its bytes`);
    }
  });

  await t.test("another organization's call answers exactly like a call that does not exist", async (t) => {
    let compared = 0;
    for (const caller of ORGS) {
      const h = d.headers(caller);
      for (const call of calls.filter((c) => c.org !== caller)) {
        for (const [what, method, path, extra] of variants) {
          const foreign = await send(d.url, method, path(call.sid), { ...h, ...extra });
          const missing = await send(d.url, method, path(call.missing), { ...h, ...extra });
          t.same(observable(foreign, call.sid), observable(missing, call.missing), `${caller} → ${call.sid}, ${what}: same as a missing call`);
          t.equal(foreign.status, 404, `${caller} → ${call.sid}, ${what}: 404`);
          const text = foreign.body.toString('latin1') + JSON.stringify(foreign.headers);
          const leaks = [call.to, `recording_`, '/media/', `MARKER-${call.sid}`, call.org].filter((s) => text.includes(s));
          t.same(leaks, [], `${caller} → ${call.sid}, ${what}: no number, filename, URL, bytes or org`);
          t.notOk(foreign.body.includes(call.bytes.subarray(44, 64)), 'no audio bytes');
          compared++;
        }
      }
    }
    t.equal(compared, 2 * N * variants.length);

    // A key holding both organizations still sees a call only under its own organization.
    const both = (await d.ctx.apiKeys.create({ orgs: ['org_a', 'org_b'] })).key;
    for (const [what, method, path, extra] of variants) {
      const h = { Authorization: `Bearer ${both}`, 'X-Organization-Id': 'org_a', ...extra };
      const foreign = await send(d.url, method, path('call_b4'), h);
      const missing = await send(d.url, method, path('call_n4'), h);
      t.same(observable(foreign, 'call_b4'), observable(missing, 'call_n4'), `two-org key naming org_a → call_b4, ${what}: same as missing`);
    }
  });

  await t.test('naming an organization the key does not hold is 403, whatever the call', async (t) => {
    const keyA = d.headers('org_a').Authorization!;
    const asB = { Authorization: keyA, 'X-Organization-Id': 'org_b' };
    for (const [what, method, path, extra] of variants) {
      const answers = await Promise.all(
        ['call_b1', 'call_a1', 'call_n1'].map((sid) => send(d.url, method, path(sid), { ...asB, ...extra })),
      );
      const seen = answers.map((a, i) => observable(a, ['call_b1', 'call_a1', 'call_n1'][i]!));
      t.equal(answers[0]!.status, 403, `${what}: 403`);
      if (method === 'GET') t.equal(JSON.parse(answers[0]!.body.toString()).error.code, 'ORG_FORBIDDEN');
      t.same(seen[1], seen[0], `${what}: an org_a call (named under org_b) answers the same`);
      t.same(seen[2], seen[0], `${what}: a missing call answers the same`);
      // The body must not even depend on the sid.
      t.ok(answers[0]!.body.equals(answers[2]!.body), `${what}: byte-identical bodies`);
    }
  });

  await t.test('media URLs are capabilities; URLs cannot be minted across organizations', async (t) => {
    const st = await send(d.url, 'GET', S('call_a3'), d.headers('org_a'));
    const { url } = (JSON.parse(st.body.toString()) as { data: { url: string } }).data;
    const path = new URL(url).pathname;
    const replay = await send(d.url, 'GET', path, d.headers('org_b'));
    t.comment("an org_a media URL fetched with org_b's headers still plays: the token is the capability, headers are ignored (README: 'The token is the capability: no header needed')");
    t.equal(replay.status, 200);
    t.ok(replay.body.equals(calls.find((c) => c.sid === 'call_a3')!.bytes), 'the bytes of the call the URL was issued for');

    const mint = await send(d.url, 'GET', S('call_b3'), d.headers('org_a'));
    t.equal(mint.status, 404, "an org_a key gets no URL for org_b's call");
    t.notOk(mint.body.toString().includes('/media/'), 'no URL in the answer');
    const mintAs = await send(d.url, 'GET', S('call_b3'), { Authorization: d.headers('org_a').Authorization!, 'X-Organization-Id': 'org_b' });
    t.equal(mintAs.status, 403, "nor by naming org_b");
    t.notOk(mintAs.body.toString().includes('/media/'));
  });

  await t.test('revoking a key takes effect on the next request', async (t) => {
    const created = await d.ctx.apiKeys.create({ orgs: ['org_a'], label: 'to revoke' });
    const h = { Authorization: `Bearer ${created.key}`, 'X-Organization-Id': 'org_a' };
    const before = await send(d.url, 'GET', S('call_a1'), h);
    t.equal(before.status, 200, 'works before');
    const { url } = (JSON.parse(before.body.toString()) as { data: { url: string } }).data;
    t.equal((await send(d.url, 'GET', DL('call_a1'), h)).status, 200, 'download works before');

    t.equal(await d.ctx.apiKeys.revoke(created.id), true);
    for (const [what, method, path] of [['stream', 'GET', S('call_a1')], ['download', 'GET', DL('call_a1')], ['download HEAD', 'HEAD', DL('call_a1')], ['audit', 'GET', '/api/audit']] as const) {
      const after = await send(d.url, method, path, h);
      t.equal(after.status, 401, `${what}: the very next request is 401`);
      if (method === 'GET') t.equal(JSON.parse(after.body.toString()).error.code, 'UNAUTHORIZED');
    }
    t.comment('a media URL issued to the key before the revocation is refused too');
    t.equal((await fetch(url, { method: 'HEAD' })).status, 403);
    const media = await fetch(url);
    t.equal(media.status, 403);
    t.equal(((await media.json()) as { error: { code: string } }).error.code, 'TOKEN_REVOKED');
    const other = await send(d.url, 'GET', S('call_a1'), d.headers('org_a'));
    t.equal(other.status, 200, "the organization's other keys are unaffected");
  });
});
