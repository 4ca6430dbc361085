import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose';
import { createJwtVerifier } from '../src/auth/jwt.js';

const SECRET = 's'.repeat(40);
const ISS = 'https://idp.example.com/';
const AUD = 'recproxy';
const now = () => Math.floor(Date.now() / 1000);

async function hs256(claims: JWTPayload, secret = SECRET, header: Record<string, unknown> = {}): Promise<string> {
  // Defaults first, so a test's claims (exp, aud, iss...) override them.
  const payload = { sub: 'user-1', iss: ISS, aud: AUD, iat: now(), exp: now() + 300, orgs: ['org_a'], ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode(secret));
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Serves a JWKS on a loopback port; `keys` can be swapped and `status` changed mid-test. */
async function jwksServer(t: Test, keys: JWK[]): Promise<{ url: string; state: { keys: JWK[]; status: number } }> {
  const state = { keys, status: 200 };
  const server: Server = createServer((_req, res) => {
    res.writeHead(state.status, { 'content-type': 'application/json' });
    res.end(state.status === 200 ? JSON.stringify({ keys: state.keys }) : 'nope');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`, state };
}

const rejects = async (t: Test, p: Promise<unknown>, message: RegExp, name: string) =>
  t.rejects(p, { code: 'UNAUTHORIZED', statusCode: 401, message }, name);

t.test('HS256: a valid token yields the subject and organizations', async (t) => {
  const verify = createJwtVerifier({ secret: SECRET, issuer: ISS, audience: AUD, orgClaim: 'orgs' });
  t.same(await verify(await hs256({})), { subject: 'user-1', orgs: ['org_a'], scope: 'read' });
  t.same((await verify(await hs256({ orgs: 'org_b' }))).orgs, ['org_b'], 'a single string');
  t.same((await verify(await hs256({ orgs: ['org_a', 'org_b', 'org_a'] }))).orgs, ['org_a', 'org_b']);
});

t.test('HS256: every bad token is 401 with a clear message', async (t) => {
  const verify = createJwtVerifier({ secret: SECRET, issuer: ISS, audience: AUD, orgClaim: 'orgs', clockToleranceSec: 5 });
  const good = await hs256({});
  const [header, payload] = good.split('.') as [string, string];

  await rejects(t, verify(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`), /algorithm not allowed/, 'alg none');
  await rejects(t, verify(`${b64({ alg: 'none' })}.${payload}`), /malformed/, 'alg none, two segments');
  await rejects(t, verify(await hs256({}, 'w'.repeat(40))), /signature invalid/, 'wrong secret');
  await rejects(t, verify(`${header}.${b64({ sub: 'admin', orgs: ['org_z'], exp: now() + 60 })}.${good.split('.')[2]}`), /signature invalid/, 'tampered payload');
  await rejects(t, verify(await hs256({ exp: now() - 60 })), /token expired/, 'expired');
  await rejects(t, verify(await hs256({ nbf: now() + 600 })), /not yet valid/, 'nbf in the future');
  await rejects(t, verify(await hs256({ aud: 'someone-else' })), /audience mismatch/, 'wrong audience');
  await rejects(t, verify(await hs256({ iss: 'https://evil.example.com/' })), /issuer mismatch/, 'wrong issuer');
  await rejects(t, verify(await hs256({ orgs: undefined })), /no organization claim \(orgs\)/, 'missing org claim');
  await rejects(t, verify(await hs256({ orgs: [] })), /no organization claim/, 'empty org claim');
  await rejects(t, verify(await hs256({ orgs: ['ok', 'bad org!'] })), /invalid organization id/, 'bad org id');
  await rejects(t, verify(await hs256({ orgs: [42] })), /invalid organization id/, 'non-string org');
  const noExp = await new SignJWT({ orgs: ['org_a'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('u')
    .setIssuer(ISS)
    .setAudience(AUD)
    .sign(new TextEncoder().encode(SECRET));
  await rejects(t, verify(noExp), /no exp claim/, 'no exp: a token must expire');
  const noSub = await new SignJWT({ orgs: ['org_a'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
  await rejects(t, verify(noSub), /no sub claim/, 'no subject');
  await rejects(t, verify('not-a-jwt'), /malformed/, 'garbage');
  await rejects(t, verify('a.b.c'), /malformed|invalid/, 'garbage with dots');
  await rejects(t, verify('x'.repeat(5000)), /too long/, 'oversized');
  // HS384 with the same secret: a real signature, but not an allowed algorithm.
  const hs384 = await new SignJWT({ orgs: ['org_a'] })
    .setProtectedHeader({ alg: 'HS384' })
    .setSubject('u')
    .setIssuer(ISS)
    .setAudience(AUD)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET + SECRET));
  await rejects(t, verify(hs384), /algorithm not allowed/, 'HS384');
});

t.test('clock tolerance: a token expired 2 s ago passes with 5 s tolerance', async (t) => {
  const verify = createJwtVerifier({ secret: SECRET, orgClaim: 'orgs', clockToleranceSec: 5 });
  t.ok(await verify(await hs256({ exp: now() - 2 })));
  const strict = createJwtVerifier({ secret: SECRET, orgClaim: 'orgs', clockToleranceSec: 0 });
  await rejects(t, strict(await hs256({ exp: now() - 2 })), /expired/, 'no tolerance');
});

t.test('org claim lookup: namespaced key first, then a dotted path', async (t) => {
  const ns = createJwtVerifier({ secret: SECRET, orgClaim: 'https://recproxy.example/orgs' });
  t.same((await ns(await hs256({ 'https://recproxy.example/orgs': ['org_n'] }))).orgs, ['org_n']);
  const nested = createJwtVerifier({ secret: SECRET, orgClaim: 'realm_access.orgs' });
  t.same((await nested(await hs256({ realm_access: { orgs: ['org_r'] } }))).orgs, ['org_r']);
  await rejects(t, nested(await hs256({ realm_access: 'x' })), /no organization claim/, 'path through a non-object');
});

t.test('admin scope from scope / scp when configured', async (t) => {
  const verify = createJwtVerifier({ secret: SECRET, orgClaim: 'orgs', adminScope: 'recproxy:admin' });
  t.equal((await verify(await hs256({ scope: 'openid recproxy:admin' }))).scope, 'admin');
  t.equal((await verify(await hs256({ scp: ['recproxy:admin'] }))).scope, 'admin');
  t.equal((await verify(await hs256({ scp: 'recproxy:admin' }))).scope, 'admin');
  t.equal((await verify(await hs256({ scope: 'openid recproxy:read' }))).scope, 'read');
  const noAdmin = createJwtVerifier({ secret: SECRET, orgClaim: 'orgs' });
  t.equal((await noAdmin(await hs256({ scope: 'recproxy:admin' }))).scope, 'read', 'not configured: always read');
});

t.test('JWKS: RS256 and ES256 verify; confusion, unknown keys and outages are refused', async (t) => {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const otherRsa = await generateKeyPair('RS256');
  const rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecJwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  const { url, state } = await jwksServer(t, [rsaJwk, ecJwk]);
  const verify = createJwtVerifier({ jwksUrl: url, issuer: ISS, audience: AUD, orgClaim: 'org' });

  const sign = (alg: string, kid: string, key: Parameters<SignJWT['sign']>[0], claims: JWTPayload = {}) =>
    new SignJWT({ sub: 'svc-7', iss: ISS, aud: AUD, exp: now() + 300, org: 'org_a', ...claims })
      .setProtectedHeader({ alg, kid })
      .sign(key);

  t.same(await verify(await sign('RS256', 'rsa-1', rsa.privateKey)), { subject: 'svc-7', orgs: ['org_a'], scope: 'read' }, 'RS256');
  t.same((await verify(await sign('ES256', 'ec-1', ec.privateKey))).orgs, ['org_a'], 'ES256');

  await rejects(t, verify(await sign('RS256', 'rsa-1', otherRsa.privateKey)), /signature invalid/, 'RS256 signed by another key');
  await rejects(t, verify(await sign('RS256', 'rsa-9', otherRsa.privateKey)), /unknown key/, 'unknown kid');
  await rejects(t, verify(await sign('RS256', 'rsa-1', rsa.privateKey, { exp: now() - 600 })), /expired/, 'expired RS256');
  await rejects(t, verify(await sign('RS256', 'rsa-1', rsa.privateKey, { aud: 'other' })), /audience mismatch/, 'RS256 wrong aud');

  // Algorithm confusion: an HS256 token "signed" with the RSA public key's bytes, and with a plain secret.
  const publicBytes = new TextEncoder().encode(JSON.stringify(rsaJwk));
  await rejects(t, verify(await sign('HS256', 'rsa-1', publicBytes)), /algorithm not allowed/, 'HS256 against a JWKS');
  await rejects(t, verify(await hs256({ org: 'org_a' })), /algorithm not allowed/, 'HS256 with a secret');
  const payload = b64({ sub: 'x', org: 'org_a', iss: ISS, aud: AUD, exp: now() + 60 });
  await rejects(t, verify(`${b64({ alg: 'none', kid: 'rsa-1' })}.${payload}.`), /algorithm not allowed/, 'alg none');

  // The JWKS endpoint fails: 503 AUTH_UNAVAILABLE, not a 401 (the token may be fine).
  state.status = 500;
  const fresh = createJwtVerifier({ jwksUrl: url, orgClaim: 'org' });
  await t.rejects(fresh(await sign('RS256', 'rsa-1', rsa.privateKey)), { code: 'AUTH_UNAVAILABLE', statusCode: 503 }, 'JWKS answers 500');
});

t.test('JWKS unreachable is AUTH_UNAVAILABLE', async (t) => {
  const { url } = await jwksServer(t, []);
  const server = new URL(url);
  // A port nothing listens on: take the server's, after it is closed.
  const closed = await new Promise<string>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(`http://127.0.0.1:${port}${server.pathname}`));
    });
  });
  const verify = createJwtVerifier({ jwksUrl: closed, orgClaim: 'org', jwksTimeoutMs: 2000 });
  const rsa = await generateKeyPair('RS256');
  const token = await new SignJWT({ org: 'org_a' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k' })
    .setSubject('s')
    .setExpirationTime('5m')
    .sign(rsa.privateKey);
  await t.rejects(verify(token), { code: 'AUTH_UNAVAILABLE', statusCode: 503 });
});

t.test('configuration mistakes are TypeErrors at start', async (t) => {
  t.throws(() => createJwtVerifier({ orgClaim: 'orgs' }), TypeError, 'no key source');
  t.throws(() => createJwtVerifier({ secret: SECRET, jwksUrl: 'https://x/jwks', orgClaim: 'orgs' }), TypeError, 'both');
  t.throws(() => createJwtVerifier({ secret: 'short', orgClaim: 'orgs' }), TypeError, 'short secret');
  t.throws(() => createJwtVerifier({ jwksUrl: 'not a url', orgClaim: 'orgs' }), TypeError, 'bad URL');
  t.throws(() => createJwtVerifier({ jwksUrl: 'file:///etc/jwks', orgClaim: 'orgs' }), TypeError, 'not http');
  t.throws(() => createJwtVerifier({ secret: SECRET, orgClaim: '' }), TypeError, 'no org claim');
});
