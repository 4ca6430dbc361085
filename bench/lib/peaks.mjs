/**
 * The `peaks` scenario: a 2-hour 16-bit stereo 16 kHz WAV (about 460 MB: left channel a tone at
 * 12000, right at 6000), written to the bench's temp dir as it is made (one second at a time, never
 * whole), registered with the CLI (`recproxy calls add`), then ONE request for its peaks to a
 * freshly started recproxy on local storage: the first, so the daemon reads and reduces the whole
 * recording (src/calls/peaks.ts). Its peak RSS (sampled, and the kernel's VmHWM), the time the
 * request took, and the answer checked (1000 pairs of ±12000 over 7200 s).
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cliAdd } from './fixtures.mjs';
import { oneOperation, rssTree, sampleProcess } from './proc.mjs';

const SECONDS = 2 * 60 * 60;
const RATE = 16000;
const CHANNELS = 2;
export const PEAKS_WAV_BYTES = 44 + SECONDS * RATE * CHANNELS * 2;

/** The 44-byte header of 16-bit stereo 16 kHz PCM with `data` bytes. */
function header(data) {
  const head = Buffer.alloc(44);
  head.write('RIFF', 0, 'ascii');
  head.writeUInt32LE(36 + data, 4);
  head.write('WAVEfmt ', 8, 'ascii');
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20);
  head.writeUInt16LE(CHANNELS, 22);
  head.writeUInt32LE(RATE, 24);
  head.writeUInt32LE(RATE * CHANNELS * 2, 28);
  head.writeUInt16LE(CHANNELS * 2, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36, 'ascii');
  head.writeUInt32LE(data, 40);
  return head;
}

/** Writes the 2-hour WAV to `file`, one second at a time, honouring backpressure. */
async function writeWav(file) {
  const out = createWriteStream(file);
  out.write(header(PEAKS_WAV_BYTES - 44));
  const second = Buffer.alloc(RATE * CHANNELS * 2);
  for (let i = 0; i < RATE; i++) {
    const s = Math.sin((2 * Math.PI * 1000 * i) / RATE);
    second.writeInt16LE(Math.round(12000 * s), i * 4);
    second.writeInt16LE(Math.round(6000 * s), i * 4 + 2);
  }
  for (let n = 0; n < SECONDS; n++) if (!out.write(second)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}


/**
 * Makes and registers the WAV (in `dir`, with the CLI's environment `env`), then asks `server`
 * (a running recproxy on that index and store) for its peaks with `headers`: the run's row.
 */
export async function measurePeaks({ server, headers, env, dir, org, sid }) {
  const file = join(dir, 'bench-2h.wav');
  await writeWav(file);
  try {
    await cliAdd(env, { org, sid, to: '+15550000000', file });
  } finally {
    await rm(file, { force: true }); // the stored copy is what is read
  }
  const rssBefore = rssTree(server.pid);
  const sampler = sampleProcess(server.pid, 50);
  const started = process.hrtime.bigint();
  let res;
  let body;
  try {
    res = await fetch(`${server.url}/api/calls/${sid}/recording/peaks?points=1000`, { headers });
    body = await res.text();
  } finally {
    sampler.stop();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sampled = sampler.stop();
  if (res.status !== 200) throw new Error(`peaks answered ${res.status}: ${body.slice(0, 300)}`);
  const peaks = JSON.parse(body);
  const right = peaks.length === 1000 && peaks.duration === SECONDS && peaks.data.every((v, i) => v === (i % 2 ? 12000 : -12000));
  if (!right) throw new Error(`unexpected peaks: ${body.slice(0, 300)}`);
  return {
    ...oneOperation({ pid: server.pid, bytes: PEAKS_WAV_BYTES, seconds, sampled }),
    /** The daemon's RSS just before the request, and the sampled peak during it. */
    rssBeforeMiB: rssBefore / 2 ** 20,
    sampledPeakRssMiB: sampled.peakRssBytes / 2 ** 20,
    peaksMatch: 1,
  };
}
