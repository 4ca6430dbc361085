import t from 'tap';
import { isPromise, whenReady } from '../src/core/awaitable.js';

t.test('isPromise: promises and thenables, not values', async (t) => {
  t.equal(isPromise(Promise.resolve(1)), true);
  t.equal(isPromise({ then: () => undefined } as unknown as Promise<number>), true, 'a thenable');
  for (const value of [0, 'then', null, undefined, {}, { then: 1 }]) t.equal(isPromise(value), false, JSON.stringify(value) ?? 'undefined');
});

t.test('whenReady: now for a value, after it settles for a promise', async (t) => {
  const now = whenReady(2, (n) => n * 3);
  t.equal(now, 6, 'a value in hand: the result itself, no promise');
  t.throws(() => whenReady(2, () => { throw new Error('refused'); }), /refused/, 'a throw of next is thrown at once');

  const order: string[] = [];
  const later = whenReady(Promise.resolve(2), (n) => { order.push('next'); return n * 3; });
  order.push('returned');
  t.ok(isPromise(later));
  t.equal(await later, 6);
  t.same(order, ['returned', 'next'], 'next runs once the promise settles');
  await t.rejects(whenReady(Promise.resolve(2), () => { throw new Error('refused'); }) as Promise<never>, /refused/, 'a throw of next rejects');
  await t.rejects(whenReady(Promise.reject(new Error('down')), () => 1) as Promise<number>, /down/, 'a rejection passes through');
  t.equal(await whenReady(2, (n) => Promise.resolve(n + 1)), 3, 'next may answer later itself');
});
