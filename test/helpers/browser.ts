/**
 * A real Chromium for browser tests, driven by playwright-core. The browser is Debian's
 * (`apt-get install -y chromium`, /usr/bin/chromium): playwright never downloads one here.
 * Also a tiny page server, so pages run on an origin other than the daemon's and CORS is real.
 */
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:http';
import { delimiter, join } from 'node:path';
import type { Test } from 'tap';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_INSTALL_HINT =
  'Chromium is not installed: the browser tests need Debian\'s Chromium at /usr/bin/chromium ' +
  '(or `chromium` on PATH). Install it with: apt-get update && apt-get install -y chromium ' +
  '(never `npx playwright install`).';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** /usr/bin/chromium, else the first `chromium` on PATH, else null. */
export function findChromium(candidates = ['/usr/bin/chromium']): string | null {
  for (const c of candidates) if (executable(c)) return c;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'chromium'))) return join(dir, 'chromium');
  }
  return null;
}

/**
 * Launches Chromium headless with a fresh profile (playwright makes a temporary user-data dir).
 * @throws Error naming the apt-get command when Chromium is not installed.
 */
export async function launchChromium(candidates?: string[]): Promise<Browser> {
  const executablePath = findChromium(candidates);
  if (!executablePath) throw new Error(CHROMIUM_INSTALL_HINT);
  try {
    return await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (err) {
    throw new Error(`Chromium at ${executablePath} did not start (reinstall: apt-get install -y chromium): ${(err as Error).message}`);
  }
}

/**
 * Chromium for a browser test, or undefined after failing `t` (never skipping) with the reason,
 * which names the apt-get command when Chromium is missing.
 */
export async function chromiumOrFail(t: Test): Promise<Browser | undefined> {
  try {
    return await launchChromium();
  } catch (err) {
    t.fail((err as Error).message);
    return undefined;
  }
}

export interface PageServer {
  /** `http://127.0.0.1:{port}`: the page's origin. */
  origin: string;
  close(): Promise<void>;
}

/** Serves `html` at every path on a free loopback port (and answers /favicon.ico with 204). */
export async function servePage(html: string): Promise<PageServer> {
  const server = createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
