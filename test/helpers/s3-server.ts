/**
 * An in-process S3-protocol server (s3rver) for the adapter tests.
 *
 * Listens on 127.0.0.1 only, stores objects under a temp directory, logs nothing.
 * s3rver accepts any access key registered with it; its built-in account is
 * `S3RVER` / `S3RVER` (export S3RVER_CREDENTIALS). It does NOT verify SigV4
 * signatures (only that the access key exists and the URL has not expired), so
 * tests that care about a signature compare it with an independent signer.
 * It does honour Range (206 + Content-Range) and, on signed GETs, response-content-type /
 * response-content-disposition. Three s3rver 3.7.1 gaps are patched below so the contract
 * tests adapters, not s3rver: `Range: bytes=0-0`, suffix ranges and ranges on empty objects,
 * and AbortMultipartUpload; and ListObjectsV2 paging, which fails on this Node (below). Also here:
 * fake broken backends (a blackhole, a server that stalls mid-body).
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type RequestListener, type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface StartS3ServerOptions {
  /** Buckets created before the server starts listening. */
  buckets?: string[];
  /** Fixed port (to restart a stopped server on the same port); 0 or omitted = a free one. */
  port?: number;
  /** Storage directory; omitted = a fresh temp directory, removed by stop(). */
  directory?: string;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  directory: string;
  /** Multipart uploads started and neither completed nor aborted, over all buckets. */
  incompleteUploads(): Promise<number>;
  /** Open client sockets on the server right now. */
  connections(): Promise<number>;
  /** Every request received so far, oldest first. */
  requests(): ReceivedRequest[];
  /** Close every connection and the listener; removes the directory if it was created here. */
  stop(): Promise<void>;
}

/** The small part of s3rver's API used here (the package ships no types). */
interface S3rverInstance {
  run(): Promise<{ port: number; address: string }>;
  close(): Promise<void>;
  httpServer?: Server;
  store: S3rverStore;
}
interface S3rverObject { content?: Readable; range?: { start: number; end: number } }
interface S3rverListed { key: string; size: number; lastModifiedDate: Date; metadata: Record<string, string> }
interface S3rverStore {
  getBucket(bucket: string): Promise<object | null>;
  listObjects(bucket: string, options: { prefix?: string; startAfter?: string; maxKeys?: number }): Promise<{ objects: S3rverListed[]; isTruncated: boolean }>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<S3rverObject | null>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
  vhostBuckets: boolean;
}) => S3rverInstance;

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverConstructor;

