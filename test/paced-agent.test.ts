import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import type { Agent, IncomingMessage } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { MinioAdapter } from '../adapters/minio.js';
import { S3Adapter } from '../adapters/s3.js';
import { ConsumerPace, ReadBudget, SLOW_MIN } from '../adapters/file-body.js';
import { Pacer, S3_READ_BUDGET } from '../adapters/paced-agent.js';
import type { RawGetPool } from '../adapters/raw-get.js';
import { S3RVER_CREDENTIALS, startS3Server } from './helpers/s3-server.js';

const BUCKET = 'recordings';
const KiB = 1024;
const server = await startS3Server({ buckets: [BUCKET] });
t.teardown(() => server.stop());

/** A budget whose share is always its floor (64 KiB): every body starts slow. */
const atFloor = () => new ReadBudget({ total: 64 * KiB, min: 64 * KiB, max: 64 * KiB });

function adapterFor(t: Test, readBudget: ReadBudget): S3Adapter {
  const adapter = new S3Adapter({
    bucket: BUCKET, region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS, timeoutMs: 10_000, readBudget,
  });
  t.teardown(() => adapter.close());
  return adapter;
}

/** Every chunk of `body` as it is emitted (one 'data' event per chunk, never merged). */
function chunksOf(body: Readable): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => resolve(chunks));
    body.once('error', reject);
  });
}

/** The most a chunk may hold when `sent` bytes went before it, at the budget's floor (file-body.ts readSize). */
const slowStartCap = (sent: number) => Math.min(64 * KiB, Math.max(SLOW_MIN, Math.ceil(sent / 2 / 4096) * 4096));

t.test('at the budget floor, an S3 body is read from the socket in slow-start reads, not 64 KiB ones', async (t) => {
  const adapter = adapterFor(t, atFloor());
  const object = randomBytes(1024 * KiB);
  await adapter.write('recordings/slow.wav', object, { contentType: 'audio/wav' });
  const pool = (adapter as unknown as { pool: RawGetPool }).pool;
  const sockets: unknown[] = [];
  for (const round of ['first GET', 'a second GET on the kept-alive socket: a fresh slow start']) {
    const { body } = await adapter.read('recordings/slow.wav');
    const chunks = await chunksOf(body);
    t.same(Buffer.concat(chunks), object, `${round}: every byte, in order`);
    let sent = 0;
    const over = chunks.filter((chunk) => {
      const tooBig = chunk.length > slowStartCap(sent);
      sent += chunk.length;
      return tooBig;
    });
    t.same(over.map((c) => c.length), [], `${round}: no chunk beyond the slow start's cap`);
    t.ok(chunks[0]!.length <= SLOW_MIN, `${round}: the first chunk is at most ${SLOW_MIN} bytes (${chunks[0]!.length})`);
    await new Promise((resolve) => setImmediate(resolve));
    sockets.push(...[...pool.connections].map((conn) => conn.socket));
  }
  t.equal(sockets.length, 2, 'one socket after each GET');
  t.equal(sockets[1], sockets[0], 'the second GET reused the first one\'s socket');
});

t.test('a range is served whole through a paced socket', async (t) => {
  const adapter = adapterFor(t, atFloor());
  const object = randomBytes(300 * KiB);
  await adapter.write('recordings/range.wav', object, { contentType: 'audio/wav' });
  const { meta, body } = await adapter.read('recordings/range.wav', { range: { start: 1000, end: 200_999 } });
  t.equal(meta.size, object.length);
  t.same(Buffer.concat(await chunksOf(body)), object.subarray(1000, 201_000));
});

function minioFor(t: Test): MinioAdapter {
  const adapter = new MinioAdapter({
    endpoint: server.endpoint, bucket: BUCKET, region: 'us-east-1', accessKey: S3RVER_CREDENTIALS.accessKeyId,
    secretKey: S3RVER_CREDENTIALS.secretAccessKey, timeoutMs: 10_000,
  });
  t.teardown(() => adapter.close());
  return adapter;
}

