/**
 * The end-to-end journey every storage backend and stream mode passes (test/storage-e2e.test.ts
 * against s3rver and local disk, test/radosgw.test.ts against radosgw): register, stream URL,
 * Range 206 on that URL, byte-exact download, download with Range, and a non-ASCII name.
 */
import type { Test } from 'tap';
import { dispositionHeader, recordingFilename } from '../../src/core/disposition.js';
import type { Daemon } from './daemon.js';
import type { S3Backend } from './storage-env.js';
import { makeWav } from './wav.js';

const ORG = 'org_e2e';
const wav = makeWav(60);

/** A callee whose file name is not plain ASCII and holds ' ( ) !, which RFC 3986 escapes and encodeURIComponent does not. */
export const NON_ASCII_TO = "+49 (0) O'Brien Müller!";

export async function journey(t: Test, d: Daemon, storage: string, mode: string, s3?: S3Backend): Promise<void> {
  const sid = `call_${storage}${mode}`;
  await d.addCall({ org: ORG, sid, to: '+15559876543', bytes: wav });
  const headers = d.headers(ORG);
  const res = await fetch(`${d.url}/api/calls/${sid}/recording/stream`, { headers });
  t.equal(res.status, 200);
  const { data } = (await res.json()) as { data: { url: string; expires_in: number; content_type: string; filename: string } };
  t.equal(data.content_type, 'audio/wav');
  t.equal(data.filename, 'recording_+15559876543.wav');
  t.equal(data.expires_in, 3600, 'a fresh URL lives the whole stream TTL');
  const url = new URL(data.url);
  if (storage !== 'local' && mode === 'presigned') {
    const publicEndpoint = new URL(s3!.endpoint.replace('127.0.0.1', 'localhost'));
    t.equal(url.host, publicEndpoint.host, 'signed for the public endpoint');
    t.equal(Number(url.searchParams.get('X-Amz-Expires')), data.expires_in, 'X-Amz-Expires equals expires_in');
    t.equal(url.searchParams.get('response-content-type'), 'audio/wav');
    t.match(url.searchParams.get('response-content-disposition'), /^inline; filename="recording_\+15559876543\.wav"/);
  } else {
    t.equal(url.origin, d.url, 'served through the daemon');
    t.match(url.pathname, /^\/media\//);
  }
  // The browser reaches "localhost"; this machine resolves it to loopback too.
  const ranged = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
  t.equal(ranged.status, 206, 'Range on the stream URL');
  t.equal(ranged.headers.get('content-range'), `bytes 1000-1999/${wav.length}`);
  t.ok(Buffer.from(await ranged.arrayBuffer()).equals(wav.subarray(1000, 2000)), 'exactly bytes 1000-1999');

  const dl = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers });
  t.equal(dl.status, 200);
  t.equal(dl.headers.get('content-length'), String(wav.length));
  t.equal(dl.headers.get('content-disposition'), 'attachment; filename="recording_+15559876543.wav"');
  t.ok(Buffer.from(await dl.arrayBuffer()).equals(wav), 'download byte-exact');

  const part = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers: { ...headers, Range: 'bytes=500000-' } });
  t.equal(part.status, 206, 'download with Range');
  t.equal(part.headers.get('content-range'), `bytes 500000-${wav.length - 1}/${wav.length}`);
  t.ok(Buffer.from(await part.arrayBuffer()).equals(wav.subarray(500000)));

  // The name rides in the presigned URL's response-content-disposition, so the storage
  // server checks its encoding as part of the signature.
  const named = `${sid}u`;
  await d.addCall({ org: ORG, sid: named, to: NON_ASCII_TO, bytes: wav });
  const filename = recordingFilename(NON_ASCII_TO, 'audio/wav');
  const stream = (await (await fetch(`${d.url}/api/calls/${named}/recording/stream`, { headers })).json()) as { data: { url: string; filename: string } };
  t.equal(stream.data.filename, filename, 'non-ASCII: the stream JSON names it');
  const played = await fetch(stream.data.url, { headers: { Range: 'bytes=0-99' } });
  t.equal(played.status, 206, 'non-ASCII: the stream URL plays');
  t.equal(played.headers.get('content-disposition'), dispositionHeader('inline', filename), 'non-ASCII: inline Content-Disposition');
  t.ok(Buffer.from(await played.arrayBuffer()).equals(wav.subarray(0, 100)), 'non-ASCII: bytes 0-99');
  const saved = await fetch(`${d.url}/api/calls/${named}/recording/download`, { headers });
  t.equal(saved.status, 200, 'non-ASCII: download');
  t.equal(saved.headers.get('content-disposition'), dispositionHeader('attachment', filename), 'non-ASCII: attachment Content-Disposition');
  t.ok(Buffer.from(await saved.arrayBuffer()).equals(wav), 'non-ASCII: download byte-exact');
}
