import t from 'tap';
import { randomBytes } from 'node:crypto';
import { fstatSync, openSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileBody, ReadBudget, SLOW_MIN, foldPace, readOnce, readSize, type Pace } from '../adapters/file-body.js';

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
  t.same([defaults.total, defaults.min, defaults.max], [8 * 1024 * KiB, 16 * KiB, 1024 * KiB]);
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

t.test('the read size: one read for what fits, a slow start at the floor, the averaged pace', async (t) => {
  t.equal(SLOW_MIN, 16 * KiB);
  const floor = { chunk: 64 * KiB, atFloor: true }; // 2,000 bodies open: each at the budget's min
  const roomy = { chunk: 512 * KiB, atFloor: false }; // 16 bodies open
  const none = (): Pace => ({ bytes: 0, time: 0 });
  t.equal(readSize(64 * KiB, 0, floor, none()), 64 * KiB, 'a 64 KiB Range at the floor: one read');
  t.equal(readSize(2000, 0, floor, none()), 2000, 'a small file: one read');
  t.equal(readSize(512 * KiB, 0, roomy, none()), 512 * KiB, 'a range of the budget size: one read');
  t.equal(readSize(2048 * KiB, 0, roomy, none()), 512 * KiB, 'above the floor a body starts at the budget size');

  // At the floor, a fast consumer's reads: at most half of what was sent, from 16 KiB up to the budget.
  const sizes: number[] = [];
  let sent = 0;
  const fast = none();
  for (let i = 0; i < 8; i++) {
    const size = readSize(50 * 1024 * KiB - sent, sent, floor, fast);
    sizes.push(size / KiB);
    sent += size;
    foldPace(fast, size, 0.05); // taken at once
  }
  t.same(sizes, [16, 16, 16, 24, 36, 56, 64, 64], 'slow start: the budget size within 7 reads');
  t.equal(readSize(10 * KiB, sent, floor, fast), 10 * KiB, 'never past the end');

  // A player at 16 KB/s whose client reads 64 KiB bursts: a 16 KiB chunk waits 1 s, then the
  // burst takes the next three at once. The last chunk alone looks fast; the average does not.
  const player: Pace = none();
  foldPace(player, 16 * KiB, 1000);
  for (let i = 0; i < 3; i++) foldPace(player, 16 * KiB, 0.05);
  t.equal(readSize(50 * 1024 * KiB, 1024 * KiB, roomy, player), 16 * KiB, 'a bursty 16 KB/s player reads 16 KiB');
  const single: Pace = none();
  foldPace(single, 16 * KiB, 0.05);
  t.equal(readSize(50 * 1024 * KiB, 1024 * KiB, roomy, single), 512 * KiB, 'the last chunk alone would say the budget size');

  // 1 MB/s: 256 KB in PACE_MS (250 ms), whole pages.
  const steady: Pace = none();
  for (let i = 0; i < 10; i++) foldPace(steady, 100_000, 100);
  t.equal(readSize(50 * 1024 * KiB, 1024 * KiB, roomy, steady), 248 * KiB);
  // The pace decays: after a 10 s stall the read is 28 KiB, and 1 s at 50 MB/s later the budget size again.
  foldPace(steady, 1024 * KiB, 10_000);
  t.equal(readSize(50 * 1024 * KiB, 4096 * KiB, roomy, steady), 28 * KiB);
  for (let i = 0; i < 100; i++) foldPace(steady, 512 * KiB, 10);
  t.equal(readSize(50 * 1024 * KiB, 4096 * KiB, roomy, steady), 512 * KiB);
});

t.test('a body at the budget floor starts with 16 KiB reads; a 64 KiB Range is one read', async (t) => {
  const budget = new ReadBudget({ total: 64 * KiB, min: 64 * KiB, max: 1024 * KiB });
  t.ok(budget.atFloor);
  const whole = await drain(new FileBody(openSync(file, 'r'), { budget }));
  t.equal(whole[0]!.length, 16 * KiB, 'the first read of a long body at the floor');
  t.ok(whole.every((c) => c.length <= 64 * KiB), 'none above the budget');
  t.same(Buffer.concat(whole), data);
  const range = await drain(new FileBody(openSync(file, 'r'), { start: 65536, end: 131071, budget }));
  t.same(
    range.map((c) => c.length),
    [64 * KiB],
    'one read',
  );
  t.same(Buffer.concat(range), data.subarray(65536, 131072));
  t.notOk(new ReadBudget().atFloor, 'nobody open: not at the floor');
});

t.test('the default budget with 2,000 bodies open: every read 16 KiB, a fast one too; a 64 KiB Range one read', async (t) => {
  const budget = new ReadBudget();
  const leave = Array.from({ length: 1999 }, () => budget.enter()); // with the body below: 2,000
  t.teardown(() => leave.forEach((l) => l()));
  t.equal(budget.chunk, 16 * KiB, 'the share of 8 MiB is 4 KiB: the floor, 16 KiB');
  const whole = await drain(new FileBody(openSync(file, 'r'), { budget }));
  t.same(new Set(whole.slice(0, -1).map((c) => c.length)), new Set([16 * KiB]), 'a fast consumer reads 16 KiB at a time');
  t.same(Buffer.concat(whole), data);
  const range = await drain(new FileBody(openSync(file, 'r'), { start: 65536, end: 131071, budget }));
  t.same(range.map((c) => c.length), [64 * KiB], 'a bounded 64 KiB Range is still one read');
  t.equal(new ReadBudget({ total: 8 * 1024 * KiB }).chunk, 1024 * KiB, 'one body: the 1 MiB maximum');
  const some = new ReadBudget();
  const leaveSome = Array.from({ length: 128 }, () => some.enter());
  t.equal(some.chunk, 64 * KiB, '128 bodies: 64 KiB each, as before');
  leaveSome.forEach((l) => l());
});

t.test('readOnce: the bytes in one Buffer, the descriptor closed whatever happens', async (t) => {
  const fd = openSync(file, 'r');
  const got = await readOnce(fd, 1000, 1000 + 64 * KiB - 1);
  t.ok(got.equals(data.subarray(1000, 1000 + 64 * KiB)), 'exactly the bytes asked for');
  t.ok(isClosed(fd), 'descriptor closed');

  const tail = openSync(file, 'r');
  await t.rejects(readOnce(tail, data.length - 10, data.length + 9), {
    code: 'STORAGE_UNAVAILABLE',
    message: 'the file ended 10 bytes early',
  });
  t.ok(isClosed(tail), 'closed after a short read');

  await t.rejects(readOnce(123456, 0, 9), { code: 'STORAGE_UNAVAILABLE', message: /read failed: EBADF/ });
});
