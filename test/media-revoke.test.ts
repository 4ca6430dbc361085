/**
 * Revoking an API key also stops the media URLs it was handed: 403 TOKEN_REVOKED from the next
 * request, whether the key was revoked by the daemon's own store or by another process (the
 * CLI) sharing the index. URLs of other principals play on.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { SqliteApiKeys } from '../src/stores/sqlite/api-keys.js';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const ORG = 'org_r';
const SID = 'call_rev1';

async function mediaUrl(d: Daemon, key: string): Promise<string> {
  const res = await fetch(`${d.url}/api/calls/${SID}/recording/stream`, { headers: { Authorization: `Bearer ${key}`, 'X-Organization-Id': ORG } });
  if (res.status !== 200) throw new Error(`stream URL: ${res.status}`);
  return ((await res.json()) as { data: { url: string } }).data.url;
}

async function answer(url: string, method = 'GET'): Promise<{ status: number; code?: string }> {
  const res = await fetch(url, { method });
  if (res.status === 403 && method === 'GET') return { status: 403, code: ((await res.json()) as { error: { code: string } }).error.code };
  await res.arrayBuffer();
  return { status: res.status };
}

t.test('a revoked API key: its media URLs are refused from the next request', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '0' });
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: SID, to: '+15550001111', bytes: makeWav(0.5) });
  const here = await d.ctx.apiKeys.create({ orgs: [ORG] });
  const there = await d.ctx.apiKeys.create({ orgs: [ORG] });
  const kept = await d.ctx.apiKeys.create({ orgs: [ORG] });
  const urls = { here: await mediaUrl(d, here.key), there: await mediaUrl(d, there.key), kept: await mediaUrl(d, kept.key) };
  for (const [who, url] of Object.entries(urls)) t.same(await answer(url), { status: 200 }, `${who}: plays before any revocation`);

  t.ok(await d.ctx.apiKeys.revoke(here.id));
  t.same(await answer(urls.here), { status: 403, code: 'TOKEN_REVOKED' }, 'revoked through the daemon’s own store');
  t.same(await answer(urls.here, 'HEAD'), { status: 403 }, 'HEAD too');

  // Another process (the CLI) revokes through its own connection to the same index.
  const other = new Database(d.ctx.config.dbPath);
  t.teardown(() => other.close());
  t.ok(await new SqliteApiKeys(other).revoke(there.id));
  t.same(await answer(urls.there), { status: 403, code: 'TOKEN_REVOKED' }, 'revoked by another connection');

  t.same(await answer(urls.kept), { status: 200 }, 'a live key’s URL still plays');

  let rows = await d.ctx.audit.query({ sid: SID });
  for (let i = 0; i < 200 && !rows.some((r) => r.status === 403); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    rows = await d.ctx.audit.query({ sid: SID });
  }
  t.ok(
    rows.some((r) => r.action === 'media' && r.status === 403 && r.principal === here.id && r.bytes === 0),
    'the refused read is audited under the revoked key',
  );
});

t.test('only API keys are revocable: other principals’ URLs play until they expire', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: ORG, sid: SID, to: '+15550001111', bytes: makeWav(0.5) });
  const revoked = await d.ctx.apiKeys.create({ orgs: [ORG] });
  await d.ctx.apiKeys.revoke(revoked.id);
  const key = (await d.ctx.index.get(SID))!.storage_key;
  const options = { expiresIn: 60, disposition: 'inline' as const, filename: 'r.wav', contentType: 'audio/wav' };
  const cases: [string, string | undefined, number][] = [
    ['a JWT subject', 'user-42@example.com', 200],
    ['a proxy user name shaped like a key id', 'johnsmith123', 200],
    ['no principal (an older token)', undefined, 200],
    ['the revoked key', revoked.id, 403],
  ];
  for (const [what, principal, status] of cases) {
    const { url } = d.ctx.mediaUrls.url(key, options, principal === undefined ? undefined : { org: ORG, sid: SID, principal });
    t.equal((await answer(url)).status, status, what);
  }
  t.equal(await d.ctx.apiKeys.isRevoked(revoked.id), true);
  t.equal(await d.ctx.apiKeys.isRevoked('user-42@example.com'), false);
});
