/**
 * The floor under the framework: node:http alone answering the stream route's path with a
 * fixed JSON body (BENCH_BODY, the body recproxy answered), nothing else; any other request 404.
 * bench/ab.mjs runs it beside bare-fastify.mjs to show what Fastify itself costs a request.
 */
import { createServer } from 'node:http';

const body = process.env.BENCH_BODY ?? '{}';
const length = Buffer.byteLength(body);
const STREAM = /^\/api\/calls\/[^/?]+\/recording\/stream$/;

const server = createServer((req, res) => {
  if (req.method === 'GET' && STREAM.test(req.url)) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': length });
    res.end(body);
  } else {
    res.writeHead(404).end();
  }
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
server.listen(Number(process.env.PORT), '127.0.0.1');
