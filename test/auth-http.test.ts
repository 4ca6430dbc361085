/**
 * Authentication and its companions through the real daemon: JWT (HS256 and JWKS),
 * trusted-header mode, CORS, rate limits, the admin audit endpoint, log redaction, and the
 * advice `serve` prints at start.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { loggerOptions } from '../src/redact.js';
import { startDaemon } from './helpers/daemon.js';
import { BIN, cleanEnv, runCli } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

const JWT_SECRET = 'auth-http-test-jwt-secret-0123456789abcdef';
const wav = makeWav(1);
const S = (sid: string) => `/api/calls/${sid}/recording/stream`;
const DL = (sid: string) => `/api/calls/${sid}/recording/download`;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}
/** node:http (fetch would not let a test set Origin freely on every runtime). */
function send(url: string, method: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}
/** Audit rows are written when a response closes, just after the client has it: read until `enough`. */
async function settle<T>(read: () => T[] | Promise<T[]>, enough: (rows: T[]) => boolean): Promise<T[]> {
  let rows = await read();
  for (let i = 0; i < 200 && !enough(rows); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    rows = await read();
  }
  return rows;
}
const codeOf = (a: Answer) => (JSON.parse(a.body.toString()) as { error: { code: string } }).error.code;
const urlOf = (a: Answer) => (JSON.parse(a.body.toString()) as { data: { url: string } }).data.url;

t.test('jwt mode, HS256: a token with an org claim plays and downloads', async (t) => {
  const d = await startDaemon({ RECPROXY_AUTH_MODE: 'jwt', RECPROXY_JWT_SECRET: JWT_SECRET });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_j1', to: '+15550000001', bytes: wav });
  const token = await new SignJWT({ sub: 'alice', org: 'org_a' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(JWT_SECRET));
  const h = { Authorization: `Bearer ${token}`, 'X-Organization-Id': 'org_a' };
  const st = await send(`${d.url}${S('call_j1')}`, 'GET', h);
  t.equal(st.status, 200);
  const media = await send(urlOf(st), 'GET', { Range: 'bytes=100-199' });
  t.equal(media.status, 206);
  t.ok(media.body.equals(wav.subarray(100, 200)), 'the URL plays and seeks');
  const dl = await send(`${d.url}${DL('call_j1')}`, 'GET', h);
  t.equal(dl.status, 200);
  t.ok(dl.body.equals(wav), 'the download is byte for byte');
  const rows = await settle(() => d.ctx.audit.query({ sid: 'call_j1' }), (r) => r.length >= 3);
  t.ok(rows.length >= 3 && rows.every((r) => r.principal === 'alice'), 'audited under the JWT subject');
});

t.test('jwt mode, JWKS: RS256 from the key set plays; an ES256 key not in the set is 401', async (t) => {
  const rs = await generateKeyPair('RS256');
  const es = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(rs.publicKey)), kid: 'rs1', alg: 'RS256', use: 'sig' };
  const jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => jwks.close(() => resolve())));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;

  const d = await startDaemon({ RECPROXY_AUTH_MODE: 'jwt', RECPROXY_JWT_JWKS_URL: jwksUrl });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_k1', to: '+15550000001', bytes: wav });
  const sign = (alg: string, kid: string, key: CryptoKey, claims: JWTPayload = {}) =>
    new SignJWT({ sub: 'bob', org: ['org_a'], ...claims }).setProtectedHeader({ alg, kid }).setExpirationTime('5m').sign(key);
  const get = async (token: string) =>
    send(`${d.url}${S('call_k1')}`, 'GET', { Authorization: `Bearer ${token}`, 'X-Organization-Id': 'org_a' });

  const ok = await get(await sign('RS256', 'rs1', rs.privateKey));
  t.equal(ok.status, 200, 'RS256 signed by the listed key');
  const foreignEs = await get(await sign('ES256', 'es1', es.privateKey));
  t.equal(foreignEs.status, 401, 'ES256 signed by a key not in the JWKS');
  t.equal(codeOf(foreignEs), 'UNAUTHORIZED');
  t.match(foreignEs.headers['www-authenticate'], /^Bearer realm="recproxy", error="invalid_token"/);
  const other = await generateKeyPair('RS256');
  const impostor = await get(await sign('RS256', 'rs1', other.privateKey));
  t.equal(impostor.status, 401, "RS256 claiming the listed kid, signed by another key");
  t.equal(codeOf(impostor), 'UNAUTHORIZED');
  t.equal((await get(await sign('RS256', 'rs1', rs.privateKey))).status, 200, 'the good token still works afterwards');
});

