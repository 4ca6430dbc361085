/** Shared by the upload tests: the real curl, admin keys, what storage holds, the daemon still serving. */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import type { Daemon } from './daemon.js';

export const ORG = 'org_up';

export interface Answer {
  status: number;
  body: { success: boolean; data?: Record<string, unknown>; error?: { code: string; message: string } };
}

/** Runs the real curl; its answer's JSON body and status (`-w` appends the status). */
export function curl(args: string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-w', '\n%{http_code}', ...args], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl failed: ${stderr || err.message}`));
      const cut = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) });
    });
  });
}

/** curl's -H arguments for `headers`. */
export const hArgs = (headers: Record<string, string>) => Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);

/** Headers of an admin key for `org`. */
export async function admin(d: Daemon, org = ORG): Promise<Record<string, string>> {
  const { key } = await d.ctx.apiKeys.create({ orgs: [org], scope: 'admin', label: 'uploader' });
  return { Authorization: `Bearer ${key}`, 'X-Organization-Id': org };
}

/** Every key in the store, through the adapter's own listing. */
export async function stored(d: Daemon): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of d.ctx.storage.list('')) keys.push(o.key);
  return keys;
}

/** Every file under the local root, temp files included (the adapter's listing skips those). */
export async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** The daemon still answers: health and an authenticated listing. */
export async function serving(t: Test, d: Daemon, what: string) {
  t.equal((await fetch(`${d.url}/healthz`)).status, 200, `healthz after ${what}`);
  t.equal((await fetch(`${d.url}/api/calls`, { headers: d.headers(ORG) })).status, 200, `the API after ${what}`);
}

/** Resolves once `check` holds, polling; fails the test after `ms` instead of hanging. */
export async function until(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

