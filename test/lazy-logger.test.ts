/**
 * The per-request logger (src/server.ts `LazyChildLogger`): no pino child is made for a request
 * that writes no line; the first line makes it, bound to the request's id, with the redaction of
 * src/redact.ts, and every later line uses the same child.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { LazyChildLogger } from '../src/server.js';
import { loggerOptions } from '../src/redact.js';

function counted(): { parent: FastifyBaseLogger; lines: Record<string, unknown>[]; children: () => number } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) });
  const real = pino({ ...loggerOptions('info') }, stream) as unknown as FastifyBaseLogger;
  let made = 0;
  // Only `child` is used of the parent: counted here.
  const parent = { child: (bindings: Record<string, unknown>, options?: object) => (made++, real.child(bindings, options)) } as unknown as FastifyBaseLogger;
  return { parent, lines, children: () => made };
}

t.test('no line, no child; the first line makes one, bound to the id, and it is kept', async (t) => {
  const { parent, lines, children } = counted();
  const quiet = new LazyChildLogger(parent, { reqId: 'r-1' }, {});
  quiet.debug('below the level');
  t.equal(children(), 1, 'a call at a level below the logger\'s still asks the child (pino decides)');
  const log = new LazyChildLogger(parent, { reqId: 'r-2' }, {});
  t.equal(children(), 1, 'made, not yet used: no child');
  log.info({ headers: { authorization: 'Bearer secret-value' } }, 'first');
  log.warn('second %s', 'formatted');
  t.equal(children(), 2, 'one child for both lines');
  t.equal(lines.length, 2);
  t.equal(lines[0]!.reqId, 'r-2');
  t.equal(lines[0]!.msg, 'first');
  t.equal((lines[0]!.headers as Record<string, unknown>).authorization, '[redacted]', 'the parent\'s redaction holds');
  t.equal(lines[1]!.msg, 'second formatted');
  t.equal(lines[1]!.level, 40);
});

t.test('every method forwards with its logger as `this`; level and child reach the real child', async (t) => {
  const { parent, lines } = counted();
  const log = new LazyChildLogger(parent, { reqId: 'r-3' }, {});
  t.equal(log.level, 'info');
  log.level = 'trace';
  for (const method of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const) log[method](`via ${method}`);
  t.same(
    lines.map((l) => l.msg),
    ['via trace', 'via debug', 'via info', 'via warn', 'via error', 'via fatal'],
    'six lines (silent writes none)',
  );
  t.ok(lines.every((l) => l.reqId === 'r-3'));
  const nested = log.child({ part: 'x' });
  nested.info('nested');
  t.equal(lines.at(-1)!.reqId, 'r-3');
  t.equal(lines.at(-1)!.part, 'x');
});