t.test('trusted-header mode', async (t) => {
  const d = await startDaemon({ RECPROXY_AUTH_MODE: 'trusted-header' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_t1', to: '+15550000001', bytes: wav });
  const url = `${d.url}${S('call_t1')}`;
  const none = await send(url, 'GET', { 'X-Organization-Id': 'org_a' });
  t.equal(none.status, 401, 'x-forwarded-user is required');
  t.equal(codeOf(none), 'UNAUTHORIZED');
  t.equal((await send(url, 'GET', { 'X-Forwarded-User': 'alice@example.com', 'X-Organization-Id': 'org_a' })).status, 200);
  const audited = await settle(() => d.ctx.audit.query({ sid: 'call_t1' }), (r) => r.length > 0);
  t.equal(audited[0]?.principal, 'alice@example.com', 'audited under the proxy user');

  const scoped = await startDaemon({ RECPROXY_AUTH_MODE: 'trusted-header', RECPROXY_TRUSTED_ORGS_HEADER: 'x-forwarded-orgs' });
  t.teardown(scoped.stop);
  await scoped.addCall({ org: 'org_a', sid: 'call_t2', to: '+15550000001', bytes: wav });
  const surl = `${scoped.url}${S('call_t2')}`;
  const user = { 'X-Forwarded-User': 'alice', 'X-Organization-Id': 'org_a' };
  const cases: [string, Record<string, string>, number, string | null][] = [
    ['no orgs header', user, 401, 'UNAUTHORIZED'],
    ['org not listed', { ...user, 'X-Forwarded-Orgs': 'org_b' }, 403, 'ORG_FORBIDDEN'],
    ['malformed org list', { ...user, 'X-Forwarded-Orgs': '../org_a' }, 401, 'UNAUTHORIZED'],
    ['org listed', { ...user, 'X-Forwarded-Orgs': 'org_b, org_a' }, 200, null],
    ['no user', { 'X-Forwarded-Orgs': 'org_a', 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
  ];
  for (const [what, headers, status, code] of cases) {
    const res = await send(surl, 'GET', headers);
    t.equal(res.status, status, what);
    if (code) t.equal(codeOf(res), code, what);
  }
});

t.test('CORS with configured origins', async (t) => {
  const d = await startDaemon({ RECPROXY_CORS_ORIGINS: 'https://app.example.com' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_c1', to: '+15550000001', bytes: wav });
  const url = urlOf(await send(`${d.url}${S('call_c1')}`, 'GET', d.headers('org_a')));
  const origin = 'https://app.example.com';
  const list = (v: unknown) => String(v ?? '').toLowerCase().split(',').map((s) => s.trim());

  const pre = await send(url, 'OPTIONS', { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' });
  t.ok(pre.status === 204 || pre.status === 200, `preflight answered (${pre.status})`);
  t.equal(pre.headers['access-control-allow-origin'], origin);
  t.ok(list(pre.headers['access-control-allow-headers']).includes('range'), 'Range is allowed');
  t.ok(list(pre.headers['access-control-allow-methods']).includes('get'), 'GET is allowed');
  for (const m of ['post', 'put', 'delete']) t.ok(list(pre.headers['access-control-allow-methods']).includes(m), `${m.toUpperCase()} is allowed (uploads, deletes, holds)`);
  t.ok(list(pre.headers['access-control-allow-headers']).includes('content-type'), 'Content-Type may be sent (uploads)');

  const apiPre = await send(`${d.url}${S('call_c1')}`, 'OPTIONS', {
    Origin: origin,
    'Access-Control-Request-Method': 'GET',
    'Access-Control-Request-Headers': 'authorization,x-organization-id',
  });
  t.equal(apiPre.headers['access-control-allow-origin'], origin, 'the API preflight too');
  t.ok(['authorization', 'x-organization-id'].every((h) => list(apiPre.headers['access-control-allow-headers']).includes(h)));

  const got = await send(url, 'GET', { Origin: origin, Range: 'bytes=0-99' });
  t.equal(got.status, 206);
  t.equal(got.headers['access-control-allow-origin'], origin);
  const exposed = list(got.headers['access-control-expose-headers']);
  for (const h of ['content-range', 'content-length', 'accept-ranges', 'content-disposition', 'x-request-id']) t.ok(exposed.includes(h), `exposes ${h}`);

  const evil = await send(url, 'GET', { Origin: 'https://evil.example.com', Range: 'bytes=0-99' });
  t.equal(evil.headers['access-control-allow-origin'], undefined, 'another origin gets no Access-Control-Allow-Origin');
  const evilPre = await send(url, 'OPTIONS', { Origin: 'https://evil.example.com', 'Access-Control-Request-Method': 'GET' });
  t.equal(evilPre.headers['access-control-allow-origin'], undefined, 'nor on preflight');
});

t.test('rate limits: per key on the API, per address on media', async (t) => {
  const d = await startDaemon({ RECPROXY_RATE_LIMIT_MAX: '5', RECPROXY_RATE_LIMIT_WINDOW_MS: '600000', RECPROXY_MEDIA_RATE_LIMIT_MAX: '3' });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_r1', to: '+15550000001', bytes: wav });
  const url = `${d.url}${S('call_r1')}`;
  let media = '';
  for (let i = 1; i <= 5; i++) {
    const res = await send(url, 'GET', d.headers('org_a'));
    t.equal(res.status, 200, `request ${i} of 5`);
    media = urlOf(res);
  }
  const sixth = await send(url, 'GET', d.headers('org_a'));
  t.equal(sixth.status, 429, 'the 6th within the window');
  t.match(sixth.headers['content-type'], /^application\/json/);
  t.equal(codeOf(sixth), 'RATE_LIMITED');
  t.match(sixth.headers['retry-after'], /^[1-9]\d*$/, 'Retry-After in whole seconds');
  t.equal((await send(`${d.url}${DL('call_r1')}`, 'HEAD', d.headers('org_a'))).status, 429, 'the download shares the key\'s budget');
  const second = (await d.ctx.apiKeys.create({ orgs: ['org_a'] })).key;
  t.equal((await send(url, 'GET', { Authorization: `Bearer ${second}`, 'X-Organization-Id': 'org_a' })).status, 200, 'a second key is not affected');

  for (let i = 1; i <= 3; i++) t.equal((await send(media, 'HEAD')).status, 200, `media read ${i} of 3`);
  const limited = await send(media, 'GET');
  t.equal(limited.status, 429, 'media reads are limited per address');
  t.equal(codeOf(limited), 'RATE_LIMITED');
  t.ok(limited.headers['retry-after']);
});

t.test('GET /api/audit: admin scope, one organization', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_a1', to: '+15550000001', bytes: wav });
  await d.addCall({ org: 'org_b', sid: 'call_b1', to: '+15550000002', bytes: wav });
  const A = d.headers('org_a');
  const B = d.headers('org_b');
  const idA = A.Authorization!.split('_')[1]!;
  const admin = (await d.ctx.apiKeys.create({ orgs: ['org_a'], scope: 'admin' })).key;
  const asAdmin = { Authorization: `Bearer ${admin}`, 'X-Organization-Id': 'org_a' };

  const read = await send(`${d.url}/api/audit`, 'GET', A);
  t.equal(read.status, 403);
  t.equal(codeOf(read), 'INSUFFICIENT_SCOPE');

  const media = urlOf(await send(`${d.url}${S('call_a1')}`, 'GET', A));
  await send(media, 'GET');
  await send(media, 'HEAD');
  await send(`${d.url}${DL('call_a1')}`, 'GET', A);
  await send(`${d.url}${DL('call_a1')}`, 'GET', { ...A, Range: 'bytes=0-99' });
  await send(`${d.url}${DL('call_a1')}`, 'HEAD', A);
  await send(`${d.url}${S('call_b1')}`, 'GET', B);
  await send(`${d.url}${DL('call_b1')}`, 'GET', B);
  await send(`${d.url}${S('call_b1')}`, 'GET', A); // org_a asking for org_b's call: 404, nothing read

  type Row = { action: string; call_sid: string; principal: string | null; client: string | null; status: number; bytes: number | null };
  const statuses = new Set<number>();
  const rows = await settle(async () => {
    const res = await send(`${d.url}/api/audit`, 'GET', asAdmin);
    statuses.add(res.status);
    return (JSON.parse(res.body.toString()) as { data: Row[] }).data;
  }, (r) => r.length >= 6);
  t.same([...statuses], [200], 'the admin key reads the audit');
  t.equal(rows.length, 6, 'six reads of org_a');
  t.ok(rows.every((r) => r.call_sid === 'call_a1'), "only org_a's call");
  t.same(rows.filter((r) => r.client !== '127.0.0.1' || r.principal !== idA), [], 'client address and key id on every row');
  const summary = rows.map((r) => `${r.action} ${r.status} ${r.bytes}`).sort();
  t.same(summary, [
    'download 200 0', // HEAD
    `download 200 ${wav.length}`,
    'download 206 100',
    'media 200 0', // HEAD
    `media 200 ${wav.length}`,
    'stream_url 200 null',
  ].sort());
  const none = await send(`${d.url}/api/audit?sid=call_b1`, 'GET', asAdmin);
  t.same(JSON.parse(none.body.toString()).data, [], "org_b's call is not in org_a's audit");
  const cross = await send(`${d.url}/api/audit`, 'GET', { ...asAdmin, 'X-Organization-Id': 'org_b' });
  t.equal(codeOf(cross), 'ORG_FORBIDDEN', "an org_a admin cannot read org_b's audit");

  const cli = await runCli(['audit', '--org', 'org_b'], {
    env: { RECPROXY_DB_PATH: join(d.dir, 'index.db'), RECPROXY_LOCAL_ROOT: join(d.dir, 'recordings'), RECPROXY_SIGNING_KEY_FILE: join(d.dir, 'signing.key') },
  });
  t.equal(cli.code, 0, cli.stderr);
  const cliRows = JSON.parse(cli.stdout) as Row[];
  t.same(cliRows.map((r) => r.action).sort(), ['download', 'stream_url'], 'bin/recproxy audit reads the same table');
});

t.test('a download the client abandons is audited with its client address', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const big = makeWav(300); // 4.8 MB: several reads even at the largest read size (1 MiB)
  await d.addCall({ org: 'org_a', sid: 'call_big', to: '+15550000009', bytes: big });
  for (const [what, method] of [['download', 'GET'], ['download HEAD', 'HEAD']] as const) {
    await new Promise<void>((resolve) => {
      const req = request(`${d.url}${DL('call_big')}`, { method, headers: d.headers('org_a'), agent: false }, (res) => {
        // Leave after the first chunk, as a player seeking elsewhere does.
        if (method === 'HEAD') return res.resume().on('end', resolve);
        res.once('data', () => (req.destroy(), resolve()));
      });
      req.on('error', () => {});
      req.end();
    });
    const rows = await settle(() => d.ctx.audit.query({ sid: 'call_big' }), (r) => r.length > (method === 'GET' ? 0 : 1));
    const row = rows[0]!;
    t.equal(row.client, '127.0.0.1', `${what}: the client address is recorded`);
    t.equal(row.principal, d.headers('org_a').Authorization!.split('_')[1], `${what}: the key id`);
    if (method === 'GET') t.ok(row.bytes! < big.length, `${what}: only the bytes that left (${row.bytes})`);
  }
});

t.test('a slow reader that leaves: the audit counts the bytes the socket accepted, not those queued for it', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const big = makeWav(2500); // 40 MB: far more than the kernel's socket buffers hold
  await d.addCall({ org: 'org_a', sid: 'call_slow', to: '+15550000010', bytes: big });
  const connected = new Promise<Socket>((resolve) => d.app.server.once('connection', resolve));
  let received = 0;
  const req = request(`${d.url}${DL('call_slow')}`, { headers: d.headers('org_a'), agent: false }, (res) => {
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= 1_000_000) res.pause(); // reads 1 MB, then reads no more
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  const server = await connected;
  // The bytes whose writes the server's socket completed (the kernel took them), headers included.
  const accepted = () => server.bytesWritten - server.writableLength;
  // Wait (bounded) until the flow stops: the client's window is full and a write waits on it.
  let last = -1;
  for (let still = 0, i = 0; still < 4 && i < 400; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = accepted();
    still = now === last && server.writableLength > 0 ? still + 1 : 0;
    last = now;
  }
  const kernel = accepted();
  const queued = server.writableLength;
  req.destroy();
  const [row] = await settle(() => d.ctx.audit.query({ sid: 'call_slow' }), (r) => r.length > 0);
  t.comment(`client read ${received} B; the socket accepted ${kernel} B (headers included), ${queued} B still queued; audited ${row!.bytes} B of ${big.length}`);
  t.ok(queued > 0, 'the response had bytes still queued in the process when the client left');
  t.ok(row!.bytes! <= kernel, 'no more than the socket accepted');
  t.ok(row!.bytes! < big.length / 4, 'far below the file size');
});

t.test('secrets and tokens never reach the log', async (t) => {
  const chunks: string[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) });
  const d = await startDaemon({ RECPROXY_LOG_LEVEL: 'debug' }, { logger: { ...loggerOptions('debug'), stream } });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_l1', to: '+15550000001', bytes: wav });
  const ctx = d.ctx;
  const key = (await ctx.apiKeys.create({ orgs: ['org_a'] })).key;
  const h = { Authorization: `Bearer ${key}`, 'X-Organization-Id': 'org_a', Cookie: 'session=cookie-secret-value' };
  const base = ctx.origin.url;

  const media = urlOf(await send(`${base}${S('call_l1')}`, 'GET', h));
  const token = media.split('/media/')[1]!;
  const amz = 'f00dfacecafebabe0123456789abcdef0123456789abcdef0123456789abcdef';
  const forged = `${key.slice(0, 17)}${'Q'.repeat(43)}`;
  t.equal((await send(media, 'GET')).status, 200);
  t.equal((await send(`${media}?X-Amz-Signature=${amz}&X-Amz-Credential=AKIASECRETCRED%2F20250101`, 'GET')).status, 200, 'a presigned-style URL');
  t.equal((await send(`${base}${DL('call_l1')}?X-Amz-Signature=${amz}&access_token=query-secret`, 'GET', h)).status, 200);
  t.equal((await send(`${media}/extra`, 'GET')).status, 404, 'a 404 on /media/<token>/…');
  t.equal((await send(`${base}/media/${token.slice(0, -3)}xyz`, 'GET')).status, 403, 'a tampered token');
  t.equal((await send(`${base}${S('call_l1')}`, 'GET', { ...h, Authorization: `Bearer ${forged}` })).status, 401, 'a forged key');
  t.equal((await send(`${base}${S('call_l1')}`, 'GET', { ...h, Authorization: 'Basic dXNlcjpodW50ZXIy' })).status, 401);
  t.equal((await send(`${base}/MEDIA/${token}?token=${token}`, 'GET', h)).status, 404, 'a mis-cased media path');

  const text = chunks.join('');
  t.match(text, /incoming request/, 'debug logging was on (the test is not vacuous)');
  t.match(text, /\[redacted\]/, 'redaction happened');
  const secrets: [string, string][] = [
    ['the API key', key],
    ['the API key secret', key.slice(17)],
    ['the forged key', forged.slice(17)],
    ['the media token', token],
    ['the token signature', token.split('.')[2]!],
    ['the X-Amz-Signature value', amz],
    ['the X-Amz-Credential', 'AKIASECRETCRED'],
    ['an access_token', 'query-secret'],
    ['a cookie', 'cookie-secret-value'],
    ['Basic credentials', 'dXNlcjpodW50ZXIy'],
  ];
  for (const [what, secret] of secrets) t.notOk(text.includes(secret), `${what} is not in the log`, { lines: text.split("\n").filter((l) => l.includes(secret)) });
});

/** Runs `bin/recproxy serve` in a fresh directory; resolves with its output up to the listen line. */
async function serveLog(t: Test, env: Record<string, string>): Promise<string> {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-serve-'));
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: cleanEnv({ PORT: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise((resolve) => child.once('close', resolve));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await closed;
    await rm(cwd, { recursive: true, force: true });
  });
  return new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listen line: ${out}`)), 20_000);
    child.stdout.on('data', (c) => {
      out += c;
      if (/recproxy serving on/.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.stderr.on('data', (c) => (out += c));
    child.once('close', () => reject(new Error(`serve exited: ${out}`)));
  });
}

t.test('serve gives advice in its first log lines', async (t) => {
  const fresh = await serveLog(t, {});
  const first = fresh.split('\n')[0]!;
  t.match(first, /keys create --org/, 'with no keys, the first line says how to make one');

  const exposed = await serveLog(t, { RECPROXY_AUTH_MODE: 'trusted-header', HOST: '0.0.0.0' });
  t.match(exposed, /auth mode trusted-header while listening on 0\.0\.0\.0/, 'trusted-header beyond loopback warns');
  t.notMatch(exposed, /keys create/, 'no API-key advice in trusted-header mode');

  const loopback = await serveLog(t, { RECPROXY_AUTH_MODE: 'trusted-header' });
  t.notMatch(loopback, /trusted-header while listening/, 'no warning on loopback');
});
