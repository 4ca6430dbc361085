/**
 * Load shedding (src/server.ts `shedLoad`, @fastify/under-pressure): past the heap limit every
 * request but health, readiness and metrics gets 503 SERVER_BUSY with Retry-After, in the JSON
 * envelope, at once; those three are still answered.
 */
import t from 'tap';
import { SHED_RETRY_AFTER_S } from '../src/server.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

t.test('over the heap limit: 503 SERVER_BUSY with Retry-After; health, readiness and metrics answered', async (t) => {
  // A 1 MiB heap limit: any Node process is over it, so every sample says "under pressure".
  const d = await startDaemon({ RECPROXY_MAX_HEAP_USED_MB: '1' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_p', sid: 'call_p1', to: '+15550000001', bytes: makeWav(0.1) });
  const download = () => fetch(`${d.url}/api/calls/call_p1/recording/download`, { headers: d.headers('org_p') });
  // The first sample is taken a second after start.
  let res = await download();
  for (let i = 0; i < 100 && res.status !== 503; i++) {
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 100));
    res = await download();
  }
  t.equal(res.status, 503);
  t.equal(res.headers.get('retry-after'), String(SHED_RETRY_AFTER_S));
  t.match(await res.json(), { success: false, error: { code: 'SERVER_BUSY', message: 'the server is too busy to answer now; retry after the Retry-After seconds' } });
  for (const path of ['/healthz', '/readyz', '/metrics']) t.equal((await fetch(`${d.url}${path}`)).status, 200, `${path} still answered`);
  const media = await fetch(`${d.url}/media/anything`);
  t.equal(media.status, 503, 'media reads are shed too');
});

t.test('under the limits: nothing is shed', async (t) => {
  const d = await startDaemon({ RECPROXY_MAX_EVENT_LOOP_DELAY_MS: '0', RECPROXY_MAX_HEAP_USED_MB: '0' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_p', sid: 'call_p2', to: '+15550000001', bytes: makeWav(0.1) });
  await new Promise((r) => setTimeout(r, 1500));
  t.equal((await fetch(`${d.url}/api/calls/call_p2/recording/download`, { headers: d.headers('org_p') })).status, 200);
});
