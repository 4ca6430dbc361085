/**
 * RECPROXY_TRUST_PROXY: when X-Forwarded-For is believed, over real HTTP from loopback. The
 * forwarded addresses are only header text (documentation ranges); every request goes to the
 * daemon on 127.0.0.1.
 */
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config/load.js';
import { parseTrustProxy } from '../config/schema.js';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { send } from './helpers/http.js';
import { runCli } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

const A = '203.0.113.7';
const B = '198.51.100.9';

t.test('RECPROXY_TRUST_PROXY: a hop count or IPs/CIDRs, nothing else', async (t) => {
  t.equal(parseTrustProxy('1'), 1);
  t.equal(parseTrustProxy('2'), 2);
  t.same(parseTrustProxy('127.0.0.1'), ['127.0.0.1']);
  t.same(parseTrustProxy('10.0.0.0/8, ::1,fd00::/8'), ['10.0.0.0/8', '::1', 'fd00::/8']);
  t.equal(loadConfig({ RECPROXY_TRUST_PROXY: '10.1.2.3/32' }).trustProxy, '10.1.2.3/32');
  t.equal(loadConfig({}).trustProxy, undefined, 'off by default');
  for (const bad of ['true', 'false', '0', '-1', '1.5', '100', '10.0.0.0/33', '::1/129', '10.0.0.0/8/1', '1.2.3', 'proxy', '10.0.0.1,', 'loopback', '10.0.0.0/08']) {
    t.throws(
      () => loadConfig({ RECPROXY_TRUST_PROXY: bad }),
      { message: new RegExp(`^invalid configuration:\\nRECPROXY_TRUST_PROXY: must be a hop count .*\\(got "${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"\\)$`) },
      `${bad} is refused in one line naming the variable`,
    );
  }
  const r = await runCli(['serve'], { env: { PORT: '0', RECPROXY_TRUST_PROXY: 'true' } });
  t.equal(r.code, 1, 'serve does not start');
  t.match(r.stderr, /^RECPROXY_TRUST_PROXY: must be a hop count \(an integer from 1 to 99\) or comma-separated IP addresses or CIDRs \(not true or false\) \(got "true"\)$/m);
});

/** A daemon whose media reads are limited to 2 per address, and a media URL of one call. */
async function mediaDaemon(t: Test, trust?: string): Promise<{ d: Daemon; media: string }> {
  const d = await startDaemon({ RECPROXY_MEDIA_RATE_LIMIT_MAX: '2', RECPROXY_RATE_LIMIT_WINDOW_MS: '600000', ...(trust ? { RECPROXY_TRUST_PROXY: trust } : {}) });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_p1', to: '+15550000001', bytes: makeWav(1) });
  const stream = await fetch(`${d.url}/api/calls/call_p1/recording/stream`, { headers: d.headers('org_a') });
  const media = new URL(((await stream.json()) as { data: { url: string } }).data.url);
  return { d, media: media.pathname };
}

const read = (d: Daemon, path: string, from?: string) => send(d.url, 'HEAD', path, from ? { 'X-Forwarded-For': from } : {});
/** The clients of the media rows, once `n` are written (rows are recorded as responses close). */
async function clients(d: Daemon, n: number): Promise<(string | null)[]> {
  const media = async () => (await d.ctx.audit.query({ order: 'asc' })).filter((r) => r.action === 'media');
  let rows = await media();
  for (let i = 0; i < 250 && rows.length < n; i++) {
    await sleep(20);
    rows = await media();
  }
  return rows.map((r) => r.client);
}

for (const [name, trust] of [['the proxy listed by address', '127.0.0.1'], ['a CIDR', '127.0.0.0/8, 10.0.0.0/8'], ['a hop count', '1']] as const) {
  t.test(`trusted (${name}): each forwarded address has its own bucket and is the audit's client`, async (t) => {
    const { d, media } = await mediaDaemon(t, trust);
    t.equal((await read(d, media, A)).status, 200);
    t.equal((await read(d, media, `192.0.2.50, ${A}`)).status, 200, 'the entry the proxy added is the client');
    const third = await read(d, media, A);
    t.equal(third.status, 429, `the third read from ${A} is limited`);
    t.match(third.headers['retry-after'], /^[1-9]\d*$/);
    t.equal((await read(d, media, B)).status, 200, `${B} has a bucket of its own`);
    t.same(await clients(d, 3), [A, A, B], 'the audit records the forwarded addresses');
  });
}

for (const [name, trust] of [['unset', undefined], ['a CIDR that is not the peer', '10.0.0.0/8']] as const) {
  t.test(`untrusted (${name}): X-Forwarded-For is ignored, the peer is the client`, async (t) => {
    const { d, media } = await mediaDaemon(t, trust);
    t.equal((await read(d, media, A)).status, 200);
    t.equal((await read(d, media, B)).status, 200);
    t.equal((await read(d, media, `${B}, 192.0.2.1`)).status, 429, 'one bucket whatever the header says');
    t.same(await clients(d, 2), ['127.0.0.1', '127.0.0.1'], 'the audit records the peer');
  });
}

t.test('a hop count beyond loopback is warned about at start; a list of proxies is not', async (t) => {
  const { startupAdvice } = await import('../src/startup-advice.js');
  const warnings = (config: object) => {
    const said: string[] = [];
    const ctx = { config: { authMode: 'jwt', ...config }, apiKeys: { count: () => 1 }, index: { created: false } } as never;
    startupAdvice(ctx, { warn: (m: string) => said.push(m) } as never);
    return said;
  };
  t.match(warnings({ host: '0.0.0.0', trustProxy: '1' }), [/RECPROXY_TRUST_PROXY is a hop count while listening on 0\.0\.0\.0/]);
  t.same(warnings({ host: '127.0.0.1', trustProxy: '1' }), [], 'on loopback only local processes connect');
  t.same(warnings({ host: '0.0.0.0', trustProxy: '10.0.0.5' }), [], 'listed proxies are checked by address');
});
