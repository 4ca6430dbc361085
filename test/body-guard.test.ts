import t from 'tap';
import { PassThrough } from 'node:stream';
import { guardBody } from '../adapters/body-guard.js';
import { settle } from './helpers/adapter-contract.js';

const IDLE_MS = 100;

t.test('a backend silent for the idle time fails the body with StorageUnavailable', async (t) => {
  const source = new PassThrough();
  const body = guardBody(source, 'S3', IDLE_MS);
  source.write(Buffer.alloc(10));
  const chunks: Buffer[] = [];
  body.on('data', (chunk: Buffer) => chunks.push(chunk));
  const { outcome, error } = await settle(body, 20 * IDLE_MS);
  t.equal(outcome, 'error');
  t.match(error, { code: 'STORAGE_UNAVAILABLE', message: /no data from S3 for 100 ms/ });
  t.equal(Buffer.concat(chunks).length, 10, 'the bytes sent before the silence were delivered');
  t.ok(source.destroyed, 'the backend stream is destroyed');
});

t.test('a chunk the consumer has not taken is not a stall', async (t) => {
  const source = new PassThrough();
  const body = guardBody(source, 'S3', IDLE_MS);
  source.write(Buffer.alloc(10));
  await new Promise((resolve) => setTimeout(resolve, 5 * IDLE_MS));
  t.notOk(body.destroyed, 'still open after 5× the idle time with a chunk waiting');
  source.end(Buffer.alloc(5));
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  t.equal(Buffer.concat(chunks).length, 15, 'every byte');
});

t.test('the idle timer fires while this clock says the backend was not yet idle long enough: it watches again', async (t) => {
  // The timer's clock (the event loop's, read at the start of an iteration) and performance.now()
  // disagree by a few ms on a busy process. Here performance.now() lags by 60% of the idle time,
  // so when the timer first fires the body has not been idle long enough by the guard's clock.
  const realNow = performance.now.bind(performance);
  const source = new PassThrough();
  const body = guardBody(source, 'S3', IDLE_MS);
  body.on('data', () => undefined);
  source.write(Buffer.alloc(10));
  await new Promise((resolve) => setImmediate(resolve));
  performance.now = () => realNow() - 0.6 * IDLE_MS;
  t.teardown(() => {
    performance.now = realNow;
  });
  const { outcome, error } = await settle(body, 20 * IDLE_MS);
  t.equal(outcome, 'error');
  t.match(error, { code: 'STORAGE_UNAVAILABLE' }, 'the silent backend still fails the body');
});

t.test('an abort destroys the backend and fails the body with its reason', async (t) => {
  const source = new PassThrough();
  const ac = new AbortController();
  const body = guardBody(source, 'S3', IDLE_MS, ac.signal);
  const reason = new Error('client went away');
  const settled = settle(body, 20 * IDLE_MS);
  ac.abort(reason);
  t.equal((await settled).error, reason);
  t.ok(source.destroyed);
});
