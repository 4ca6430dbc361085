/**
 * A real Chromium doing what a front-end developer does with the recording API
 * (recording-api.txt, "Frontend Usage Examples"), from a page on another origin than the daemon:
 * fetch the stream URL, play and seek it in an HTML5 Audio element, download the file as a blob,
 * and be refused by CORS on an origin the daemon does not list.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { AuditRow } from '../src/stores/types.js';
import { chromiumOrFail, servePage, type PageServer } from './helpers/browser.js';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const ORG = 'org_123';
const SID = 'call_abc123';
const TO = '+15559876543';
const FILENAME = `recording_${TO}.wav`;
const wav = makeWav(60);
const wavSha256 = createHash('sha256').update(wav).digest('hex');

const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>recordings</title></head><body><h1>Call recording</h1></body></html>';

/**
 * The browser globals the page functions use. tsconfig has no DOM lib (this is a Node project);
 * these page functions are serialized by playwright and run in Chromium, where they exist.
 */
interface PageAudio {
  src: string;
  controls: boolean;
  muted: boolean;
  preload: string;
  duration: number;
  currentTime: number;
  error: { code: number; message: string } | null;
  play(): Promise<void>;
  pause(): void;
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}
interface PageAnchor {
  href: string;
  download: string;
  click(): void;
}
interface PageWindow {
  Audio: new (src?: string) => PageAudio;
  URL: { createObjectURL(blob: Blob): string; revokeObjectURL(url: string): void };
  document: {
    createElement(tag: 'a'): PageAnchor;
    createElement(tag: 'audio'): PageAudio;
    body: { append(node: unknown): void };
  };
}

interface PageArgs {
  api: string;
  sid: string;
  headers: Record<string, string>;
}

/**
 * Resolves when `type` fires on `target` and `until()` holds; rejects on the element's `error`
 * event or after `ms`. Defined as a string and installed in the page, since page functions are
 * serialized on their own.
 */
const WAIT_FOR_SOURCE = `window.waitFor = (target, type, ms, until = () => true) =>
  new Promise((resolve, reject) => {
    const done = (fn) => { clearTimeout(timer); target.removeEventListener(type, onEvent); target.removeEventListener('error', onError); fn(); };
    const onEvent = () => { if (until()) done(resolve); };
    const onError = () => done(() => reject(new Error('media error ' + (target.error ? target.error.code + ' ' + target.error.message : '?'))));
    const timer = setTimeout(() => done(() => reject(new Error('timed out waiting for ' + type + ' (currentTime ' + target.currentTime + ')'))), ms);
    target.addEventListener(type, onEvent);
    target.addEventListener('error', onError);
  });`;
type WaitFor = (target: PageAudio, type: string, ms: number, until?: () => boolean) => Promise<void>;

async function openPage(browser: Browser, origin: string): Promise<Page> {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (err) => t.comment(`page error: ${err.message}`));
  await page.addInitScript(WAIT_FOR_SOURCE);
  await page.goto(`${origin}/`);
  return page;
}