/** Start s3rver on 127.0.0.1 and resolve once it listens. */
export async function startS3Server(opts: StartS3ServerOptions = {}): Promise<S3Server> {
  const ownDirectory = opts.directory === undefined;
  const directory = opts.directory ?? (await mkdtemp(join(tmpdir(), 'recproxy-s3rver-')));
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    silent: true,
    directory,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name })),
    vhostBuckets: false,
  });
  patchRangeEndingAtZero(server.store);
  const { port } = await server.run();
  if (server.httpServer) supportAbortMultipartUpload(server.httpServer, server.store);
  if (server.httpServer) patchSuffixAndEmptyRanges(server.httpServer, server.store);
  if (server.httpServer) patchListObjectsV2Paging(server.httpServer, server.store);
  const log: ReceivedRequest[] = [];
  server.httpServer?.prependListener('request', (req) => log.push({ method: req.method!, url: req.url!, headers: { ...req.headers } }));
  const buckets = opts.buckets ?? [];
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    connections() {
      return new Promise<number>((resolve, reject) => {
        if (!server.httpServer) return resolve(0);
        server.httpServer.getConnections((err, count) => (err ? reject(err) : resolve(count)));
      });
    },
    requests: () => [...log],
    async incompleteUploads() {
      let count = 0;
      for (const bucket of buckets) {
        const uploads = server.store.getResourcePath(bucket, undefined, 'uploads');
        count += (await readdir(uploads).catch(() => [])).length;
      }
      return count;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Keep-alive sockets held by clients would otherwise keep close() pending.
      const closing = server.close();
      server.httpServer?.closeAllConnections();
      await closing;
      if (ownDirectory) await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver 3.7.1 bug: `Range: bytes=0-0` reads `end` as falsy and returns the whole object
 * (with `Content-Range: bytes 0-<last>/<size>`). Real S3 and MinIO return one byte; so does
 * this patched store.
 */
function patchRangeEndingAtZero(store: S3rverStore): void {
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    if (options?.end !== 0 || options.start !== 0) return getObject(bucket, key, options);
    const object = await getObject(bucket, key, { start: 0 });
    if (object?.content && object.range) {
      object.content.destroy();
      object.content = createReadStream(store.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  };
}

/**
 * s3rver 3.7.1 reads `Range: bytes=-n` as `0-n` and serves a range of an empty object as
 * `bytes 0-0/0` with Content-Length 1. S3 resolves a suffix against the size (`-0` is
 * unsatisfiable), answers a suffix on an empty object with a 200 and an empty body, and any
 * other range on it with 416. Here the Range of a GET is rewritten into what makes s3rver
 * answer that (a start at or past the size gives its 416).
 */
function patchSuffixAndEmptyRanges(httpServer: Server, store: S3rverStore): void {
  const listeners = httpServer.listeners('request') as RequestListener[];
  httpServer.removeAllListeners('request');
  const pass = (req: IncomingMessage, res: ServerResponse) => {
    for (const listener of listeners) listener.call(httpServer, req, res);
  };
  httpServer.on('request', (req, res) => {
    const range = req.headers.range;
    if (req.method !== 'GET' || !range || !/^bytes=/.test(range)) return pass(req, res);
    const [bucket = '', ...key] = new URL(req.url ?? '/', 'http://s3rver').pathname.slice(1).split('/').map(decodeURIComponent);
    store.getMetadata(bucket, key.join('/')).then(
      (metadata) => {
        const size = Number(metadata['content-length']);
        const suffix = /^bytes=-(\d+)$/.exec(range);
        if (size === 0) {
          if (suffix && Number(suffix[1]) > 0) delete req.headers.range;
          else req.headers.range = 'bytes=1-';
        } else if (suffix) {
          const length = Number(suffix[1]);
          req.headers.range = `bytes=${length === 0 ? size : Math.max(0, size - length)}-`;
        }
        pass(req, res);
      },
      () => pass(req, res),
    );
  });
}

/**
 * s3rver 3.7.1 makes ListObjectsV2 continuation tokens with DES, which Node's OpenSSL 3 refuses
 * (without its legacy provider): every truncated listing is a 500 InternalError. Here a
 * ListObjectsV2 without a delimiter on an existing bucket is answered from s3rver's own store,
 * the token being the last key listed (base64url), as S3 answers it: Contents (Key,
 * LastModified, ETag, Size), KeyCount, IsTruncated, NextContinuationToken, and URL-encoded keys
 * when `encoding-type=url` asks for them (minio-js does). Anything else goes to s3rver.
 */
function patchListObjectsV2Paging(httpServer: Server, store: S3rverStore): void {
  const listeners = httpServer.listeners('request') as RequestListener[];
  httpServer.removeAllListeners('request');
  const pass = (req: IncomingMessage, res: ServerResponse) => {
    for (const listener of listeners) listener.call(httpServer, req, res);
  };
  httpServer.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3rver');
    const q = url.searchParams;
    const bucket = decodeURIComponent(url.pathname.slice(1).replace(/\/$/, ''));
    if (req.method !== 'GET' || q.get('list-type') !== '2' || q.get('delimiter') || bucket === '' || bucket.includes('/')) return pass(req, res);
    const prefix = q.get('prefix') ?? '';
    const maxKeys = Math.min(Number(q.get('max-keys') ?? 1000) || 1000, 1000);
    const token = q.get('continuation-token');
    const startAfter = token ? Buffer.from(token, 'base64url').toString('utf8') : (q.get('start-after') ?? '');
    const encode = q.get('encoding-type') === 'url' ? encodeURIComponent : (key: string) => key;
    void (async () => {
      if (!(await store.getBucket(bucket))) return pass(req, res); // s3rver's own NoSuchBucket
      const { objects, isTruncated } = await store.listObjects(bucket, { prefix, startAfter, maxKeys });
      const contents = objects.map((o) =>
        `<Contents><Key>${xml(encode(o.key))}</Key><LastModified>${o.lastModifiedDate.toISOString()}</LastModified>` +
        `<ETag>${xml(o.metadata.etag ?? '')}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`).join('');
      const next = isTruncated && objects.length > 0 ? Buffer.from(objects[objects.length - 1]!.key).toString('base64url') : '';
      const body = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        `<Name>${xml(bucket)}</Name><Prefix>${xml(encode(prefix))}</Prefix><KeyCount>${objects.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
        `<IsTruncated>${next ? 'true' : 'false'}</IsTruncated>${token ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : ''}` +
        `${next ? `<NextContinuationToken>${next}</NextContinuationToken>` : ''}${contents}</ListBucketResult>`;
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>listing failed</Message></Error>');
    });
  });
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * s3rver 3.7.1 has no AbortMultipartUpload (it answers 405 MethodNotAllowed and keeps the
 * parts). Answer `DELETE /bucket/key?uploadId=…` here like S3 does: drop the parts, 204.
 * (No signature check, as s3rver does not check SigV4 either.)
 */
function supportAbortMultipartUpload(httpServer: Server, store: S3rverStore): void {
  const listeners = httpServer.listeners('request') as RequestListener[];
  httpServer.removeAllListeners('request');
  httpServer.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3rver');
    const uploadId = url.searchParams.get('uploadId') ?? '';
    const bucket = decodeURIComponent(url.pathname.split('/')[1] ?? '');
    if (req.method !== 'DELETE' || !/^[0-9a-f]{32}$/.test(uploadId) || !bucket) {
      for (const listener of listeners) listener.call(httpServer, req, res);
      return;
    }
    const parts = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    req.resume();
    rm(parts, { recursive: true, force: true }).then(
      () => res.writeHead(204).end(),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
}

export interface FakeBackend {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** A TCP listener on 127.0.0.1 that accepts connections and never answers a byte. */
export async function startBlackhole(): Promise<FakeBackend> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  return listen(server, () => {
    for (const socket of sockets) socket.destroy();
  });
}

/**
 * An HTTP server on 127.0.0.1 that answers every request as if the object existed
 * (`size` bytes): HEAD gets the headers, GET gets the headers and `sendBytes` bytes of the
 * body, then the connection stalls forever (a backend that dies mid-body).
 */
export async function startStallingServer(size: number, sendBytes: number): Promise<FakeBackend> {
  const server = createHttpServer((req, res) => {
    res.writeHead(200, {
      'content-length': String(size),
      'content-type': 'audio/wav',
      etag: '"0123456789abcdef0123456789abcdef"',
      'last-modified': new Date().toUTCString(),
      'accept-ranges': 'bytes',
    });
    if (req.method === 'HEAD') res.end();
    else res.write(Buffer.alloc(sendBytes, 1));
  });
  return listen(server, () => server.closeAllConnections());
}

async function listen(server: NetServer, dropConnections: () => void): Promise<FakeBackend> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      dropConnections();
      await closed;
    },
  };
}

/** What a ScriptedServer does with one request: serve the object, drop the socket unanswered, or answer an S3 error. */
export type ScriptedAction = 'serve' | 'drop' | { status: number; code?: string; contentRange?: string };

export interface ScriptedServer extends FakeBackend {
  /** Every request received so far; `reused`: its socket had carried a request before. */
  requests: (ReceivedRequest & { reused: boolean })[];
}

/**
 * An HTTP server on 127.0.0.1 that answers every GET with `body` as a whole object (200; it
 * ignores Range), unless `plan(n, reused)` says otherwise for the n-th request (0-based):
 * 'drop' destroys the socket without an answer (a keep-alive socket the server closed just as
 * the request arrived), `{status, code}` answers an S3 XML error, `{status: 206, contentRange}`
 * the body with that Content-Range.
 */
export async function startScriptedServer(body: Buffer, plan: (n: number, reused: boolean) => ScriptedAction = () => 'serve'): Promise<ScriptedServer> {
  const requests: ScriptedServer['requests'] = [];
  const served = new WeakSet<Socket>();
  const server = createHttpServer((req, res) => {
    const reused = served.has(req.socket);
    served.add(req.socket);
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, reused });
    const action = plan(requests.length - 1, reused);
    if (action === 'drop') return void req.socket.destroy();
    const object = {
      'content-type': 'audio/wav',
      etag: '"0123456789abcdef0123456789abcdef"',
      'last-modified': 'Tue, 02 Jan 2024 03:04:05 GMT',
    };
    if (action === 'serve') return void res.writeHead(200, { ...object, 'content-length': String(body.length) }).end(body);
    if (action.status === 206) {
      const headers = { ...object, 'content-length': String(body.length), ...(action.contentRange ? { 'content-range': action.contentRange } : {}) };
      return void res.writeHead(206, headers).end(body);
    }
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${action.code ?? ''}</Code><Message>scripted ${action.status}</Message></Error>`;
    res.writeHead(action.status, { 'content-type': 'application/xml' }).end(action.code === undefined ? '' : xml);
  });
  const backend = await listen(server, () => server.closeAllConnections());
  return { ...backend, requests };
}
