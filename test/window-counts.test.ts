/**
 * Counts in fixed windows (src/window-counts.ts) and the request rate limits built on them
 * (`limitRate`, src/routes/guard.ts): the headers every limited route answers with, and the 429
 * past the limit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { WindowCounts } from '../src/window-counts.js';
import { startDaemon } from './helpers/daemon.js';

t.test('WindowCounts: a count per key in one window, a new window once it ends', async (t) => {
  const limits = new WindowCounts(1000);
  t.ok(limits.empty);
  t.equal(limits.take('a', 5000), 1);
  t.equal(limits.msLeft(5000), 1000, 'the window starts with its first request');
  t.equal(limits.take('a', 5400), 2);
  t.equal(limits.take('b', 5500), 1, 'another key counts apart');
  t.equal(limits.take('a', 5999), 3, 'past a limit of 2: the caller refuses it');
  t.equal(limits.msLeft(5999), 1);
  t.equal(limits.take('a', 6000), 1, 'the window ended: counting starts again');
  t.equal(limits.msLeft(6000), 1000);
  t.equal(limits.take('b', 6001), 1, 'for every key');
  t.equal(limits.count('a', 6500), 1, 'count reads without counting');
  t.equal(limits.count('a', 6500), 1);
  t.equal(limits.msLeft(9000), 0, 'never below 0');
  t.equal(limits.count('a', 9000), 0, 'the window ended: nothing counted');
  t.ok(limits.empty, 'and nothing kept');
});

t.test('WindowCounts: past maxKeys in a window, further keys are not remembered; known keys are still counted', async (t) => {
  const limits = new WindowCounts(1000, 2);
  t.equal(limits.take('a', 0), 1);
  t.equal(limits.take('b', 0), 1);
  t.equal(limits.take('c', 0), 1);
  t.equal(limits.take('c', 0), 1, 'the third key is not remembered');
  t.equal(limits.take('a', 0), 2, 'a known key keeps counting');
  t.equal(limits.take('c', 1000), 1);
  t.equal(limits.take('c', 1000), 2, 'in a new window it is counted');
});

t.test('the API: limit, remaining and reset on every answer; 429 RATE_LIMITED with Retry-After past the limit; a new window', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '2', RECPROXY_RATE_LIMIT_WINDOW_MS: '2000' });
  t.teardown(d.stop);
  const get = async (org: string) => {
    const res = await fetch(`${d.url}/api/calls`, { headers: d.headers(org) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as { error?: { code: string; message: string } } };
  };
  const first = await get('org_l');
  t.equal(first.status, 200);
  t.equal(first.headers.get('x-ratelimit-limit'), '2');
  t.equal(first.headers.get('x-ratelimit-remaining'), '1');
  t.equal(first.headers.get('x-ratelimit-reset'), '2', 'whole seconds until the window ends');
  t.equal(first.headers.get('retry-after'), null, 'no Retry-After while under the limit');
  const second = await get('org_l');
  t.equal(second.status, 200);
  t.equal(second.headers.get('x-ratelimit-remaining'), '0');
  const third = await get('org_l');
  t.equal(third.status, 429);
  t.equal(third.body.error?.code, 'RATE_LIMITED');
  const wait = third.headers.get('retry-after');
  t.match(wait, /^[12]$/);
  t.equal(
    third.body.error?.message,
    wait === '1' ? 'too many requests; retry in 1 second' : 'too many requests; retry in 2 seconds',
    'the message gives the wait Retry-After gives, in words',
  );
  t.equal(third.headers.get('x-ratelimit-remaining'), '0');
  t.equal((await get('org_other')).status, 200, "another credential's bucket is its own");
  await sleep(2100);
  const again = await get('org_l');
  t.equal(again.status, 200, 'the next window admits it again');
  t.equal(again.headers.get('x-ratelimit-remaining'), '1');
});

t.test('a limit of 0 is no limit: no rate-limit headers', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '0' });
  t.teardown(d.stop);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${d.url}/api/calls`, { headers: d.headers('org_n') });
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-ratelimit-limit'), null);
    await res.arrayBuffer();
  }
});
