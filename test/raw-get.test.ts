// The S3 adapter's own HTTP/1.1 GET reader (adapters/raw-get.ts), against a TCP server that
// writes answers byte for byte: framings, heads split across reads, keep-alive reuse and its
// refusals, bad answers, aborts and a consumer that leaves.
import t, { type Test } from 'tap';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { ReadBudget } from '../adapters/file-body.js';
import { RawGetPool, type RawResponse } from '../adapters/raw-get.js';

interface Seen { text: string; socket: net.Socket; n: number; connection: number }

/** A server that hands each request's head (and its socket) to `answer`; stopped at the test's end. */
async function scripted(t: Test, answer: (req: Seen) => void): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      for (let end; (end = buffered.indexOf('\r\n\r\n')) >= 0;) {
        const req = { text: buffered.slice(0, end), socket, n: seen.length, connection };
        buffered = buffered.slice(end + 4);
        seen.push(req);
        answer(req);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as net.AddressInfo).port, seen };
}

function poolFor(t: Test, options: { freeMs?: number } = {}): RawGetPool {
  const pool = new RawGetPool(new ReadBudget({ min: 16 * 1024, max: 64 * 1024 }), options);
  t.teardown(() => pool.destroy());
  return pool;
}

const get = (pool: RawGetPool, port: number, extra: { signal?: AbortSignal; path?: string; headers?: Record<string, string>; timeoutMs?: number } = {}) =>
  pool.get(
    { hostname: '127.0.0.1', port, path: extra.path ?? '/b/key.wav', headers: { host: `127.0.0.1:${port}`, ...extra.headers } },
    { timeoutMs: extra.timeoutMs ?? 5000, backend: 'S3', signal: extra.signal },
  );

/** The body as text; rejects with its error (also one it met before this was called). */
async function text(body: Readable): Promise<string> {
  let out = '';
  for await (const chunk of body) out += (chunk as Buffer).toString('latin1');
  return out;
}

/** Resolves once `check` holds (polled), or after 5 s. */
async function until(check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5000; !check() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
}