for (const name of ['s3', 'minio'] as const) t.test(`${name}: a consumer that stops: the socket stops being read, nothing is held between it and the consumer`, async (t) => {
  const adapter = name === 's3' ? adapterFor(t, new ReadBudget()) : minioFor(t);
  const object = randomBytes(4096 * KiB);
  await adapter.write(`recordings/stop-${name}.wav`, object, { contentType: 'audio/wav' });
  const { body } = await adapter.read(`recordings/stop-${name}.wav`);
  const [socket] = name === 's3'
    ? [...(adapter as unknown as { pool: RawGetPool }).pool.connections].map((conn) => conn.socket)
    : Object.values((adapter as unknown as { agent: Agent }).agent.sockets).flat();
  let taken = 0;
  let release: (() => void) | undefined;
  const firstWrite = new Promise<void>((resolve) => {
    body.pipe(new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        taken += chunk.length;
        release = callback; // a client that stops reading: the callback waits
        resolve();
      },
    }));
  });
  await firstWrite;
  // Until the socket stops being read: its bytes read unchanged for 300 ms (a socket that kept
  // reading would stop only once chunks waited in the response or the body).
  let read = -1;
  for (const deadline = Date.now() + 20_000; socket!.bytesRead !== read && Date.now() < deadline;) {
    read = socket!.bytesRead;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  t.equal(socket!.bytesRead, read, 'the socket is no longer read');
  if (name === 'minio') t.ok(socket!.isPaused(), 'the socket is paused');
  t.equal(body.readableLength, 0, 'the body holds no chunk');
  const headers = socket!.bytesRead - taken;
  t.ok(headers > 0 && headers < 2048, `the socket read only the headers beyond what the consumer took (${headers} bytes)`);
  release!();
  body.destroy();
});

/** A stand-in for the response a pacer serves: only `complete` is read. */
const response = () => ({ complete: false }) as IncomingMessage;

t.test('Pacer: a fresh socket, the slow start at the floor, and a new body after a complete one', async (t) => {
  const budget = atFloor();
  const pacer = new Pacer(budget);
  t.equal(pacer.nextSize(), SLOW_MIN, 'a fresh socket starts at SLOW_MIN at the floor');
  const res = response();
  const report = pacer.track(res);
  t.equal(budget.open, 1, 'a tracked body counts in the budget');
  for (const size of [16, 16, 16, 24, 36, 56]) {
    t.equal(pacer.nextSize(), size * KiB);
    report.pushed(size * KiB);
    report.asked();
  }
  t.equal(pacer.nextSize(), 64 * KiB, 'then the budget floor');
  t.equal(pacer.lastSize, 64 * KiB);
  (res as { complete: boolean }).complete = true;
  t.equal(pacer.nextSize(), SLOW_MIN, 'after the response is complete, the next read is a fresh body\'s');
  const next = pacer.track(response());
  report.pushed(1024 * KiB); // a late report of the earlier body
  report.asked();
  t.equal(pacer.nextSize(), SLOW_MIN, 'reports of an earlier body are ignored');
  report.release();
  report.release();
  t.equal(budget.open, 1, 'release counts a body out once');
  next.release();
  t.equal(budget.open, 0);
});

t.test('Pacer: a consumer at 16 KB/s gets SLOW_MIN reads, a fast one the budget\'s size', async (t) => {
  const realNow = performance.now.bind(performance);
  let now = 0;
  performance.now = () => now;
  t.teardown(() => {
    performance.now = realNow;
  });
  const budget = new ReadBudget(); // one body: its share is the 1 MiB maximum, not the floor
  const pacer = new Pacer(budget);
  t.equal(pacer.nextSize(), 1024 * KiB, 'a fresh body off the floor reads the budget\'s size');
  const slow = pacer.track(response());
  slow.asked(); // nothing pushed yet: no pace
  t.equal(pacer.nextSize(), 1024 * KiB);
  for (let i = 0; i < 4; i++) {
    slow.pushed(16 * KiB);
    now += 1000; // the consumer takes 16 KiB a second
    slow.asked();
  }
  t.equal(pacer.nextSize(), SLOW_MIN, '16 KB/s takes 4 KiB in PACE_MS: the read is SLOW_MIN');
  slow.release();
  const fastPacer = new Pacer(budget);
  const report = fastPacer.track(response());
  for (let i = 0; i < 4; i++) {
    report.pushed(256 * KiB);
    now += 1; // the consumer takes 256 KiB in a millisecond
    report.asked();
  }
  t.equal(fastPacer.nextSize(), budget.chunk, 'a fast consumer reads the budget\'s share');
  report.release();
});

t.test("the S3 sockets' budget: 64 KiB reads for a fast body among few, 16 KiB each past 512 bodies", async (t) => {
  const budget = new ReadBudget(S3_READ_BUDGET);
  const fast = new ConsumerPace();
  for (let i = 0; i < 16; i++) {
    fast.pushed(64 * KiB);
    fast.asked(); // taken at once: 1 MiB sent, a fast pace
  }
  const leave = [budget.enter()];
  t.equal(fast.readSize(Infinity, budget), 64 * KiB, 'one body: 64 KiB, node\'s own read size');
  for (let i = 1; i < 2000; i++) leave.push(budget.enter());
  t.equal(fast.readSize(Infinity, budget), SLOW_MIN, '2,000 bodies: 16 KiB, a fast one too');
  leave.forEach((l) => l());
});