t.test('Chromium plays, seeks and downloads a recording from another origin', { timeout: 120_000 }, async (t) => {
  const browser = await chromiumOrFail(t);
  if (!browser) return;
  const servers: PageServer[] = [];
  let d: Daemon | undefined;
  let shots: string | undefined;
  t.teardown(async () => {
    await browser.close().catch(() => {});
    for (const s of servers) await s.close();
    await d?.stop();
    if (shots) await rm(shots, { recursive: true, force: true });
  });
  shots = await mkdtemp(join(tmpdir(), 'recproxy-browser-'));

  const app = await servePage(PAGE);
  const elsewhere = await servePage(PAGE);
  servers.push(app, elsewhere);
  t.not(app.origin, elsewhere.origin);

  d = await startDaemon({ RECPROXY_CORS_ORIGINS: app.origin });
  t.not(app.origin, d.url, 'the page and the API are different origins');
  await d.addCall({ org: ORG, sid: SID, to: TO, bytes: wav });
  const args: PageArgs = { api: d.url, sid: SID, headers: d.headers(ORG) };
  const mediaPrefix = `${d.url}/media/`;

  // The daemon's side of every /media request: the Range it asked for and the status answered
  // (read when asserting, since a player may still hold a response open).
  const mediaHits: { range: string | undefined; res: ServerResponse }[] = [];
  d.app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/media/')) mediaHits.push({ range: req.headers.range, res });
  });
  const describeHits = () =>
    mediaHits.map((h) => `${h.range ?? 'no Range'} → ${h.res.headersSent ? h.res.statusCode : 'pending'}${h.res.writableFinished ? '' : ' (not finished)'}`).join(', ');

  await t.test('stream: Audio(data.url) loads 60 s, seeks to 45 s and plays on', async (t) => {
    const page = await openPage(browser, app.origin);
    // The requests the media element makes, as the browser sent them.
    const media: Promise<{ type: string; range: string | null; status: number | null }>[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(mediaPrefix)) return;
      media.push(
        (async () => {
          const range = await req.headerValue('range');
          const res = await req.response().catch(() => null);
          return { type: req.resourceType(), range, status: res ? res.status() : null };
        })(),
      );
    });

    const result = await page.evaluate(async ({ api, sid, headers }: PageArgs) => {
      const w = globalThis as unknown as PageWindow & { waitFor: WaitFor };
      // As in recording-api.txt: get the URL, hand it to an Audio element.
      const response = await fetch(`${api}/api/calls/${sid}/recording/stream`, { headers });
      const { data } = (await response.json()) as { data: { url: string; content_type: string; filename: string } };
      const audio = new w.Audio(data.url);
      audio.muted = true;
      await w.waitFor(audio, 'loadedmetadata', 30_000);
      const duration = audio.duration;

      const seeked = w.waitFor(audio, 'seeked', 30_000);
      audio.currentTime = 45;
      await seeked;
      const afterSeek = audio.currentTime;

      const advanced = w.waitFor(audio, 'timeupdate', 30_000, () => audio.currentTime > 45.2);
      await audio.play();
      await advanced;
      audio.pause();
      return { status: response.status, data, duration, afterSeek, playedTo: audio.currentTime };
    }, args);

    t.equal(result.status, 200);
    t.equal(result.data.content_type, 'audio/wav');
    t.equal(result.data.filename, FILENAME);
    t.ok(result.data.url.startsWith(mediaPrefix), 'a /media URL on the daemon');
    t.ok(Math.abs(result.duration - 60) < 0.1, `duration ${result.duration} ≈ 60 s`);
    t.ok(Math.abs(result.afterSeek - 45) < 0.1, `seeked to ${result.afterSeek}`);
    t.ok(result.playedTo > 45.2, `played on past the seek point, to ${result.playedTo}`);

    const seen = await Promise.all(media);
    t.comment(`browser media requests: ${seen.map((r) => `${r.type} ${r.range ?? 'no Range'} → ${r.status}`).join(', ')}`);
    t.comment(`daemon media requests: ${describeHits()}`);
    t.ok(seen.some((r) => r.type === 'media' && r.range !== null && r.status === 206), 'the audio element sent Range and got 206');
    t.ok(
      mediaHits.some((h) => h.range !== undefined && h.res.headersSent && h.res.statusCode === 206),
      'the daemon answered a ranged media request with 206',
    );
    const ok = (status: number | null) => status === 200 || status === 206 || status === 304;
    t.ok(mediaHits.every((h) => !h.res.headersSent || ok(h.res.statusCode)), 'no media request failed');

    // What a custom player (fetch + Range) does for a seek: the bytes at 45 s, from the page.
    // `no-store`: otherwise Chromium revalidates the copy the audio element left in its cache
    // (If-None-Match), the daemon rightly answers 304, and the page gets its 206 from the cache.
    const at45 = 44 + 45 * 8000 * 2;
    const ranged = await page.evaluate(
      async ({ url, from }: { url: string; from: number }) => {
        const response = await fetch(url, {
          cache: 'no-store', // the browser's RequestInit; Node's type has no `cache`
          headers: { Range: `bytes=${from}-${from + 15999}` },
        } as RequestInit);
        const bytes = new Uint8Array(await response.arrayBuffer());
        return {
          status: response.status,
          contentRange: response.headers.get('Content-Range'),
          length: bytes.length,
          bytes: Array.from(bytes.subarray(0, 64)),
        };
      },
      { url: result.data.url, from: at45 },
    );
    t.equal(ranged.status, 206, 'a ranged fetch of the seek point answers 206');
    t.equal(ranged.contentRange, `bytes ${at45}-${at45 + 15999}/${wav.length}`, 'Content-Range is exposed and exact');
    t.equal(ranged.length, 16000);
    t.same(ranged.bytes, Array.from(wav.subarray(at45, at45 + 64)), 'the bytes at 45 s');
    await page.context().close();

    // The access audit: buffered, so wait for the ranged fetch's row to land.
    let reads: AuditRow[] = [];
    for (let i = 0; i < 50; i++) {
      reads = (await d!.ctx.audit.query({ sid: SID, order: 'asc' })).filter((r) => r.action === 'media');
      if (reads.some((r) => r.status === 206 && r.bytes === 16000)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.comment(`audited media reads: ${reads.map((r) => `${r.status} ${r.bytes}B`).join(', ')}`);
    t.ok(reads.some((r) => r.status === 206 && r.bytes === 16000), 'the access audit holds the ranged (206) read of the seek point');
    t.ok(reads.every((r) => ok(r.status)), 'every audited media read succeeded');
  });

  await t.test('download: blob is byte-exact, Content-Disposition readable through CORS', async (t) => {
    const page = await openPage(browser, app.origin);
    const result = await page.evaluate(async ({ api, sid, headers }: PageArgs) => {
      const response = await fetch(`${api}/api/calls/${sid}/recording/download`, { headers });
      const disposition = response.headers.get('Content-Disposition');
      const contentType = response.headers.get('Content-Type');
      const blob = await response.blob();
      const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
      const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
      return { status: response.status, disposition, contentType, size: blob.size, sha256 };
    }, args);
    t.equal(result.status, 200);
    t.equal(result.disposition, `attachment; filename="${FILENAME}"`, 'Content-Disposition is exposed');
    t.equal(result.contentType, 'audio/wav');
    t.equal(result.size, wav.length, 'blob size is the WAV length');
    t.equal(result.sha256, wavSha256, 'blob SHA-256 equals the WAV');

    // The doc's "create download link" step, caught as a real browser download.
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      page.evaluate(
        async ({ api, sid, headers, to }: PageArgs & { to: string }) => {
          const w = globalThis as unknown as PageWindow;
          const response = await fetch(`${api}/api/calls/${sid}/recording/download`, { headers });
          const blob = await response.blob();
          const url = w.URL.createObjectURL(blob);
          const a = w.document.createElement('a');
          a.href = url;
          a.download = `recording_${to}.wav`;
          a.click();
          w.URL.revokeObjectURL(url);
        },
        { ...args, to: TO },
      ),
    ]);
    t.equal(download.suggestedFilename(), FILENAME);
    const saved = await readFile(await download.path());
    t.equal(createHash('sha256').update(saved).digest('hex'), wavSha256, 'the saved file is the WAV');
    await page.context().close();
  });

  await t.test('CORS: a page on an origin not in RECPROXY_CORS_ORIGINS is refused', async (t) => {
    const page = await openPage(browser, elsewhere.origin);
    const result = await page.evaluate(async ({ api, sid, headers }: PageArgs) => {
      try {
        const response = await fetch(`${api}/api/calls/${sid}/recording/stream`, { headers });
        return { blocked: false, status: response.status, name: '', message: '' };
      } catch (err) {
        return { blocked: true, status: 0, name: (err as Error).name, message: (err as Error).message };
      }
    }, args);
    t.equal(result.blocked, true, 'fetch rejected');
    t.equal(result.name, 'TypeError', `a network TypeError (${result.message})`);
    await page.context().close();
  });

  await t.test('screenshot: <audio controls> at the seeked position', async (t) => {
    const page = await openPage(browser, app.origin);
    const at = await page.evaluate(async ({ api, sid, headers }: PageArgs) => {
      const w = globalThis as unknown as PageWindow & { waitFor: WaitFor };
      const response = await fetch(`${api}/api/calls/${sid}/recording/stream`, { headers });
      const { data } = (await response.json()) as { data: { url: string } };
      const audio = w.document.createElement('audio');
      audio.controls = true;
      audio.preload = 'auto';
      audio.src = data.url;
      w.document.body.append(audio);
      await w.waitFor(audio, 'loadedmetadata', 30_000);
      const seeked = w.waitFor(audio, 'seeked', 30_000);
      audio.currentTime = 45;
      await seeked;
      return audio.currentTime;
    }, args);
    t.ok(Math.abs(at - 45) < 0.1, `the control sits at ${at} s`);
    t.comment(`daemon media requests so far: ${describeHits()}`);
    const file = join(shots!, 'audio-controls.png');
    await page.screenshot({ path: file });
    t.ok((await stat(file)).size > 0, 'the PNG is not empty');
    t.ok((await readFile(file)).subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
    await page.context().close();
  });
});