const OK = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nETag: "e"\r\n${extra}\r\n${body}`;

t.test('the request written: the path, every header as given, and nothing after the head', async (t) => {
  const { port, seen } = await scripted(t, ({ socket }) => socket.write(OK('hi')));
  const pool = poolFor(t);
  const res = await get(pool, port, { headers: { authorization: 'AWS4-HMAC-SHA256 x', range: 'bytes=0-1' } });
  t.equal(await text(res.body), 'hi');
  t.equal(seen[0]!.text, `GET /b/key.wav HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: AWS4-HMAC-SHA256 x\r\nrange: bytes=0-1`);
  await t.rejects(get(pool, port, { headers: { 'x-bad': 'a\r\nx-injected: 1' } }), /line break/, 'a header with a line break is refused');
  await t.rejects(get(pool, port, { path: '/b/a\nb' }), /line break/, 'so is a path with one');
  t.equal(seen.length, 1, 'neither was sent');
});

t.test('a head split across reads, names lower-cased, repeated headers joined; the socket is kept for the next GET', async (t) => {
  const { port, seen } = await scripted(t, ({ socket, n }) => {
    const answer = `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/10\r\nX-Amz-Meta: a\r\nx-amz-meta: b\r\nContent-Length: 5\r\n\r\nhello`;
    if (n > 0) return void socket.write(answer);
    // One byte a write, each flushed before the next, so the head arrives over many reads.
    let i = 0;
    const next = () => (i < answer.length ? socket.write(answer[i++]!, 'latin1', () => setTimeout(next, 1)) : undefined);
    next();
  });
  const pool = poolFor(t);
  const res = await get(pool, port);
  t.equal(res.statusCode, 206);
  t.equal(res.headers['content-range'], 'bytes 0-4/10');
  t.equal(res.headers['x-amz-meta'], 'a, b');
  t.equal(await text(res.body), 'hello');
  t.equal(pool.idle(`127.0.0.1:${port}`).length, 1, 'the socket waits in the pool');
  t.equal(await text((await get(pool, port)).body), 'hello');
  t.same(seen.map((s) => s.connection), [1, 1], 'the second GET went on the same socket');
});

t.test('chunked answers (an error\'s XML) are read whole, with extensions and trailers; the socket is reused', async (t) => {
  const xml = '<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>';
  const { port, seen } = await scripted(t, ({ socket, n }) => {
    if (n > 0) return void socket.write(OK('ok'));
    const [a, b] = [xml.slice(0, 20), xml.slice(20)];
    socket.write(`HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n${a.length.toString(16)};ext=1\r\n${a}\r\n`);
    setTimeout(() => socket.write(`${b.length.toString(16)}\r\n${b}\r\n0\r\nx-trailer: t\r\n\r\n`), 20);
  });
  const pool = poolFor(t);
  const res = await get(pool, port);
  t.equal(res.statusCode, 404);
  t.equal(await text(res.body), xml);
  t.equal(await text((await get(pool, port)).body), 'ok');
  t.same(seen.map((s) => s.connection), [1, 1]);
});

t.test('no length: the body ends when the server closes; Connection: close and HTTP/1.0 are not reused', async (t) => {
  const { port, seen } = await scripted(t, ({ socket, n }) => {
    if (n === 0) socket.end('HTTP/1.1 200 OK\r\nETag: "e"\r\n\r\nuntil the end');
    else if (n === 1) socket.write(OK('closing', 'Connection: close\r\n'));
    else if (n === 2) socket.write('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold');
    else socket.write(OK('last'));
  });
  const pool = poolFor(t);
  t.equal(await text((await get(pool, port)).body), 'until the end');
  t.equal(await text((await get(pool, port)).body), 'closing');
  t.equal(await text((await get(pool, port)).body), 'old');
  t.equal(await text((await get(pool, port)).body), 'last');
  t.same(seen.map((s) => s.connection), [1, 2, 3, 4], 'a new socket each time');
  await until(() => pool.connections.size === 1);
  t.equal(pool.connections.size, 1, 'only the last socket is still open');
});

t.test('100 Continue before the answer is skipped; 204 has no body', async (t) => {
  const { port } = await scripted(t, ({ socket, n }) => {
    if (n === 0) socket.write(`HTTP/1.1 100 Continue\r\n\r\n${OK('after')}`);
    else socket.write('HTTP/1.1 204 No Content\r\n\r\n');
  });
  const pool = poolFor(t);
  const res = await get(pool, port);
  t.equal(res.statusCode, 200);
  t.equal(await text(res.body), 'after');
  const empty = await get(pool, port);
  t.equal(empty.statusCode, 204);
  t.equal(await text(empty.body), '');
});

t.test('bad answers fail the GET with what was wrong, and close the socket', async (t) => {
  const answers: [string, RegExp][] = [
    ['ICY 200 OK\r\n\r\n', /not an HTTP\/1\.x answer: "ICY 200 OK"/],
    ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /malformed header line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n', /malformed Content-Length/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', /transfer coding the proxy does not read: gzip/],
    [`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, /response head exceeds 65536 bytes/],
  ];
  for (const [answer, expected] of answers) {
    const { port } = await scripted(t, ({ socket }) => socket.write(answer));
    const pool = poolFor(t);
    await t.rejects(get(pool, port), { message: expected }, JSON.stringify(answer.slice(0, 40)));
    t.equal(pool.connections.size, 0, 'the socket is closed');
  }
  const { port } = await scripted(t, ({ socket }) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
  const res = await get(poolFor(t), port);
  await t.rejects(text(res.body), { code: 'STORAGE_UNAVAILABLE', message: /read failed: a malformed chunked body/ }, 'a bad chunk size fails the body');
});

