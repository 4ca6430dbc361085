/** src/core/byte-range.ts: the Range header of a backend request and the Content-Range of its 206. */
import t from 'tap';
import { bodySpan, parseContentRange, rangeHeader, sameRange } from '../src/core/byte-range.js';

t.test('rangeHeader: a resolved range or a hint on the wire', async (t) => {
  t.equal(rangeHeader(undefined), undefined, 'the whole object: no header');
  t.equal(rangeHeader('whole'), undefined);
  t.equal(rangeHeader({ start: 0, end: 0 }), 'bytes=0-0');
  t.equal(rangeHeader({ start: 10, end: 19 }), 'bytes=10-19');
  t.equal(rangeHeader({ start: 10 }), 'bytes=10-');
  t.equal(rangeHeader({ suffix: 500 }), 'bytes=-500');
  t.equal(rangeHeader({ suffix: 0 }), 'bytes=-0');
});

t.test('parseContentRange', async (t) => {
  t.same(parseContentRange('bytes 0-9/10'), { start: 0, end: 9, size: 10 });
  t.same(parseContentRange('bytes 5-5/6'), { start: 5, end: 5, size: 6 });
  for (const bad of [undefined, '', 'bytes */10', 'bytes 0-9/*', 'bytes 9-0/10', 'bytes 0-10/10', 'bytes 0--1/0', 'items 0-9/10', 'bytes 0-9/10 ', 'bytes=0-9/10', 'bytes -9/10']) {
    t.equal(parseContentRange(bad), undefined, `${JSON.stringify(bad)}: not a satisfied range`);
  }
});

t.test('bodySpan: what a 2xx body holds', async (t) => {
  t.same(bodySpan(200, 10, undefined), { start: 0, end: 9, size: 10 }, '200: the whole object');
  t.equal(bodySpan(200, 0, undefined), null, '200 of an empty object: no bytes');
  t.same(bodySpan(206, 10, 'bytes 10-19/100'), { start: 10, end: 19, size: 100 });
  t.equal(bodySpan(206, 0, 'bytes 0--1/0'), null, "MinIO's suffix on an empty object");
  t.equal(bodySpan(206, 11, 'bytes 10-19/100'), undefined, 'Content-Length disagrees');
  t.equal(bodySpan(206, 10, undefined), undefined, 'no Content-Range');
  t.equal(bodySpan(206, 10, 'bytes */100'), undefined);
});

t.test('sameRange', async (t) => {
  t.ok(sameRange(null, null));
  t.ok(sameRange({ start: 1, end: 2 }, { start: 1, end: 2 }));
  t.notOk(sameRange({ start: 1, end: 2 }, { start: 1, end: 3 }));
  t.notOk(sameRange(null, { start: 0, end: 0 }));
  t.notOk(sameRange({ start: 0, end: 0 }, null));
});
