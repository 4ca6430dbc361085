/**
 * Where media-token signing keys come from: RECPROXY_SIGNING_KEYS ("kid:secret,kid2:secret2",
 * first signs, all verify), or else a key generated once and kept in the signing key file
 * (mode 0600), so tokens survive restarts and the CLI and the daemon agree.
 *
 * A key file must meet the rules of RECPROXY_SIGNING_KEYS (config/schema.ts) and be readable by
 * its owner alone: a weak or exposed key lets anyone forge media URLs for every organization,
 * so the daemon and the CLI refuse to start with one line naming the file and the broken rule.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SIGNING_KEY } from '../config/schema.js';
import { ConfigInvalid } from './core/errors.js';
import type { SigningKey } from './token.js';

const KEY = new RegExp(`^${SIGNING_KEY}$`);
const KID = /^[A-Za-z0-9_-]{1,32}:/;
const FILE_VARIABLE = 'RECPROXY_SIGNING_KEY_FILE';

export function parseSigningKeys(spec: string): SigningKey[] {
  return entries(spec).map((pair) => {
    const at = pair.indexOf(':');
    return { id: pair.slice(0, at), secret: pair.slice(at + 1) };
  });
}

function entries(spec: string): string[] {
  return spec
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * What is wrong with a key file's text and mode, in a few words (never the secret), or
 * undefined when it may be used.
 */
function keyFileProblem(text: string, mode: number): string | undefined {
  if (mode & 0o077) {
    return `mode ${(mode & 0o777).toString(8).padStart(4, '0')} lets group or others read or write it; chmod 600 it`;
  }
  const keys = entries(text);
  if (keys.length === 0) return 'holds no key; remove it to have one generated';
  for (const [i, key] of keys.entries()) {
    if (KEY.test(key)) continue;
    const which = keys.length > 1 ? `key ${i + 1}` : 'the key';
    if (!KID.test(key)) return `${which} must be kid:secret, the kid 1-32 of A-Z a-z 0-9 _ -`;
    return `${which} has a secret shorter than 32 characters (or with spaces or commas)`;
  }
  return undefined;
}

/** @throws ConfigInvalid for a key file that is unreadable, weak or readable by others */
export function loadSigningKeys(spec: string | undefined, file: string): SigningKey[] {
  if (spec) return parseSigningKeys(spec);
  const kept = readKeyFile(file);
  if (kept) return kept;
  const line = `k${Date.now().toString(36)}:${randomBytes(32).toString('base64url')}\n`;
  mkdirSync(dirname(file), { recursive: true });
  // Written whole under a temporary name, then linked into place: a process starting at the
  // same moment sees no file or a complete one, never an empty one.
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, line, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, file);
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(temp);
  }
  return readKeyFile(file)!;
}

/** The keys in `file`, or undefined when there is no such file. */
function readKeyFile(file: string): SigningKey[] | undefined {
  let text: string;
  let mode: number;
  try {
    const fd = openSync(file, 'r');
    try {
      mode = fstatSync(fd).mode;
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new ConfigInvalid(`${FILE_VARIABLE}: cannot read ${file} (${code ?? (err as Error).message})`);
  }
  const problem = keyFileProblem(text, mode);
  if (problem) throw new ConfigInvalid(`${FILE_VARIABLE}: ${file}: ${problem}`);
  return parseSigningKeys(text);
}
