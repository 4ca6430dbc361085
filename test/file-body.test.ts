import t from 'tap';
import { randomBytes } from 'node:crypto';
import { fstatSync, openSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileBody, ReadBudget } from '../adapters/file-body.js';

const KiB = 1024;
const dir = await mkdtemp(join(tmpdir(), 'recproxy-file-body-'));
const data = randomBytes(3 * 1024 * KiB + 123);
const file = join(dir, 'data.bin');
writeFileSync(file, data);

/** Reads a body to the end, slowly if `delayMs`, and returns its chunks. */
async function drain(body: FileBody, delayMs = 0): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  await pipeline(
    body,
    new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        if (delayMs) setTimeout(done, delayMs);
        else done();
      },
    }),
  );
  return chunks;
}

const isClosed = (fd: number) => {
  try {
    fstatSync(fd);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EBADF';
  }
};

t.test('the budget shares `total` among open bodies, in whole pages within [min, max]', async (t) => {
  const budget = new ReadBudget({ total: 1024 * KiB, min: 64 * KiB, max: 512 * KiB });
  t.equal(budget.chunk, 512 * KiB, 'nobody open: the maximum');
  const leave = [budget.enter()];
  t.equal(budget.chunk, 512 * KiB, 'one body: capped at max');
  leave.push(budget.enter(), budget.enter());
  t.equal(budget.open, 3);
  t.equal(budget.chunk, 340 * KiB, 'three bodies: a third, rounded down to 4 KiB pages');
  for (let i = 0; i < 30; i++) leave.push(budget.enter());
  t.equal(budget.chunk, 64 * KiB, '33 bodies: never below min');
  leave[0]!();
  leave[0]!();
  t.equal(budget.open, 32, 'leaving twice counts once');
  for (const l of leave) l();
  t.equal(budget.open, 0);
  const defaults = new ReadBudget();
  t.same([defaults.total, defaults.min, defaults.max], [8 * 1024 * KiB, 64 * KiB, 1024 * KiB]);
  t.equal(new ReadBudget({ min: 128 * KiB, max: 64 * KiB }).max, 128 * KiB, 'max is at least min');
});

t.test('a body streams exactly its bytes, in reads the budget sizes, and closes its descriptor', async (t) => {
  const budget = new ReadBudget({ total: 1024 * KiB, min: 64 * KiB, max: 1024 * KiB });
  const cases: [string, number | undefined, number | undefined][] = [
    ['whole file', undefined, undefined],
    ['from an offset to the end', 1000, undefined],
    ['a middle range', 65536, 131071],
    ['one byte', 5, 5],
    ['the last byte', data.length - 1, data.length - 1],
  ];
  for (const [name, start, end] of cases) {
    const fd = openSync(file, 'r');
    const body = new FileBody(fd, { start, end, budget });
    const chunks = await drain(body);
    t.same(Buffer.concat(chunks), data.subarray(start ?? 0, end === undefined ? undefined : end + 1), name);
    t.ok(chunks.every((c) => c.length <= 1024 * KiB), `${name}: no read above the budget`);
    t.ok(isClosed(fd), `${name}: descriptor closed at the end`);
  }
  t.equal(budget.open, 0);

  // One body alone reads 1 MiB at a time; four open at once read 256 KiB each.
  const one = await drain(new FileBody(openSync(file, 'r'), { budget }));
  t.equal(one[0]!.length, 1024 * KiB, 'alone: the whole budget per read');
  const others = [1, 2, 3].map(() => new FileBody(openSync(file, 'r'), { budget }));
  const four = await Promise.all([drain(new FileBody(openSync(file, 'r'), { budget })), ...others.map((b) => drain(b))]);
  for (const chunks of four) {
    t.equal(Buffer.concat(chunks).length, data.length);
    t.equal(chunks[0]!.length, 256 * KiB, 'four at once: a quarter each');
  }
  t.equal(budget.open, 0, 'every body counted out');
});

t.test('a body destroyed mid-read closes its descriptor, once the read in flight is back', async (t) => {
  const budget = new ReadBudget();
  const fd = openSync(file, 'r');
  const body = new FileBody(fd, { budget });
  const first = await new Promise<Buffer>((resolve) => body.once('data', resolve));
  t.ok(first.length > 0);
  body.read(); // a read in flight
  const closed = new Promise((resolve) => body.once('close', resolve));
  body.destroy();
  await closed;
  t.ok(isClosed(fd), 'descriptor closed');
  t.equal(budget.open, 0, 'counted out');

  const idle = openSync(file, 'r');
  const unread = new FileBody(idle, { budget });
  unread.destroy(new Error('client went away'));
  const err = await new Promise<Error>((resolve) => unread.once('error', resolve));
  t.equal(err.message, 'client went away', 'the destroy reason is what the body errors with');
  t.ok(isClosed(idle));
});

t.test('a file that shrinks under a read fails the body with StorageUnavailable', async (t) => {
  const path = join(dir, 'shrinks.bin');
  writeFileSync(path, data);
  const fd = openSync(path, 'r');
  const body = new FileBody(fd, { start: 0, end: data.length - 1, budget: new ReadBudget({ total: 64 * KiB, max: 64 * KiB }) });
  const chunks: Buffer[] = [];
  body.once('data', (chunk: Buffer) => {
    chunks.push(chunk);
    truncateSync(path, 100 * KiB);
  });
  await t.rejects(drain(body, 5), { code: 'STORAGE_UNAVAILABLE', message: /ended \d+ bytes early/ });
  t.ok(isClosed(fd));

  const bad = new FileBody(123456, { budget: new ReadBudget() }); // not an open descriptor
  await t.rejects(drain(bad), { code: 'STORAGE_UNAVAILABLE', message: /read failed: EBADF/ });
});

t.test('a body nobody reads stops reading: backpressure, not the whole file in memory', async (t) => {
  const budget = new ReadBudget({ total: 256 * KiB, min: 64 * KiB, max: 256 * KiB });
  const body = new FileBody(openSync(file, 'r'), { budget });
  let read = 0;
  body.on('data', (chunk: Buffer) => {
    read += chunk.length;
    body.pause(); // a consumer that never asks for more
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.ok(read <= 256 * KiB, `one chunk delivered (${read} bytes)`);
  t.ok(body.readableLength <= 2 * 256 * KiB, `at most about a chunk buffered (${body.readableLength} of ${data.length} bytes)`);
  body.resume();
  body.removeAllListeners('data');
  const rest: Buffer[] = [];
  body.on('data', (chunk: Buffer) => rest.push(chunk));
  await new Promise((resolve) => body.once('end', resolve));
  t.equal(read + Buffer.concat(rest).length, data.length, 'then the rest, when asked');
});
