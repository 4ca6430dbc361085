/**
 * The `upload` scenario: one WAV of `bytes` bytes, made on the fly (a header, then one second of
 * a tone over and over: never held whole, never on the client's disk), streamed through
 * `POST /api/calls` as `curl -F` would send it, honouring backpressure. The daemon's peak RSS
 * (sampled, and its kernel high-water mark VmHWM) and the sha256 it stored against the one
 * computed here. The stored recording is deleted once checked.
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { oneOperation, sampleProcess } from './proc.mjs';
import { wavHeader } from './fixtures.mjs';

const BOUNDARY = '----recproxy-bench-upload';

/** The WAV's chunks: its 44-byte header, then the tone until `bytes` bytes in all. */
function* wavChunks(bytes) {
  const data = bytes - 44;
  yield wavHeader(data);
  const second = Buffer.alloc(16000);
  for (let i = 0; i < 8000; i++) second.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), i * 2);
  const block = Buffer.concat(Array.from({ length: 64 }, () => second)); // 1 MB
  for (let left = data; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left);
}


/** POSTs the form; resolves with the status, the JSON answer and the sha256 of the file part sent. */
function postForm(url, headers, fields, bytes) {
  const preamble = Buffer.from(
    Object.entries(fields).map(([k, v]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.wav"\r\nContent-Type: audio/wav\r\n\r\n`,
  );
  const epilogue = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  const hash = createHash('sha256');
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': String(preamble.length + bytes + epilogue.length) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body, sha256: hash.digest('hex') }));
    });
    (async () => {
      req.write(preamble);
      for (const chunk of wavChunks(bytes)) {
        hash.update(chunk);
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end(epilogue);
    })().catch(reject);
  });
}

/**
 * One upload of `bytes` bytes to `server` (a running recproxy on local storage whose root is
 * `root`) with admin `headers`: the run's row for the results.
 */
export async function measureUpload({ server, headers, root, org, sid, bytes }) {
  const sampler = sampleProcess(server.pid, 50);
  const started = process.hrtime.bigint();
  let answer;
  try {
    answer = await postForm(`${server.url}/api/calls`, headers, { call_sid: sid, to: '+15550000000' }, bytes);
  } finally {
    sampler.stop();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sampled = sampler.stop();
  // The 1 GiB is not kept: the stored recording goes once checked.
  const dir = join(root, org);
  for (const name of await readdir(dir).catch(() => [])) if (name.startsWith(`${sid}-`)) await rm(join(dir, name), { force: true });
  if (answer.status !== 201) throw new Error(`upload answered ${answer.status}: ${answer.body.slice(0, 300)}`);
  const data = JSON.parse(answer.body).data;
  if (data.sha256 !== answer.sha256 || data.size_bytes !== bytes) {
    throw new Error(`stored ${data.size_bytes} bytes with sha256 ${data.sha256}; sent ${bytes} with ${answer.sha256}`);
  }
  return {
    ...oneOperation({ pid: server.pid, bytes, seconds, sampled }),
    sha256Match: 1,
    sha256: data.sha256,
    durationMs: data.duration_ms,
  };
}
