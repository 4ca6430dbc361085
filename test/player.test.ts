/**
 * The player page (player/, served by src/routes/player.ts) in a real Chromium against a real
 * daemon: sign in, list, search and page through the calls, play, seek, download, the keys,
 * errors in words, an expired stream URL refreshed during playback, the waveform, and the
 * <recproxy-player> element embedded in a page of another origin. Assertions are on what the
 * browser did: its requests and their statuses, the audio element's currentTime, saved bytes.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtemp, readFile, readdir, rm, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page, Response } from 'playwright-core';
import { chromiumOrFail, type PageServer } from './helpers/browser.js';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { makeMp3 } from './helpers/mp3.js';
import { makeWav } from './helpers/wav.js';

const ORG = 'org_123';
const SID = 'call_abc123';
const TO = '+15559876543';
const FILENAME = `recording_${TO}.wav`;
/**
 * The 60 s recording: 96 kHz (11.5 MB), so that the bytes at 30 s are further than Chromium reads
 * ahead of the playhead (a few MB): a seek there is a new ranged request.
 */
const RATE = 96000;
const long = speechLike(makeWav(60, RATE), RATE);
const short = makeWav(3);
/** How many calls the paging test lists (besides the ones above). */
const MANY = 120;
const WAIT = 30_000;

interface Seen {
  method: string;
  url: string;
  status: number;
  range: string | undefined;
  authorization: string | undefined;
}

interface Opened {
  page: Page;
  /** Every response the page got, with its request's Range and Authorization. */
  seen: Seen[];
  /** Resolves once every response seen so far has been recorded. */
  settled(): Promise<void>;
}

/** A page in a context of its own (its own sessionStorage), UTC, downloads on. */
async function open(browser: Browser, url: string, extraHTTPHeaders?: Record<string, string>): Promise<Opened> {
  const context = await browser.newContext({ acceptDownloads: true, timezoneId: 'UTC', viewport: VIEWPORT, extraHTTPHeaders });
  const page = await context.newPage();
  page.on('pageerror', (err) => t.comment(`page error: ${err.message}`));
  const seen: Seen[] = [];
  const pending: Promise<void>[] = [];
  page.on('response', (response: Response) => {
    pending.push(
      (async () => {
        const headers = await response.request().allHeaders().catch(() => ({}) as Record<string, string>);
        seen.push({ method: response.request().method(), url: response.url(), status: response.status(), range: headers.range, authorization: headers.authorization });
      })(),
    );
  });
  await page.goto(url);
  return { page, seen, settled: async () => void (await Promise.all(pending)) };
}

/** Signs in on the player page and waits for the first page of calls. */
async function signIn(page: Page, org: string, key: string | null, expectRows = true): Promise<void> {
  await page.fill('#org', org);
  if (key !== null) await page.fill('#key', key);
  await page.click('#signin-button');
  if (expectRows) await page.waitForSelector('#calls tbody tr', { timeout: WAIT });
}

/** An expression about the player's audio element, evaluated in the page. */
function audio<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(`(() => { const audio = document.querySelector('#player').audio; return ${expression}; })()`) as Promise<T>;
}

/** Waits until an expression about the audio element holds. */
async function audioUntil(page: Page, expression: string, timeout = WAIT): Promise<void> {
  await page.waitForFunction(`(() => { const audio = document.querySelector('#player').audio; return ${expression}; })()`, undefined, { timeout, polling: 100 });
}

/** The sids of the listed rows, in order. */
function listed(page: Page): Promise<string[]> {
  return page.$$eval('#calls tbody tr', (trs) => trs.map((tr) => (tr as unknown as { dataset: { sid: string } }).dataset.sid));
}

/** Waits for the listing to settle on `n` rows. */
async function rowsUntil(page: Page, n: number): Promise<void> {
  await page.waitForFunction(`document.querySelectorAll('#calls tbody tr').length === ${n}`, undefined, { timeout: WAIT, polling: 100 });
}

/** The tone of makeWav under a loudness that comes and goes, as a voice's does (a waveform worth looking at). */
function speechLike(wav: Buffer, rate: number): Buffer {
  for (let i = 0; i < (wav.length - 44) / 2; i++) {
    const s = i / rate;
    const envelope = Math.abs(Math.sin(Math.PI * s * 1.3)) * (0.35 + 0.65 * Math.abs(Math.sin(Math.PI * s / 9))) * (Math.floor(s / 4) % 3 === 2 ? 0.15 : 1);
    wav.writeInt16LE(Math.round(wav.readInt16LE(44 + i * 2) * envelope), 44 + i * 2);
  }
  return wav;
}

