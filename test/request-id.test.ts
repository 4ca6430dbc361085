/**
 * Request ids (src/server.ts `requestId`): every response carries X-Request-Id, the request's
 * own when well formed, a new UUID otherwise, and the request's log lines carry the same id.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { loggerOptions } from '../src/redact.js';
import { startDaemon } from './helpers/daemon.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('X-Request-Id: kept when well formed, made otherwise, on every answer and in the log', async (t) => {
  const lines: string[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
  const d = await startDaemon({ RECPROXY_LOG_LEVEL: 'debug' }, { logger: { ...loggerOptions('debug'), stream } });
  t.teardown(d.stop);
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${d.url}${path}`, { headers });

  const kept = await get('/healthz', { 'X-Request-Id': 'lb-7f3a.01:9_x' });
  t.equal(kept.headers.get('x-request-id'), 'lb-7f3a.01:9_x', 'a well-formed id is kept');
  const made = await get('/healthz');
  t.match(made.headers.get('x-request-id'), UUID, 'none given: a UUID');
  const other = await get('/healthz');
  t.not(other.headers.get('x-request-id'), made.headers.get('x-request-id'), 'a new one each time');
  for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '']) {
    const res = await get('/healthz', { 'X-Request-Id': bad });
    t.match(res.headers.get('x-request-id'), UUID, `refused and replaced: ${JSON.stringify(bad.slice(0, 20))}`);
  }
  const two = await fetch(`${d.url}/healthz`, { headers: [['X-Request-Id', 'a'], ['X-Request-Id', 'b']] });
  t.match(two.headers.get('x-request-id'), UUID, 'two ids (joined "a, b"): replaced');

  const denied = await get('/api/calls/call_x1', { 'X-Request-Id': 'req-denied-1', 'X-Organization-Id': 'org_a' });
  t.equal(denied.status, 401);
  t.equal(denied.headers.get('x-request-id'), 'req-denied-1', 'errors carry it too');
  const missing = await get('/no/such/route', { 'X-Request-Id': 'req-404-1' });
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('x-request-id'), 'req-404-1', 'and a 404 of the router');

  const logged = lines.map((l) => JSON.parse(l) as { reqId?: string });
  t.ok(logged.some((l) => l.reqId === 'lb-7f3a.01:9_x'), 'the log lines of a request carry its id');
  t.ok(logged.some((l) => l.reqId === 'req-denied-1'));
});
