/**
 * Bytes ceiling: node:http + fs.createReadStream serving files under BENCH_ROOT, with one
 * `bytes=a-b` / `bytes=a-` range answered 206. No framework, no conditional requests, no ETag:
 * the least work Node can do to send a file.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const root = process.env.BENCH_ROOT;
const RANGE = /^bytes=(\d+)-(\d*)$/;

const server = createServer(async (req, res) => {
  const path = join(root, normalize(decodeURIComponent(req.url.split('?')[0])));
  let info;
  try {
    info = await stat(path);
  } catch {
    info = undefined;
  }
  if (!info?.isFile()) {
    res.writeHead(404).end();
    return;
  }
  const m = RANGE.exec(req.headers.range ?? '');
  let start = 0;
  let end = info.size - 1;
  if (m) {
    start = Number(m[1]);
    end = m[2] ? Math.min(Number(m[2]), info.size - 1) : info.size - 1;
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${info.size}` }).end();
      return;
    }
  }
  const headers = { 'content-type': 'audio/wav', 'content-length': end - start + 1, 'accept-ranges': 'bytes' };
  if (m) headers['content-range'] = `bytes ${start}-${end}/${info.size}`;
  res.writeHead(m ? 206 : 200, headers);
  const body = createReadStream(path, { start, end });
  body.once('error', () => res.destroy());
  res.once('close', () => body.destroy());
  body.pipe(res);
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
server.listen(Number(process.env.PORT), '127.0.0.1');