/** Whether the audio element holds the media at `second` (an expression for `audio`). */
const BUFFERED = (second: number) => `[...Array(audio.buffered.length).keys()].some((i) => audio.buffered.start(i) <= ${second} && audio.buffered.end(i) >= ${second})`;

/**
 * In the page: how many pixels of the canvases under an element (its shadow roots' too) are not
 * transparent.
 */
const CANVAS_INK = `((root) => {
  const canvases = [];
  const walk = (node) => {
    if (node.tagName === 'CANVAS') canvases.push(node);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children) walk(child);
  };
  walk(root);
  let ink = 0;
  for (const canvas of canvases) {
    if (!canvas.width || !canvas.height) continue;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) ink++;
  }
  return ink;
})`;
const VIEWPORT = { width: 1200, height: 720 };

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

t.test("the page's scripts type-check as the browser runs them (// @ts-check, JSDoc)", async (t) => {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(process.execPath, [tsc, '-p', fileURLToPath(new URL('player-tsconfig.json', import.meta.url))], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
  t.equal(run.code, 0, run.out || 'no type errors');
});

t.test('the player page in Chromium', { timeout: 600_000 }, async (t) => {
  const browser = await chromiumOrFail(t);
  if (!browser) return;
  const servers: PageServer[] = [];
  const daemons: Daemon[] = [];
  const shots = await mkdtemp(join(tmpdir(), 'recproxy-player-'));
  t.teardown(async () => {
    await browser.close().catch(() => {});
    for (const s of servers) await s.close();
    for (const d of daemons) await d.stop();
    await rm(shots, { recursive: true, force: true });
  });

  // Another site's page, embedding the player from the daemon (its origin is listed for CORS).
  let embedHtml = '';
  const site = await servePageWith(() => embedHtml);
  servers.push(site);

  const d = await startDaemon({ RECPROXY_CORS_ORIGINS: site.origin });
  daemons.push(d);
  const key = d.headers(ORG).Authorization!.slice('Bearer '.length);
  // 120 calls on 2026-11-01 (a minute apart), then the 60 s call and a call whose recording is gone on 2026-11-28.
  const registrations: Promise<void>[] = [];
  for (let i = 1; i <= MANY; i++) {
    const n = String(i).padStart(3, '0');
    const minute = String(i % 60).padStart(2, '0');
    const hour = String(8 + Math.floor(i / 60)).padStart(2, '0');
    registrations.push(d.addCall({ org: ORG, sid: `call_p${n}`, to: `+1555000${n}`, from: '+15551230000', startedAt: `2026-11-01T${hour}:${minute}:00Z`, bytes: short, name: `p${n}` }));
  }
  await Promise.all(registrations);
  await d.addCall({ org: ORG, sid: 'call_mp3', to: '+15550002222', startedAt: '2026-11-27T08:00:00Z', bytes: makeMp3(3), name: 'mp3' });
  await d.addCall({ org: ORG, sid: 'call_gone', to: '+15550001111', startedAt: '2026-11-28T08:00:00Z', bytes: short, name: 'gone' });
  await d.addCall({ org: ORG, sid: SID, to: TO, from: '+15551234567', startedAt: '2026-11-28T09:30:00Z', bytes: long, name: 'long' });
  // call_gone's bytes leave storage behind the index's back.
  const orgDir = join(d.dir, 'recordings', ORG);
  for (const file of await readdir(orgDir)) if (file.startsWith('call_gone')) await unlink(join(orgDir, file));

  // The daemon's side of every /media request: the Range asked for and the status answered.
  const mediaHits: { range: string | undefined; res: ServerResponse }[] = [];
  d.app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/media/')) mediaHits.push({ range: req.headers.range, res });
  });

  const player = `${d.url}/player/`;

  await t.test('served: /player redirects to /player/, the files and wavesurfer.js load, none is in the OpenAPI document', async (t) => {
    const redirect = await fetch(`${d.url}/player`, { redirect: 'manual' });
    t.equal(redirect.status, 301);
    t.equal(redirect.headers.get('location'), '/player/');
    for (const [path, type] of [
      ['', 'text/html'],
      ['app.js', 'application/javascript'],
      ['embed.js', 'application/javascript'],
      ['api.js', 'application/javascript'],
      ['player.css', 'text/css'],
      ['vendor/wavesurfer.esm.js', 'application/javascript'],
    ] as const) {
      const res = await fetch(`${player}${path}`);
      t.equal(res.status, 200, `/player/${path}`);
      t.match(res.headers.get('content-type'), type, `/player/${path} is ${type}`);
    }
    const vendored = await (await fetch(`${player}vendor/wavesurfer.esm.js`)).text();
    t.equal(vendored, await readFile(new URL('../node_modules/wavesurfer.js/dist/wavesurfer.esm.js', import.meta.url), 'utf8'), 'the installed wavesurfer.js');
    t.equal((await fetch(`${player}nothing.js`)).status, 404);
    for (const path of ['vendor/wavesurfer.esm.d.ts', '.hidden.js', 'vendor/', '..%2Fpackage.json']) t.equal((await fetch(`${player}${path}`)).status, 404, `/player/${path}: not served`);
    const doc = (await (await fetch(`${d.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    t.same(Object.keys(doc.paths).filter((p) => p.startsWith('/player')), [], 'the page is not part of the API');
  });

  await t.test('api.js: file names from Content-Disposition (RFC 6266/5987), peaks for wavesurfer, errors in words', async (t) => {
    const { page: p } = await open(browser, player);
    const got = (await p.evaluate(`import('./api.js').then((m) => ({
      names: [
        'attachment; filename="recording_+15559876543.wav"',
        "attachment; filename=\\"recording_.wav\\"; filename*=UTF-8''recording_%E2%82%AC%20x.wav",
        "attachment; filename*=utf-8''caf%C3%A9.mp3",
        "attachment; filename*=iso-8859-1''caf%E9.mp3",
        'attachment; filename=plain.wav',
        'attachment; filename="a \\\\"quoted\\\\" name.wav"',
        'attachment; filename="../../etc/passwd"',
        "attachment; filename*=UTF-8''%E0%A4%A.wav; filename=\\"fallback.wav\\"",
        'inline',
        null,
      ].map(m.dispositionFilename),
      peaks: (() => { const w = m.wavesurferPeaks({ version: 2, channels: 1, sample_rate: 8000, samples_per_pixel: 80, bits: 16, length: 2, duration: 0.02, data: [-32768, 32767, -16384, 0] }); return { peaks: w.peaks.map((c) => Array.from(c)), duration: w.duration }; })(),
      words: ['UNAUTHORIZED', 'ORG_FORBIDDEN', 'INSUFFICIENT_SCOPE', 'TOKEN_EXPIRED', 'CALL_NOT_FOUND', 'RECORDING_NOT_FOUND', 'WAVEFORM_UNAVAILABLE', 'RATE_LIMITED', 'SERVER_BUSY', 'VALIDATION_ERROR', 'NETWORK', 'ODD']
        .map((code) => m.describeError(new m.ApiError(code === 'NETWORK' ? 0 : 400, code, 'the message', 7), { org: 'org_9' }))
        .concat([m.describeError(new Error('boom'))]),
    }))`)) as { names: (string | null)[]; peaks: { peaks: number[][]; duration: number }; words: string[] };
    t.same(got.names, [
      'recording_+15559876543.wav',
      'recording_€ x.wav',
      'café.mp3',
      'café.mp3',
      'plain.wav',
      'a "quoted" name.wav',
      'passwd',
      'fallback.wav',
      null,
      null,
    ]);
    t.same(got.peaks.peaks, [[-1, 32767 / 32768, -0.5, 0]].map((c) => c.map((v) => Math.fround(v))), 'one channel, min/max pairs in -1..1');
    t.equal(got.peaks.duration, 0.02);
    t.match(got.words[0], 'The API key was refused — sign in again.');
    t.match(got.words[1], /org_9 \(403\)/);
    t.match(got.words[2], /scope/);
    t.match(got.words[3], /link was refused/);
    t.match(got.words[4], /no such call in the organization org_9 \(404\)/);
    t.match(got.words[5], /missing from storage \(404\)/);
    t.match(got.words[6], /No waveform for this format; the recording still plays/);
    t.match(got.words[7], /wait 7 seconds/);
    t.match(got.words[8], /busy/);
    t.match(got.words[9], /refused: the message/);
    t.match(got.words[10], /could not be reached \(the message\)/);
    t.match(got.words[11], /answered 400 ODD: the message/);
    t.match(got.words[12], /went wrong: boom/);
    await p.context().close();
  });

  await t.test('sign in, list newest first, the key only in the Authorization header and sessionStorage, sign out', async (t) => {
    const { page, seen, settled } = await open(browser, player);
    await signIn(page, ORG, key);
    await rowsUntil(page, 50);
    const sids = await listed(page);
    t.same(sids.slice(0, 5), [SID, 'call_gone', 'call_mp3', `call_p${MANY}`, `call_p${MANY - 1}`], 'newest first');
    await settled();
    const lists = seen.filter((s) => s.url.startsWith(`${d.url}/api/calls?`));
    t.equal(lists.length, 1, 'one listing request');
    t.equal(lists[0]!.status, 200);
    t.equal(new URL(lists[0]!.url).searchParams.get('limit'), '50');
    t.equal(lists[0]!.authorization, `Bearer ${key}`, 'the key goes in the Authorization header');
    t.notOk(seen.some((s) => s.url.includes(key)) || page.url().includes(key), 'the key is in no URL');
    t.equal(await page.evaluate(`sessionStorage.getItem('recproxy.key')`), key, 'kept in sessionStorage');
    t.equal(await page.inputValue('#key'), '', 'and not left in the field');
    t.equal(await page.getAttribute('#key', 'type'), 'password');

    await page.reload();
    await page.waitForSelector('#calls tbody tr', { timeout: WAIT });
    t.equal(await page.inputValue('#org'), ORG, 'the organization is remembered');
    t.equal((await listed(page))[0], SID, 'still signed in after a reload');

    await page.click('#signout');
    t.equal(await page.evaluate(`sessionStorage.getItem('recproxy.key')`), null, 'sign out forgets the key');
    t.equal(await page.isVisible('#calls-section'), false, 'and hides the calls');
    await page.context().close();
  });

  await t.test('search by number and by date range narrows the list; paging reaches the 120th call', async (t) => {
    const { page, seen, settled } = await open(browser, player);
    await signIn(page, ORG, key);
    await page.fill('#search-to', TO);
    await page.click('#search button[type=submit]');
    await rowsUntil(page, 1);
    t.same(await listed(page), [SID], 'by number: the one call to it');

    await page.fill('#search-to', '+1555000*');
    await page.click('#search button[type=submit]');
    await rowsUntil(page, 50);
    t.notOk((await listed(page)).includes(SID), 'a prefix: the calls to +1555000…');

    await page.fill('#search-to', '');
    await page.fill('#search-since', '2026-11-28');
    await page.fill('#search-until', '2026-11-28');
    await page.click('#search button[type=submit]');
    await rowsUntil(page, 2);
    t.same(await listed(page), [SID, 'call_gone'], 'by date: the calls of 28 November');
    await settled();
    const last = new URL(seen.filter((s) => s.url.startsWith(`${d.url}/api/calls?`)).at(-1)!.url);
    t.equal(last.searchParams.get('since'), '2026-11-28T00:00:00.000Z');
    t.equal(last.searchParams.get('until'), '2026-11-29T00:00:00.000Z', 'until the end of the day');

    await page.click('#search button[type=reset]');
    await rowsUntil(page, 50);
    await page.click('#more');
    await rowsUntil(page, 100);
    t.equal(await page.isVisible('#more'), true, 'more to come');
    await page.click('#more');
    await rowsUntil(page, MANY + 3);
    const all = await listed(page);
    t.equal(all.at(-1), 'call_p001', 'the last row is the 120th of the 120 calls (the oldest)');
    t.equal(new Set(all).size, MANY + 3, 'no call twice');
    t.equal(await page.isVisible('#more'), false, 'no further page');
    await settled();
    const pages = seen.filter((s) => s.url.startsWith(`${d.url}/api/calls?`) && new URL(s.url).searchParams.has('cursor'));
    t.equal(pages.length, 2, 'two more pages, each by its cursor');
    t.ok(pages.every((p) => p.status === 200));
    await page.context().close();
  });

  // The page and the player that later tests use: signed in, the 60 s call playing.
  const main = await open(browser, player);
  const { page } = main;
  await signIn(page, ORG, key);

  await t.test('play: selecting a call gets a stream URL and the audio element plays it', async (t) => {
    await page.click(`#calls tbody tr[data-sid="${SID}"]`);
    await audioUntil(page, 'audio.currentTime > 0.5 && !audio.paused');
    await main.settled();
    const streams = main.seen.filter((s) => s.url === `${d.url}/api/calls/${SID}/recording/stream`);
    t.equal(streams.length, 1, 'one stream URL asked for');
    t.equal(streams[0]!.status, 200);
    const src = await audio<string>(page, 'audio.src');
    t.ok(src.startsWith(`${d.url}/media/`), 'the audio element plays the /media URL');
    t.ok(Math.abs((await audio<number>(page, 'audio.duration')) - 60) < 0.1, 'a 60 s recording');
    t.ok(main.seen.some((s) => s.url === src && (s.status === 200 || s.status === 206)), 'the media URL answered');
  });

  await t.test('seek to 30 s: the element plays on from there, through a ranged request answered 206', async (t) => {
    await main.settled();
    const before = main.seen.length;
    t.equal(await audio(page, BUFFERED(30)), false, '30 s is not buffered yet');
    await audio(page, '(audio.currentTime = 30)');
    await audioUntil(page, 'audio.currentTime > 30.2 && !audio.seeking');
    const at = await audio<number>(page, 'audio.currentTime');
    t.ok(at >= 30 && at < 40, `currentTime ${at} ≈ 30`);
    await main.settled();
    const ranged = main.seen.filter((s) => s.url.startsWith(`${d.url}/media/`) && s.range !== undefined && s.status === 206);
    t.comment(`media requests: ${main.seen.filter((s) => s.url.startsWith(`${d.url}/media/`)).map((s) => `${s.range ?? 'no Range'} → ${s.status}`).join(', ')}`);
    t.ok(ranged.length > 0, 'a ranged request answered 206');
    const at30 = 44 + 30 * RATE * 2;
    // Where a range starts: the seek's request asks for the bytes near 30 s (Chromium rounds to its blocks).
    const start = (range: string | undefined) => Number(/^bytes=(\d+)-/.exec(range ?? '')?.[1] ?? -1);
    const nearSeek = (range: string | undefined) => start(range) > 0 && Math.abs(start(range) - at30) < 2 * 1024 * 1024;
    t.ok(
      main.seen.slice(before).some((s) => s.url.startsWith(`${d.url}/media/`) && nearSeek(s.range) && s.status === 206),
      `after the seek the browser asked for the bytes near 30 s (${at30}) and got 206`,
    );
    t.ok(
      mediaHits.some((h) => nearSeek(h.range) && h.res.statusCode === 206),
      `the daemon answered that ranged request with 206 (${mediaHits.map((h) => `${h.range} → ${h.res.statusCode}`).join(', ')})`,
    );
  });

  await t.test('download: the saved file is the recording, under the API name', async (t) => {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.click('#player >> .download')]);
    t.equal(download.suggestedFilename(), FILENAME, 'the name from Content-Disposition');
    const saved = await readFile((await download.path())!);
    t.equal(saved.length, long.length);
    t.ok(saved.equals(long), 'the saved bytes are the recording');
    await main.settled();
    const got = main.seen.filter((s) => s.url === `${d.url}/api/calls/${SID}/recording/download`);
    t.equal(got.length, 1);
    t.equal(got[0]!.status, 200);
    t.equal(got[0]!.authorization, `Bearer ${key}`, 'the key in the header, not the URL');
  });

  await t.test('keys: space plays and pauses, arrows seek 5 s, never while typing in a field', async (t) => {
    await page.click('h1');
    if (!(await audio<boolean>(page, 'audio.paused'))) {
      await page.keyboard.press('Space');
      await audioUntil(page, 'audio.paused');
    }
    t.equal(await audio(page, 'audio.paused'), true, 'space paused');
    await audio(page, '(audio.currentTime = 20)');
    await audioUntil(page, '!audio.seeking && Math.abs(audio.currentTime - 20) < 0.01');
    await page.keyboard.press('ArrowRight');
    await audioUntil(page, '!audio.seeking && Math.abs(audio.currentTime - 25) < 0.01');
    t.ok(Math.abs((await audio<number>(page, 'audio.currentTime')) - 25) < 0.01, 'ArrowRight: +5 s');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await audioUntil(page, '!audio.seeking && Math.abs(audio.currentTime - 15) < 0.01');
    t.ok(Math.abs((await audio<number>(page, 'audio.currentTime')) - 15) < 0.01, 'ArrowLeft twice: -10 s');
    await page.keyboard.press('Space');
    await audioUntil(page, '!audio.paused && audio.currentTime > 15.2');
    t.equal(await audio(page, 'audio.paused'), false, 'space plays');

    await page.click('#search-to');
    await page.keyboard.type('+1 5');
    await page.keyboard.press('ArrowLeft');
    t.equal(await page.inputValue('#search-to'), '+1 5', 'the space went into the field');
    t.equal(await audio(page, 'audio.paused'), false, 'and did not pause the player');
    await page.fill('#search-to', '');
    await page.click('h1');
    await page.keyboard.press('Space');
    await audioUntil(page, 'audio.paused');
  });

  await t.test('waveform: drawn from /recording/peaks, and a click on it seeks', async (t) => {
    await main.settled();
    const before = main.seen.length;
    await page.click(`#calls tbody tr[data-sid="${SID}"]`);
    await page.waitForFunction(`${CANVAS_INK}(document.querySelector('#player').wave) > 500`, undefined, { timeout: WAIT, polling: 200 });
    await main.settled();
    const peaks = main.seen.slice(before).filter((s) => s.url.startsWith(`${d.url}/api/calls/${SID}/recording/peaks?`));
    t.equal(peaks.length, 1, 'the peaks, asked for once');
    t.equal(peaks[0]!.status, 200);
    const points = Number(new URL(peaks[0]!.url).searchParams.get('points'));
    t.ok(points >= 1 && points <= 10000, `points=${points}`);
    const ink = await page.evaluate(`${CANVAS_INK}(document.querySelector('#player').wave)`);
    t.ok((ink as number) > 500, `the canvas is drawn (${ink} pixels inked)`);

    await audioUntil(page, '!audio.paused && audio.currentTime > 0.2');
    await audio(page, 'audio.pause()');
    const box = (await page.locator('#player >> .wave').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2);
    await audioUntil(page, '!audio.seeking && audio.currentTime > 40');
    const at = await audio<number>(page, 'audio.currentTime');
    t.ok(Math.abs(at - 45) < 1.5, `a click at 75% of the waveform seeks to ${at} ≈ 45 s`);
    await audio(page, 'audio.play()');
    await audioUntil(page, `!audio.paused && audio.currentTime > ${at + 0.3}`);

    // The screenshot of the README: a call playing, with its waveform.
    const file = process.env.RECPROXY_UPDATE_SCREENSHOT === '1' ? new URL('../docs/player.png', import.meta.url).pathname : join(shots, 'player.png');
    await page.screenshot({ path: file });
    const png = await readFile(file);
    t.ok(png.subarray(0, 8).equals(PNG), 'a PNG');
    t.same([png.readUInt32BE(16), png.readUInt32BE(20)], [VIEWPORT.width, VIEWPORT.height], 'of the page, at the viewport size');
  });

  await t.test('no waveform for a format the daemon cannot decode (422), and it still plays', async (t) => {
    await main.settled();
    const before = main.seen.length;
    await page.click('#calls tbody tr[data-sid="call_mp3"]');
    const note = page.locator('#player >> .wave-note');
    await note.waitFor({ timeout: WAIT });
    t.equal(await note.textContent(), 'No waveform for this format; it still plays.');
    await audioUntil(page, '!audio.paused && audio.currentTime > 0.3');
    await main.settled();
    const peaks = main.seen.slice(before).filter((s) => s.url.startsWith(`${d.url}/api/calls/call_mp3/recording/peaks?`));
    t.same(peaks.map((s) => s.status), [422], 'the peaks endpoint answered 422');
    t.equal(await page.evaluate(`${CANVAS_INK}(document.querySelector('#player').wave)`), 0, 'no canvas drawn');
    await audio(page, 'audio.pause()');
  });

  await t.test('errors in words: a missing recording (404), a refused key (401), an organization the key does not hold (403)', async (t) => {
    await page.click('#calls tbody tr[data-sid="call_gone"]');
    const status = page.locator('#player >> .status');
    await status.filter({ hasText: 'missing from storage' }).waitFor({ timeout: WAIT });
    await main.settled();
    const gone = main.seen.filter((s) => s.url === `${d.url}/api/calls/call_gone/recording/stream`);
    t.same(gone.map((s) => s.status), [404], 'the stream endpoint answered 404');
    t.match(await status.textContent(), /recording of this call is missing from storage/);
    t.equal(await audio(page, 'audio.getAttribute("src")'), null, 'nothing to play');

    const refused = await open(browser, player);
    await signIn(refused.page, ORG, 'rpk_thisisnotakeythisisnotakeythisisnotakey00', false);
    await refused.page.locator('#message').filter({ hasText: 'sign in again' }).waitFor({ timeout: WAIT });
    t.equal(await refused.page.textContent('#message'), 'The API key was refused — sign in again.');
    await refused.settled();
    t.same(refused.seen.filter((s) => s.url.startsWith(`${d.url}/api/calls?`)).map((s) => s.status), [401], 'the listing answered 401');

    const other = await open(browser, player);
    await signIn(other.page, 'org_other', key, false);
    await other.page.locator('#message').filter({ hasText: '403' }).waitFor({ timeout: WAIT });
    t.match(await other.page.textContent('#message'), /does not give access to the organization org_other/);
    await other.settled();
    t.same(other.seen.filter((s) => s.url.startsWith(`${d.url}/api/calls?`)).map((s) => s.status), [403]);
    // Another organization, the key field left empty: the key signed in with stays.
    await signIn(other.page, ORG, null);
    t.equal(await other.page.textContent('#message'), '', 'the error is gone');
    await other.settled();
    t.same(other.seen.filter((s) => s.url.startsWith(`${d.url}/api/calls?`)).map((s) => `${s.status} ${s.authorization}`), ['403 Bearer ' + key, '200 Bearer ' + key]);
    await refused.page.context().close();
    await other.page.context().close();
  });

  await t.test('embedded: <recproxy-player> on another origin plays the call', async (t) => {
    embedHtml = await embedSnippet(d.url, key, ORG, SID);
    t.match(embedHtml, `${d.url}/player/embed.js`, 'the snippet, for this daemon');
    t.match(embedHtml, key, 'with the key');
    const { page: embedded, seen, settled } = await open(browser, `${site.origin}/`);
    t.not(site.origin, d.url, 'another origin');
    await embedded.waitForFunction(`(() => { const a = document.querySelector('recproxy-player')?.audio; return !!a && !!a.getAttribute('src'); })()`, undefined, { timeout: WAIT });
    await embedded.evaluate(`document.querySelector('recproxy-player').audio.play()`);
    await embedded.waitForFunction(`document.querySelector('recproxy-player').audio.currentTime > 0.5`, undefined, { timeout: WAIT });
    await settled();
    for (const file of ['embed.js', 'api.js', 'vendor/wavesurfer.esm.js']) {
      t.ok(seen.some((s) => s.url === `${d.url}/player/${file}` && s.status === 200), `${file} loaded from the daemon`);
    }
    const stream = seen.filter((s) => s.url === `${d.url}/api/calls/${SID}/recording/stream`);
    t.same(stream.map((s) => s.status), [200], 'the stream URL, cross-origin');
    t.equal(stream[0]!.authorization, `Bearer ${key}`);
    t.ok(seen.some((s) => s.url.startsWith(`${d.url}/media/`) && (s.status === 200 || s.status === 206)), 'the audio, from the daemon');
    const cors = await fetch(`${d.url}/player/embed.js`, { headers: { origin: site.origin } });
    t.equal(cors.headers.get('access-control-allow-origin'), site.origin, 'the module is served with CORS for the listed origin');
    await embedded.context().close();
  });

  await t.test('behind trusted-header authentication: signed in with no key, the page sends no Authorization', async (t) => {
    const f = await startDaemon({ RECPROXY_AUTH_MODE: 'trusted-header', RECPROXY_TRUSTED_ORGS_HEADER: 'x-forwarded-orgs' });
    daemons.push(f);
    await f.addCall({ org: ORG, sid: SID, to: TO, startedAt: '2026-11-28T09:30:00Z', bytes: short, name: 'short' });
    // What the authenticating proxy in front adds to every request.
    const { page: p, seen, settled } = await open(browser, `${f.url}/player/`, { 'x-forwarded-user': 'alice', 'x-forwarded-orgs': ORG });
    await signIn(p, ORG, null);
    t.match(await p.textContent('#who'), 'signed in by the proxy');
    t.same(await listed(p), [SID]);
    await p.click(`#calls tbody tr[data-sid="${SID}"]`);
    await audioUntil(p, 'audio.currentTime > 0.3');
    await settled();
    const api = seen.filter((s) => s.url.startsWith(`${f.url}/api/`));
    t.same(api.map((s) => `${new URL(s.url).pathname.split('/').pop()} ${s.status}`), ['calls 200', 'stream 200', 'peaks 200'], 'the listing, the stream URL and the peaks');
    t.notOk(seen.some((s) => s.authorization !== undefined), 'no request carried Authorization');
    t.equal(await p.evaluate(`sessionStorage.getItem('recproxy.key')`), null, 'no key kept');
    await p.context().close();
  });

  await t.test('an expired stream URL during playback is refreshed and playback goes on', async (t) => {
    // A daemon whose stream URLs live 3 s, never handed out again.
    const e = await startDaemon({ RECPROXY_STREAM_TTL: '3', RECPROXY_STREAM_URL_REUSE_SEC: '0' });
    daemons.push(e);
    await e.addCall({ org: ORG, sid: SID, to: TO, startedAt: '2026-11-28T09:30:00Z', bytes: long, name: 'long' });
    const ekey = e.headers(ORG).Authorization!.slice('Bearer '.length);
    const { page: p, seen, settled } = await open(browser, `${e.url}/player/`);
    await signIn(p, ORG, ekey);
    await p.click(`#calls tbody tr[data-sid="${SID}"]`);
    // Played past 4 s: the URL (issued before playback started) has expired.
    await audioUntil(p, 'audio.currentTime > 4 && !audio.paused');
    const first = await audio<string>(p, 'audio.src');
    // Onward to bytes the element has not read yet: a new request, on the expired URL.
    t.equal(await audio(p, BUFFERED(50)), false, '50 s is not buffered yet');
    await audio(p, '(audio.currentTime = 50)');
    await audioUntil(p, 'audio.currentTime > 51.5 && !audio.paused', 60_000);
    await settled();
    const streams = seen.filter((s) => s.url === `${e.url}/api/calls/${SID}/recording/stream`);
    t.same(streams.map((s) => s.status), [200, 200], 'a second stream URL was asked for');
    const media = seen.filter((s) => s.url.startsWith(`${e.url}/media/`));
    t.comment(`media requests: ${media.map((s) => `${s.url === first ? 'first' : 'second'} ${s.range ?? 'no Range'} → ${s.status}`).join(', ')}`);
    t.ok(media.some((s) => s.url === first && s.status === 403), 'the expired URL was refused (403)');
    const second = await audio<string>(p, 'audio.src');
    t.not(second, first, 'the element plays a new URL');
    t.ok(media.some((s) => s.url === second && s.status === 206), 'which answers');
    t.ok((await audio<number>(p, 'audio.currentTime')) > 51.5, 'playback went on from where it was');
    t.match(await p.locator('#player >> .status').textContent(), /Resumed at 0:50/);
    await p.context().close();
  });

  await page.context().close();
});

/** The README's embed snippet (its ```html block), for this daemon, key, organization and call. */
async function embedSnippet(base: string, key: string, org: string, sid: string): Promise<string> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const block = /```html\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no ```html block');
  const snippet = block
    .replaceAll('https://recproxy.example.com', base)
    .replaceAll("'rpk_…'", JSON.stringify(key))
    .replaceAll('org_123', org)
    .replaceAll('call_abc123', sid);
  return `<!doctype html><html><head><meta charset="utf-8"><title>a CRM</title></head><body><h1>Call ${sid}</h1>\n${snippet}</body></html>`;
}

/** servePage, with the page's HTML read at each request. */
async function servePageWith(html: () => string): Promise<PageServer> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    if (req.url === '/favicon.ico') return void res.writeHead(204).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

