import t from 'tap';
import { createHmac } from 'node:crypto';
import { TokenSigner, type MediaGrant } from '../src/token.js';
import { loadSigningKeys, parseSigningKeys } from '../src/signing-keys.js';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const oldKey = { id: 'old', secret: 'o'.repeat(40) };
const newKey = { id: 'new', secret: 'n'.repeat(40) };
const now = Date.now();
const grant: MediaGrant = {
  key: 'recordings/org/call_1.wav',
  exp: Math.floor(now / 1000) + 60,
  disposition: 'inline',
  filename: 'recording_+1555.wav',
  contentType: 'audio/wav',
};

t.test('round trip, URL-safe', async (t) => {
  const s = new TokenSigner([newKey]);
  const token = s.sign(grant);
  t.match(token, /^new\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  t.same(s.verify(token, now), grant);
});

t.test('the format: kid, base64url JSON, base64url HMAC-SHA256 of the two with the secret', async (t) => {
  const token = new TokenSigner([newKey, oldKey]).sign({ ...grant, org: 'org_1', sid: 'call_1', principal: 'key:k1' });
  const [kid, payload, mac] = token.split('.');
  t.equal(kid, 'new');
  t.strictSame(JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')), {
    k: grant.key, e: grant.exp, d: 'inline', f: grant.filename, t: 'audio/wav', o: 'org_1', s: 'call_1', p: 'key:k1',
  });
  t.equal(mac, createHmac('sha256', newKey.secret).update(`new.${payload}`).digest().toString('base64url'), 'the MAC as any HMAC-SHA256 computes it');
});

t.test('rotation: the first key signs, every listed key verifies, retired keys fail', async (t) => {
  const before = new TokenSigner([oldKey]).sign(grant);
  const rotating = new TokenSigner([newKey, oldKey]);
  t.same(rotating.verify(before, now), grant, 'old token still valid during rotation');
  t.match(rotating.sign(grant), /^new\./, 'new tokens use the first key');
  const retired = new TokenSigner([newKey]);
  t.throws(() => retired.verify(before, now), { code: 'TOKEN_INVALID' }, 'retired key');
});

t.test('tampering and garbage are TOKEN_INVALID; expiry is TOKEN_EXPIRED', async (t) => {
  const s = new TokenSigner([newKey]);
  const token = s.sign(grant);
  const [kid, payload, sig] = token.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ k: '../../etc/passwd', e: grant.exp, d: 'inline', f: 'x', t: 'audio/wav' })).toString('base64url');
  const flip = (str: string) => str.slice(0, -2) + (str.at(-2) === 'A' ? 'B' : 'A') + str.at(-1);
  const bad = [
    `${kid}.${forged}.${sig}`,
    `${kid}.${payload}.${flip(sig)}`,
    `${kid}.${payload}.${sig.slice(0, -4)}`,
    `${kid}.${payload}`,
    `other.${payload}.${sig}`,
    `${kid}.${payload}.${sig}.extra`,
    '',
    'not-a-token',
    'x'.repeat(5000),
    `${kid}.${Buffer.from('not json').toString('base64url')}.${sig}`,
  ];
  for (const b of bad) t.throws(() => s.verify(b, now), { code: 'TOKEN_INVALID' }, b.slice(0, 30));
  // A well-signed payload of the wrong shape is still invalid.
  const weird = new TokenSigner([newKey]).sign({ ...grant, disposition: 'evil' as 'inline' });
  t.throws(() => s.verify(weird, now), { code: 'TOKEN_INVALID' });
  t.throws(() => s.verify(token, grant.exp * 1000), { code: 'TOKEN_EXPIRED' }, 'at expiry');
  t.throws(() => s.verify(token, grant.exp * 1000 + 1), { code: 'TOKEN_EXPIRED' }, 'after expiry');
  t.doesNotThrow(() => s.verify(token, grant.exp * 1000 - 1), 'just before expiry');
});

t.test('a verified token is remembered: same grant, expiry still checked, bounded', async (t) => {
  const s = new TokenSigner([newKey]);
  const token = s.sign(grant);
  const first = s.verify(token, now);
  t.equal(s.verify(token, now), first, 'presented again: the remembered grant');
  t.ok(Object.isFrozen(first), 'frozen: shared by every request that presents the token');
  const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  t.throws(() => s.verify(flipped, now), { code: 'TOKEN_INVALID' }, 'a variant of a remembered token is checked in full');
  t.throws(() => s.verify(token, grant.exp * 1000), { code: 'TOKEN_EXPIRED' }, 'a remembered token still expires');
  t.throws(() => s.verify(token, grant.exp * 1000), { code: 'TOKEN_EXPIRED' }, 'and stays expired');
  const again = s.verify(token, now);
  t.not(again, first, 'forgotten once expired: verified afresh');
  t.same(again, first);
  for (let i = 0; i < 4096; i++) s.verify(s.sign({ ...grant, key: `k/${i}.wav` }), now);
  t.not(s.verify(token, now), again, 'bounded: 4,096 newer tokens push the oldest out');
  const expired = new TokenSigner([newKey]);
  t.throws(() => expired.verify(token, grant.exp * 1000 + 5), { code: 'TOKEN_EXPIRED' });
  t.throws(() => expired.verify(token, grant.exp * 1000 + 5), { code: 'TOKEN_EXPIRED' }, 'an expired token is not remembered');
});

t.test('signing keys: parsed from config, or generated once into a 0600 file', async (t) => {
  t.same(parseSigningKeys('a:' + 'x'.repeat(32) + ',b:' + 'y'.repeat(32)), [
    { id: 'a', secret: 'x'.repeat(32) },
    { id: 'b', secret: 'y'.repeat(32) },
  ]);
  t.throws(() => new TokenSigner([]), TypeError);
  t.throws(() => new TokenSigner([{ id: 'bad.id', secret: 'x'.repeat(32) }]), TypeError);
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-keys-'));
  const file = join(dir, 'sub', 'signing.key');
  const first = loadSigningKeys(undefined, file);
  t.equal(first.length, 1);
  t.ok(first[0]!.secret.length >= 40);
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.same(loadSigningKeys(undefined, file), first, 'the same key on the next start');
  t.match(await readFile(file, 'utf8'), first[0]!.id);
});