t.test('bytes beyond the Content-Length: the body is exact, the socket is not reused', async (t) => {
  const { port, seen } = await scripted(t, ({ socket }) => socket.write(`${OK('four')}EXTRA`));
  const pool = poolFor(t);
  t.equal(await text((await get(pool, port)).body), 'four');
  t.equal(await text((await get(pool, port)).body), 'four');
  t.same(seen.map((s) => s.connection), [1, 2]);
});

t.test('no answer within the time: a TimeoutError; a pooled socket the server closed is dropped, or the GET sent again', async (t) => {
  const silent = await scripted(t, () => undefined);
  const pool = poolFor(t);
  await t.rejects(get(pool, silent.port, { timeoutMs: 200 }), { name: 'TimeoutError', code: 'ETIMEDOUT', message: 'no response from S3 within 200 ms' });
  t.equal(pool.connections.size, 0);

  const { port, seen } = await scripted(t, ({ socket, n }) => {
    if (n === 1) return void socket.destroy(); // the second GET reaches a socket the server then drops
    socket.write(OK('x'));
    if (n === 2) socket.end(); // after the third answer the server closes its side
  });
  t.equal(await text((await get(pool, port)).body), 'x');
  t.equal(await text((await get(pool, port)).body), 'x', 'sent again on a new socket');
  t.same(seen.map((s) => s.connection), [1, 1, 2]);
  await until(() => pool.idle(`127.0.0.1:${port}`).length === 0);
  t.equal(pool.idle(`127.0.0.1:${port}`).length, 0, 'the socket the server closed left the pool');
});

t.test('idle pooled sockets close after freeMs', async (t) => {
  const { port } = await scripted(t, ({ socket }) => socket.write(OK('x')));
  const pool = poolFor(t, { freeMs: 100 });
  t.equal(await text((await get(pool, port)).body), 'x');
  t.equal(pool.connections.size, 1);
  await until(() => pool.connections.size === 0);
  t.equal(pool.connections.size, 0);
});

t.test('an abort mid-body fails the body with its reason; a consumer that leaves closes the socket', async (t) => {
  const { port, seen } = await scripted(t, ({ socket, n }) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(1000)}`);
    if (n === 2) socket.write('b'.repeat(99_000));
  });
  const pool = poolFor(t);
  const controller = new AbortController();
  const res: RawResponse = await get(pool, port, { signal: controller.signal });
  const reason = new Error('the client went away');
  controller.abort(reason);
  await t.rejects(text(res.body), reason);
  t.equal(pool.connections.size, 0, 'the socket is closed');

  const left = await get(pool, port);
  left.body.destroy();
  await until(() => pool.connections.size === 0);
  t.equal(pool.connections.size, 0, 'a body left early closes its socket');
  t.equal((await text((await get(pool, port)).body)).length, 100_000, 'the next GET gets a new socket, and every byte');
  t.same(seen.map((s) => s.connection), [1, 2, 3]);
});

t.test('a backend that stops mid-body fails it after timeoutMs; a consumer that waits does not', async (t) => {
  const { port } = await scripted(t, ({ socket }) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc`));
  const pool = poolFor(t);
  const stalled = await get(pool, port, { timeoutMs: 150 });
  await t.rejects(text(stalled.body), { code: 'STORAGE_UNAVAILABLE', message: 'storage is unavailable: read failed: no data from S3 for 150 ms' });

  const full = await scripted(t, ({ socket }) => socket.write(OK('abcdefghij')));
  const waiting = await get(pool, full.port, { timeoutMs: 150 });
  await new Promise((r) => setTimeout(r, 400)); // nobody reads: the chunk waits, that is no stall
  t.equal(await text(waiting.body), 'abcdefghij');
});

t.test('a closed pool refuses GETs and fails the bodies still open', async (t) => {
  const { port } = await scripted(t, ({ socket }) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc`));
  const pool = poolFor(t);
  const res = await get(pool, port);
  const failed = t.rejects(text(res.body), { code: 'STORAGE_UNAVAILABLE', message: /read failed: the GET pool is closed/ });
  pool.destroy();
  await failed;
  await t.rejects(get(pool, port), /the GET pool is closed/);
});
