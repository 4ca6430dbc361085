import t from 'tap';
import { normalizeKey, normalizePrefix } from '../src/core/keys.js';

t.test('normalizeKey accepts relative keys and canonicalises them', async (t) => {
  const ok: [string, string][] = [
    ['a.wav', 'a.wav'],
    ['recordings/org_1/call_1.wav', 'recordings/org_1/call_1.wav'],
    ['./a//b/./c.wav', 'a/b/c.wav'],
    ['a/b/', 'a/b'],
    ['dir/..name.wav', 'dir/..name.wav'],
    ['ünïcode/東京.wav', 'ünïcode/東京.wav'],
  ];
  for (const [raw, want] of ok) t.equal(normalizeKey(raw), want, JSON.stringify(raw));
});

t.test('normalizeKey refuses anything that could leave the root', async (t) => {
  const bad = ['', '/etc/passwd', '../x', 'a/../../x', 'a/..', '..', 'a\0b', 'a\\..\\b', 'C:/x', 'c:x', 'a\nb', 'a\rb', '.', './', '//', 'x'.repeat(1025)];
  for (const raw of bad) {
    t.throws(() => normalizeKey(raw), { code: 'INVALID_STORAGE_KEY' }, JSON.stringify(raw).slice(0, 40));
  }
});

t.test('normalizePrefix: listing prefixes in the canonical form of keys', async (t) => {
  const ok: [string, string][] = [
    ['', ''], ['.', ''], ['./', ''], ['.//./', ''],
    ['rec', 'rec'], ['recordings/', 'recordings/'], ['./a//b/', 'a/b/'], ['a/./b', 'a/b'], ['org_a/call_', 'org_a/call_'],
  ];
  for (const [raw, want] of ok) t.equal(normalizePrefix(raw), want, JSON.stringify(raw));
  for (const raw of ['/', '/etc/', '../', 'a/../../x', '..', 'a\0b', 'a\\b', 'x'.repeat(1025), 5 as unknown as string]) {
    t.throws(() => normalizePrefix(raw), { code: 'INVALID_STORAGE_KEY' }, JSON.stringify(raw).slice(0, 40));
  }
});
