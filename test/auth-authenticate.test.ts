import t from 'tap';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { API_KEY_MIGRATIONS, SqliteApiKeys } from '../src/stores/sqlite/api-keys.js';
import {
  MAX_AUTHORIZATION_LENGTH,
  assertOrg,
  assertScope,
  challengeOf,
  createAuthenticator,
  holdsOrg,
  parseBearer,
  type Principal,
} from '../src/auth/authenticate.js';
import { createJwtVerifier } from '../src/auth/jwt.js';

function keyStore(t: { teardown(fn: () => void): void }): SqliteApiKeys {
  const db = new Database(':memory:');
  for (const sql of API_KEY_MIGRATIONS) db.exec(sql);
  t.teardown(() => db.close());
  return new SqliteApiKeys(db);
}

const BARE = 'Bearer realm="recproxy"';
const INVALID_REQUEST = 'Bearer realm="recproxy", error="invalid_request"';
const INVALID_TOKEN = 'Bearer realm="recproxy", error="invalid_token"';

/** The refusal of `authenticate()`, thrown at once or as its promise's rejection, for checking its challenge. */
async function refusal(authenticate: () => unknown): Promise<Error & { code?: string; statusCode?: number }> {
  try {
    await authenticate();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

t.test('parseBearer: strict RFC 6750 header parsing', async (t) => {
  t.equal(parseBearer('Bearer abc.DEF-_~+/=='), 'abc.DEF-_~+/==');
  t.equal(parseBearer('bearer abc'), 'abc', 'the scheme is case-insensitive (RFC 9110 §11.1)');
  t.equal(parseBearer('BEARER abc'), 'abc');
  const cases: [string | string[] | undefined, RegExp, string][] = [
    [undefined, /missing credentials/, BARE],
    ['', /missing credentials/, BARE],
    ['Basic dXNlcjpwYXNz', /scheme must be Bearer/, INVALID_REQUEST],
    ['Token abc', /scheme must be Bearer/, INVALID_REQUEST],
    ['Bearerabc', /scheme must be Bearer/, INVALID_REQUEST],
    ['Bearer', /malformed bearer token/, INVALID_REQUEST],
    ['Bearer ', /malformed bearer token/, INVALID_REQUEST],
    ['Bearer  abc', /malformed bearer token/, INVALID_REQUEST],
    ['Bearer abc ', /malformed bearer token/, INVALID_REQUEST],
    ['Bearer\tabc', /malformed bearer token/, INVALID_REQUEST],
    ['Bearer abc def', /malformed bearer token/, INVALID_REQUEST],
    ['Bearer ab=c', /malformed bearer token/, INVALID_REQUEST],
    ['Bearer a"b', /malformed bearer token/, INVALID_REQUEST],
    [`Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH)}`, /too long/, INVALID_REQUEST],
    [['Bearer a', 'Bearer b'], /exactly one/, INVALID_REQUEST],
  ];
  for (const [header, message, challenge] of cases) {
    let err: unknown;
    try {
      parseBearer(header);
    } catch (e) {
      err = e;
    }
    const name = JSON.stringify(header)?.slice(0, 40) ?? 'undefined';
    t.match(err, { code: 'UNAUTHORIZED', statusCode: 401, message }, name);
    t.equal(challengeOf(err), challenge, `${name}: challenge`);
  }
  t.equal(parseBearer(`Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH - 7)}`).length, MAX_AUTHORIZATION_LENGTH - 7, 'the limit itself passes');
  t.equal(challengeOf(new Error('x')), undefined);
  t.equal(challengeOf(null), undefined);
});

t.test('api-key mode', async (t) => {
  const store = keyStore(t);
  const auth = createAuthenticator({ mode: 'api-key', apiKeys: store });
  const a = await store.create({ orgs: ['org_a'], label: 'a' });
  const admin = await store.create({ orgs: ['org_a', 'org_b'], scope: 'admin' });

  const p = await auth({ authorization: `Bearer ${a.key}` });
  t.same(p, { kind: 'api-key', id: a.id, orgs: ['org_a'], scope: 'read' });
  t.doesNotThrow(() => assertOrg(p, 'org_a'));

  // A key for org A asking for org B: 403 ORG_FORBIDDEN (about the header, not about any call).
  t.throws(() => assertOrg(p, 'org_b'), { code: 'ORG_FORBIDDEN', statusCode: 403, message: /organization org_b/ });
  t.throws(() => assertScope(p, 'admin'), { code: 'INSUFFICIENT_SCOPE', statusCode: 403 });
  t.doesNotThrow(() => assertScope(p, 'read'));

  const q = await auth({ authorization: `Bearer ${admin.key}` });
  t.doesNotThrow(() => assertOrg(q, 'org_b'));
  t.doesNotThrow(() => assertScope(q, 'admin'));
  t.doesNotThrow(() => assertScope(q, 'read'), 'admin includes read');

  for (const [name, headers] of [
    ['missing header', {}],
    ['Basic', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['Bearer without a token', { authorization: 'Bearer' }],
    ['two spaces', { authorization: `Bearer  ${a.key}` }],
    ['oversized', { authorization: `Bearer ${'a'.repeat(5000)}` }],
    ['the key in X-Api-Key is not accepted', { 'x-api-key': a.key }],
  ] as const) {
    const err = await refusal(() => auth(headers));
    t.match(err, { code: 'UNAUTHORIZED', statusCode: 401 }, name);
    t.match(challengeOf(err), /^Bearer realm="recproxy"/, `${name}: challenge`);
  }

  for (const [name, token] of [
    ['not a recproxy key', 'abc.def.ghi'],
    ['a wrong secret', a.key.slice(0, -1) + (a.key.endsWith('A') ? 'B' : 'A')],
  ] as const) {
    const err = await refusal(() => auth({ authorization: `Bearer ${token}` }));
    t.match(err, { code: 'UNAUTHORIZED', message: 'invalid API key' }, name);
    t.equal(challengeOf(err), INVALID_TOKEN, `${name}: invalid_token`);
  }

  // Revocation counts from the very next request.
  await store.revoke(a.id);
  const revoked = await refusal(() => auth({ authorization: `Bearer ${a.key}` }));
  t.match(revoked, { code: 'UNAUTHORIZED', message: 'invalid API key' }, 'revoked key, answered like an unknown one');
  t.equal(challengeOf(revoked), INVALID_TOKEN);
  t.ok(await auth({ authorization: `Bearer ${admin.key}` }), 'other keys unaffected');
});

t.test('jwt mode', async (t) => {
  const secret = 'j'.repeat(40);
  const auth = createAuthenticator({
    mode: 'jwt',
    jwt: createJwtVerifier({ secret, orgClaim: 'org_ids', audience: 'recproxy' }),
  });
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ sub: 'alice', aud: 'recproxy', exp: Math.floor(Date.now() / 1000) + 60, org_ids: ['org_a'], ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
  const p = await auth({ authorization: `Bearer ${await sign({})}` });
  t.same(p, { kind: 'jwt', id: 'alice', orgs: ['org_a'], scope: 'read' });
  t.throws(() => assertOrg(p, 'org_b'), { code: 'ORG_FORBIDDEN' });

  const stale = await sign({ exp: 1 });
  const expired = await refusal(() => auth({ authorization: `Bearer ${stale}` }));
  t.match(expired, { code: 'UNAUTHORIZED', message: 'token expired' });
  t.equal(challengeOf(expired), INVALID_TOKEN);
  const missing = await refusal(() => auth({}));
  t.equal(challengeOf(missing), BARE);
  // An unexpected failure of the verifier passes through untouched (not turned into a 401).
  const broken = createAuthenticator({
    mode: 'jwt',
    jwt: async () => {
      throw Object.assign(new Error('jwks down'), { code: 'AUTH_UNAVAILABLE', statusCode: 503 });
    },
  });
  const down = await refusal(() => broken({ authorization: 'Bearer abc' }));
  t.match(down, { code: 'AUTH_UNAVAILABLE' });
  t.equal(challengeOf(down), undefined);
});

t.test('trusted-header mode', async (t) => {
  const open = createAuthenticator({ mode: 'trusted-header', trustedHeader: { userHeader: 'X-Forwarded-User' } });
  const p = await open({ 'x-forwarded-user': 'alice@example.com' });
  t.same(p, { kind: 'trusted-header', id: 'alice@example.com', orgs: '*', scope: 'read' });
  t.doesNotThrow(() => assertOrg(p, 'any_org'), 'no orgs header configured: the proxy scopes tenants');
  t.ok(holdsOrg(p, 'org_z'));

  for (const [name, headers] of [
    ['no user header', {}],
    ['empty user', { 'x-forwarded-user': '' }],
    ['control characters', { 'x-forwarded-user': 'alice\u0007' }],
    ['too long', { 'x-forwarded-user': 'a'.repeat(300) }],
  ] as const) {
    const err = await refusal(() => open(headers));
    t.match(err, { code: 'UNAUTHORIZED', statusCode: 401, message: /x-forwarded-user/ }, name);
    t.equal(challengeOf(err), undefined, `${name}: no Bearer challenge in this mode`);
  }
  t.match(await refusal(() => open({ authorization: 'Bearer whatever' })), { code: 'UNAUTHORIZED' }, 'a bearer token is no substitute');

  const scoped = createAuthenticator({
    mode: 'trusted-header',
    trustedHeader: { userHeader: 'x-forwarded-user', orgsHeader: 'X-Forwarded-Orgs', scopeHeader: 'x-forwarded-scope' },
  });
  const q = await scoped({ 'x-forwarded-user': 'bob', 'x-forwarded-orgs': ' org_a, org_b ,org_a', 'x-forwarded-scope': 'admin' });
  t.same(q, { kind: 'trusted-header', id: 'bob', orgs: ['org_a', 'org_b'], scope: 'admin' });
  t.throws(() => assertOrg(q, 'org_c'), { code: 'ORG_FORBIDDEN' });
  t.equal((await scoped({ 'x-forwarded-user': 'bob', 'x-forwarded-orgs': 'org_a', 'x-forwarded-scope': 'root' })).scope, 'read');
  t.match(await refusal(() => scoped({ 'x-forwarded-user': 'bob' })), { code: 'UNAUTHORIZED', message: /x-forwarded-orgs/ }, 'orgs header missing');
  t.match(await refusal(() => scoped({ 'x-forwarded-user': 'bob', 'x-forwarded-orgs': ' , ' })), { code: 'UNAUTHORIZED' }, 'orgs header empty');
  t.match(await refusal(() => scoped({ 'x-forwarded-user': 'bob', 'x-forwarded-orgs': 'org_a,bad org' })), { code: 'UNAUTHORIZED' }, 'invalid org');
});

t.test('wiring mistakes are TypeErrors', async (t) => {
  t.throws(() => createAuthenticator({ mode: 'api-key' }), TypeError);
  t.throws(() => createAuthenticator({ mode: 'jwt' }), TypeError);
  t.throws(() => createAuthenticator({ mode: 'trusted-header' }), TypeError);
  t.throws(() => createAuthenticator({ mode: 'ldap' as 'jwt' }), TypeError);
});

t.test('assertOrg on a principal with an explicit list', async (t) => {
  const p: Principal = { kind: 'api-key', id: 'k', orgs: [], scope: 'admin' };
  t.throws(() => assertOrg(p, 'org_a'), { code: 'ORG_FORBIDDEN' }, 'admin scope does not widen orgs');
});
