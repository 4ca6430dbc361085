/**
 * Hostile input over real HTTP: one table, each row a request the daemon must refuse with the
 * documented status and JSON error code (or, where the README documents it, serve normally:
 * a malformed Range is ignored, a media token is a capability). Rows that fetch() or
 * node:http would refuse to send (CR/LF in a header, raw UTF-8 in the path, duplicate
 * headers) go through a raw socket, byte for byte.
 */
import t from 'tap';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { SignJWT, type JWTPayload } from 'jose';
import { startDaemon } from './helpers/daemon.js';
import { send, type Answer } from './helpers/http.js';
import { makeWav } from './helpers/wav.js';
import { TokenSigner, type MediaGrant } from '../src/token.js';

type Headers = Record<string, string | string[]>;
interface Row {
  name: string;
  method: string;
  path: string;
  headers: Headers;
  /** The status and error code the daemon must answer; code null for a documented non-error answer. */
  expectStatus: number;
  expectCode: string | null;
  /** Sent through a raw socket, exactly as written (CR, LF and raw UTF-8 included). */
  socket?: boolean;
  on?: 'jwt';
}

const SIGNING_SECRET = 'hostile-test-signing-secret-0123456789abcdef';
const JWT_SECRET = 'hostile-test-jwt-secret-0123456789abcdefghij';
const AUD = 'recproxy-test';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');


/** The request bytes written by hand on a socket; the answer parsed from what comes back. */
function sendRaw(base: string, method: string, path: string, headers: Headers): Promise<Answer> {
  const { port } = new URL(base);
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
  for (const [k, v] of Object.entries(headers)) for (const one of [v].flat()) head += `${k}: ${one}\r\n`;
  head += 'Connection: close\r\n\r\n';
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(Buffer.from(head, 'utf8')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {}); // the server may reset after answering a parse error
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const lines = all.subarray(0, split).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '');
      if (!m || split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(all.toString('latin1'))}`));
      const hs: IncomingHttpHeaders = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        hs[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = all.subarray(split + 4);
      if (hs['transfer-encoding'] === 'chunked') {
        const parts: Buffer[] = [];
        for (let at = 0; ; ) {
          const eol = body.indexOf('\r\n', at);
          const size = parseInt(body.subarray(at, eol).toString(), 16);
          if (!size) break;
          parts.push(body.subarray(eol + 2, eol + 2 + size));
          at = eol + 4 + size;
        }
        body = Buffer.concat(parts);
      }
      resolve({ status: Number(m[1]), headers: hs, body });
    });
  });
}

/** The README's error table: code → status. */
async function documentedCodes(): Promise<Map<string, number>> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const codes = new Map<string, number>();
  for (const m of readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) codes.set(m[1]!, Number(m[2]));
  return codes;
}

t.test('hostile input table', async (t) => {
  const d = await startDaemon({ RECPROXY_SIGNING_KEYS: `k1:${SIGNING_SECRET}` });
  t.teardown(d.stop);
  const j = await startDaemon({ RECPROXY_AUTH_MODE: 'jwt', RECPROXY_JWT_SECRET: JWT_SECRET, RECPROXY_JWT_AUDIENCE: AUD });
  t.teardown(j.stop);

  const wavA = makeWav(1);
  await d.addCall({ org: 'org_a', sid: 'call_a1', to: '+15550000001', bytes: wavA });
  await d.addCall({ org: 'org_b', sid: 'call_b1', to: '+15550000002', bytes: makeWav(0.5) });
  await j.addCall({ org: 'org_a', sid: 'call_j1', to: '+15550000003', bytes: makeWav(0.5) });
  const A = d.headers('org_a');
  const B = d.headers('org_b');
  const keyA = A.Authorization!.slice('Bearer '.length);
  const keyB = B.Authorization!.slice('Bearer '.length);
  const admin = (await d.ctx.apiKeys.create({ orgs: ['org_a'], scope: 'admin' })).key;
  const revoked = await d.ctx.apiKeys.create({ orgs: ['org_a'] });
  await d.ctx.apiKeys.revoke(revoked.id);
  const withKey = (key: string, org = 'org_a') => ({ Authorization: `Bearer ${key}`, 'X-Organization-Id': org });

  const streamRes = await fetch(`${d.url}/api/calls/call_a1/recording/stream`, { headers: A });
  t.equal(streamRes.status, 200, 'setup: a stream URL for call_a1');
  const tok = new URL(((await streamRes.json()) as { data: { url: string } }).data.url).pathname.split('/').pop()!;
  const [kid, payload, sig] = tok.split('.') as [string, string, string];
  const grant = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const keyB1 = (await d.ctx.index.get('call_b1'))!.storage_key;
  /** A payload signed with the daemon's real key: only the payload is hostile. */
  const signed = (body: unknown) => {
    const head = `k1.${b64(body)}`;
    return `${head}.${createHmac('sha256', SIGNING_SECRET).update(head).digest('base64url')}`;
  };
  const genuine = (over: Partial<MediaGrant>) =>
    d.ctx.signer.sign({ key: 'x', exp: now() + 600, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav', ...over });
  const flipped = Buffer.from(payload, 'base64url');
  flipped[5] = flipped[5]! ^ 0x01;

  const jwt = (claims: JWTPayload, opts: { secret?: string; alg?: string } = {}) =>
    new SignJWT({ sub: 'alice', aud: AUD, exp: now() + 300, org: 'org_a', ...claims })
      .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
      .sign(new TextEncoder().encode(opts.secret ?? JWT_SECRET));
  const goodJwt = await jwt({});
  const [jh, , js] = goodJwt.split('.') as [string, string, string];
  const bearer = (token: string, org = 'org_a') => ({ Authorization: `Bearer ${token}`, 'X-Organization-Id': org });

  const S = (sid: string) => `/api/calls/${sid}/recording/stream`;
  const DL = (sid: string) => `/api/calls/${sid}/recording/download`;
  const M = (token: string) => `/media/${token}`;
  const row = (name: string, method: string, path: string, headers: Headers, expectStatus: number, expectCode: string | null, extra: Partial<Row> = {}): Row =>
    ({ name, method, path, headers, expectStatus, expectCode, ...extra });
  const rows: Row[] = [];

  // call_sid: malformed, oversized, traversal, control characters, unicode; stream and download alike.
  const badSids: [string, string, number, string][] = [
    ['no prefix', 'abc123', 400, 'INVALID_CALL_SID'],
    ['prefix only', 'call_', 400, 'INVALID_CALL_SID'],
    ['dash', 'call_a-b', 400, 'INVALID_CALL_SID'],
    ['underscore', 'call_a_b', 400, 'INVALID_CALL_SID'],
    ['upper-case prefix', 'CALL_abc', 400, 'INVALID_CALL_SID'],
    ['65 characters', `call_${'a'.repeat(65)}`, 400, 'INVALID_CALL_SID'],
    ['%2e%2e', 'call_%2e%2e', 400, 'INVALID_CALL_SID'],
    ['bare %2e%2e', '%2e%2e', 400, 'INVALID_CALL_SID'],
    ['encoded-slash traversal', 'call_x%2F..%2F..%2Fetc%2Fpasswd', 400, 'INVALID_CALL_SID'],
    ['backslash traversal', 'call_x%5C..%5Cwin.ini', 400, 'INVALID_CALL_SID'],
    ['double-encoded ..', 'call_%252e%252e', 400, 'INVALID_CALL_SID'],
    ['%00', 'call_ab%00', 400, 'INVALID_CALL_SID'],
    ['%0d%0a', 'call_ab%0d%0aSet-Cookie:%20x=1', 400, 'INVALID_CALL_SID'],
    ['tab', 'call_ab%09', 400, 'INVALID_CALL_SID'],
    ['space', 'call_ab%20cd', 400, 'INVALID_CALL_SID'],
    ['é', 'call_%C3%A9', 400, 'INVALID_CALL_SID'],
    ['RTL override', 'call_ab%E2%80%AEcd', 400, 'INVALID_CALL_SID'],
    ['full-width digit', 'call_%EF%BC%91', 400, 'INVALID_CALL_SID'],
    ['SQL', "call_a'%20OR%20'1'='1", 400, 'INVALID_CALL_SID'],
    ['overlong UTF-8 dot', 'call_%C0%AE%C0%AE', 400, 'INVALID_REQUEST'],
    ['bad escape', 'call_%zz', 400, 'INVALID_REQUEST'],
    ['truncated escape', 'call_ab%', 400, 'INVALID_REQUEST'],
    ['9000 characters', `call_${'a'.repeat(9000)}`, 414, 'URI_TOO_LONG'],
  ];
  for (const [what, sid, status, code] of badSids) {
    rows.push(row(`stream, call_sid ${what}`, 'GET', S(sid), A, status, code));
    rows.push(row(`download, call_sid ${what}`, 'GET', DL(sid), A, status, code));
  }
  rows.push(
    // Raw bytes above 0x7f in a request target are refused by Node's parser: a malformed request.
    row('stream, raw UTF-8 call_sid', 'GET', S('call_é東'), A, 400, 'INVALID_REQUEST', { socket: true }),
    row('download, raw UTF-8 call_sid', 'GET', DL('call_é東'), A, 400, 'INVALID_REQUEST', { socket: true }),
    row('call_sid "..", unnormalised', 'GET', '/api/calls/../recording/stream', A, 400, 'INVALID_CALL_SID', { socket: true }),
    row('".." segments around the sid', 'GET', '/api/calls/call_a1/../call_b1/recording/stream', A, 404, 'ROUTE_NOT_FOUND', { socket: true }),
    row('trailing /.. after the route', 'GET', '/api/calls/call_a1/recording/stream/..', A, 404, 'ROUTE_NOT_FOUND', { socket: true }),
    row('invalid sid without credentials: auth first', 'GET', S('call_%2e%2e'), { 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'),
    row('invalid sid and no org header: the sid is named', 'GET', S('bad'), { Authorization: A.Authorization! }, 400, 'INVALID_CALL_SID'),
    row('POST on the stream route', 'POST', S('call_a1'), A, 404, 'ROUTE_NOT_FOUND'),
    row('DELETE on the download route', 'DELETE', DL('call_a1'), A, 404, 'ROUTE_NOT_FOUND'),
    row('no such endpoint', 'GET', '/api/calls/call_a1/recording', A, 404, 'ROUTE_NOT_FOUND'),
  );

  // Credentials (API keys).
  const other = `rpk_${'Z'.repeat(12)}_${'A'.repeat(43)}`;
  const authRows: [string, Headers, number, string][] = [
    ['no Authorization', { 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['Basic scheme', { Authorization: 'Basic dXNlcjpwYXNz', 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['Bearer, empty', { Authorization: 'Bearer', 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['Bearer and spaces', { Authorization: 'Bearer    ', 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['two tokens in one header', { Authorization: `Bearer ${keyA} ${keyB}`, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['two tokens, comma-joined', { Authorization: `Bearer ${keyA},${keyB}`, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['two Authorization headers (org_b key first)', { Authorization: [`Bearer ${keyB}`, `Bearer ${keyA}`], 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['two Authorization headers (good key, then garbage)', { Authorization: [`Bearer ${keyA}`, 'Bearer garbage'], 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['double space after Bearer', { Authorization: `Bearer  ${keyA}`, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['Token scheme', { Authorization: `Token ${keyA}`, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['key without scheme', { Authorization: keyA, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['5000-character Authorization', { Authorization: `Bearer ${'a'.repeat(5000)}`, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['forged: right id, wrong secret', withKey(`${keyA.slice(0, 17)}${'A'.repeat(43)}`), 401, 'UNAUTHORIZED'],
    ['forged: unknown id', withKey(other), 401, 'UNAUTHORIZED'],
    ['key plus one character', withKey(`${keyA}x`), 401, 'UNAUTHORIZED'],
    ['key minus one character', withKey(keyA.slice(0, -1)), 401, 'UNAUTHORIZED'],
    ['key upper-cased', withKey(keyA.toUpperCase()), 401, 'UNAUTHORIZED'],
    ['revoked key', withKey(revoked.key), 401, 'UNAUTHORIZED'],
    ['org_a key naming org_b', withKey(keyA, 'org_b'), 403, 'ORG_FORBIDDEN'],
    ['org_a key naming an unknown org', withKey(keyA, 'org_c'), 403, 'ORG_FORBIDDEN'],
    ['org_b key naming org_a', withKey(keyB, 'org_a'), 403, 'ORG_FORBIDDEN'],
    ['no X-Organization-Id', { Authorization: A.Authorization! }, 400, 'MISSING_ORGANIZATION'],
    ['empty X-Organization-Id', withKey(keyA, ''), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id ../org_a', withKey(keyA, '../org_a'), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id org_a/../org_b', withKey(keyA, 'org_a/../org_b'), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id %2e%2e%2forg_b', withKey(keyA, '%2e%2e%2forg_b'), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id with %00', withKey(keyA, 'org_a%00'), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id of 129 characters', withKey(keyA, `o${'a'.repeat(128)}`), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id latin-1', withKey(keyA, 'org_\u00e4'), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id list', withKey(keyA, 'org_a,org_b'), 400, 'INVALID_ORGANIZATION'],
    ['X-Organization-Id *', withKey(keyA, '*'), 400, 'INVALID_ORGANIZATION'],
    ['two X-Organization-Id headers', { Authorization: A.Authorization!, 'X-Organization-Id': ['org_a', 'org_b'] }, 400, 'INVALID_ORGANIZATION'],
    ['extra: X-Forwarded-User without a key (api-key mode)', { 'X-Forwarded-User': 'admin', 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['extra: X-Original-URL: /healthz without a key', { 'X-Original-URL': '/healthz', 'X-Rewrite-URL': '/healthz', 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['extra: X-Api-Key instead of Authorization', { 'X-Api-Key': keyA, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
    ['extra: Cookie instead of Authorization', { Cookie: `key=${keyA}`, 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'],
  ];
  for (const [what, headers, status, code] of authRows) rows.push(row(`stream, ${what}`, 'GET', S('call_a1'), headers, status, code));
  rows.push(
    row('download, org_a key naming org_b, org_b call', 'GET', DL('call_b1'), withKey(keyA, 'org_b'), 403, 'ORG_FORBIDDEN'),
    row('download, org_a key naming org_b, no such call', 'GET', DL('call_none'), withKey(keyA, 'org_b'), 403, 'ORG_FORBIDDEN'),
    row("stream, org_b's call with org_a's key", 'GET', S('call_b1'), A, 404, 'CALL_NOT_FOUND'),
    row("download, org_b's call with org_a's key", 'GET', DL('call_b1'), A, 404, 'CALL_NOT_FOUND'),
    row('stream, no such call', 'GET', S('call_none'), A, 404, 'CALL_NOT_FOUND'),
    row('X-Organization-Id raw UTF-8', 'GET', S('call_a1'), withKey(keyA, 'org_東京'), 400, 'INVALID_ORGANIZATION', { socket: true }),
    row('oversized header block (20 KB Authorization)', 'GET', S('call_a1'), withKey('a'.repeat(20_000)), 431, 'HEADERS_TOO_LARGE', { socket: true }),
  );

  // CR/LF and other bytes no client library would send: written on the socket as is.
  const injection: [string, Headers][] = [
    ['bare CR in X-Organization-Id', { Authorization: A.Authorization!, 'X-Organization-Id': 'org_a\rX-Injected: 1' }],
    ['bare LF in X-Organization-Id', { Authorization: A.Authorization!, 'X-Organization-Id': 'org_a\nX-Organization-Id: org_b' }],
    ['bare CR in Authorization', { Authorization: `Bearer ${keyA}\rX-Organization-Id: org_b`, 'X-Organization-Id': 'org_a' }],
    ['NUL in a header value', { Authorization: `Bearer ${keyA}\u0000`, 'X-Organization-Id': 'org_a' }],
    ['space before the colon', { Authorization: A.Authorization!, 'X-Organization-Id ': 'org_a' }],
    ['obsolete line folding', { Authorization: A.Authorization!, 'X-Organization-Id': 'org_a\r\n org_b' }],
    ['Content-Length and Transfer-Encoding together', { ...A, 'Content-Length': '5', 'Transfer-Encoding': 'chunked' }],
  ];
  for (const [what, headers] of injection) rows.push(row(`header injection: ${what}`, 'GET', S('call_a1'), headers, 400, 'INVALID_REQUEST', { socket: true }));

  // Media tokens: the token is the capability; headers are ignored.
  const mediaRows: [string, string, number, string | null][] = [
    ['garbage', 'garbage', 403, 'TOKEN_INVALID'],
    ['three empty-ish parts', 'a.b.c', 403, 'TOKEN_INVALID'],
    ['%2e%2e', '%2e%2e', 403, 'TOKEN_INVALID'],
    ['traversal', '..%2F..%2Fetc%2Fpasswd', 403, 'TOKEN_INVALID'],
    ['traversal toward the API', '..%2f..%2fapi%2fcalls%2fcall_b1', 403, 'TOKEN_INVALID'],
    ['%00 appended', `${tok}%00`, 403, 'TOKEN_INVALID'],
    ['%0d%0a appended', `${tok}%0d%0aSet-Cookie:%20x=1`, 403, 'TOKEN_INVALID'],
    ['payload byte flipped', `${kid}.${flipped.toString('base64url')}.${sig}`, 403, 'TOKEN_INVALID'],
    ["payload re-encoded naming org_b's object", `${kid}.${b64({ ...grant, k: keyB1 })}.${sig}`, 403, 'TOKEN_INVALID'],
    ['payload re-encoded with a later expiry', `${kid}.${b64({ ...grant, e: now() + 86_400 * 365 })}.${sig}`, 403, 'TOKEN_INVALID'],
    ['signature altered', `${kid}.${payload}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`, 403, 'TOKEN_INVALID'],
    ['signature empty', `${kid}.${payload}.`, 403, 'TOKEN_INVALID'],
    ['signature, non-canonical last character (same bytes)', `${kid}.${payload}.${sig.slice(0, -1)}${B64URL[B64URL.indexOf(sig.at(-1)!) ^ 1]}`, 403, 'TOKEN_INVALID'],
    ['signature with a character base64url skips', `${kid}.${payload}.${sig.slice(0, 20)}!${sig.slice(20)}`, 403, 'TOKEN_INVALID'],
    ['four parts', `${tok}.x`, 403, 'TOKEN_INVALID'],
    ['expired (genuine)', genuine({ key: grant.k as string, exp: now() - 10 }), 403, 'TOKEN_EXPIRED'],
    ['unknown kid', new TokenSigner([{ id: 'rogue', secret: 'r'.repeat(40) }]).sign({ key: grant.k as string, exp: now() + 60, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav' }), 403, 'TOKEN_INVALID'],
    ['known kid, wrong secret', new TokenSigner([{ id: 'k1', secret: 'w'.repeat(40) }]).sign({ key: grant.k as string, exp: now() + 60, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav' }), 403, 'TOKEN_INVALID'],
    ['signed payload that is not JSON', signed('not json'), 403, 'TOKEN_INVALID'],
    ['signed payload with a string expiry', signed({ ...grant, e: 'never' }), 403, 'TOKEN_INVALID'],
    ['signed payload with an infinite expiry', signed('{"k":"x","e":1e400,"d":"inline","f":"a","t":"audio/wav"}'), 403, 'TOKEN_INVALID'],
    ['signed payload with a header in the disposition', signed({ ...grant, d: 'inline\r\nSet-Cookie: x=1' }), 403, 'TOKEN_INVALID'],
    ['genuine signature over ../ key', genuine({ key: '../../../../etc/passwd' }), 404, 'RECORDING_NOT_FOUND'],
    ['genuine signature over an absolute key', genuine({ key: '/etc/passwd' }), 404, 'RECORDING_NOT_FOUND'],
    ['genuine signature over a key with NUL', genuine({ key: 'recordings/org_a/x\u0000.wav' }), 404, 'RECORDING_NOT_FOUND'],
    ['5000 characters', 'a'.repeat(5000), 403, 'TOKEN_INVALID'],
    ['9000 characters', 'a'.repeat(9000), 414, 'URI_TOO_LONG'],
    ['bad escape', '%zz', 400, 'INVALID_REQUEST'],
    ['replayed with org_b key headers: the capability serves', tok, 200, null],
  ];
  for (const [what, token, status, code] of mediaRows) {
    rows.push(row(`media, ${what}`, 'GET', M(token), what.startsWith('replayed') ? B : {}, status, code));
  }
  rows.push(
    row('media, HEAD with a garbage token', 'HEAD', M('garbage'), {}, 403, 'TOKEN_INVALID'),
    row('media, POST', 'POST', M(tok), {}, 404, 'ROUTE_NOT_FOUND'),
    row('media, extra segment', 'GET', `${M(tok)}/x`, {}, 404, 'ROUTE_NOT_FOUND'),
    row('media, raw UTF-8 token', 'GET', M('tök.東.x'), {}, 400, 'INVALID_REQUEST', { socket: true }),
  );

  // Absurd Range values, on the download and on the media URL. A malformed Range is ignored (200).
  const thousandApart = `bytes=${Array.from({ length: 1000 }, (_, i) => `${i * 10}-${i * 10}`).join(',')}`;
  const thousandPast = `bytes=${Array.from({ length: 1000 }, (_, i) => `${wavA.length + i}-`).join(',')}`;
  const ranges: [string, string, number, string | null][] = [
    ['bytes=99999999999999999999-', 'bytes=99999999999999999999-', 416, 'RANGE_NOT_SATISFIABLE'],
    ['start at the size', `bytes=${wavA.length}-`, 416, 'RANGE_NOT_SATISFIABLE'],
    ['1000 ranges past the end', thousandPast, 416, 'RANGE_NOT_SATISFIABLE'],
    ['bytes=-5-', 'bytes=-5-', 200, null],
    ['bytes=--1', 'bytes=--1', 200, null],
    ['bytes=5-1', 'bytes=5-1', 200, null],
    ['1000 disjoint ranges', thousandApart, 200, null],
    ['a 10 KB Range header', `bytes=${'0-0,'.repeat(2560)}0-1`, 200, null],
    ['bytes=1e3-2e3', 'bytes=1e3-2e3', 200, null],
    ['unit items', 'items=0-1', 200, null],
    ['end 99999999999999999999 (clamped)', 'bytes=0-99999999999999999999', 206, null],
  ];
  for (const [what, range, status, code] of ranges) {
    rows.push(row(`download, Range ${what}`, 'GET', DL('call_a1'), { ...A, Range: range }, status, code));
    rows.push(row(`media, Range ${what}`, 'GET', M(tok), { Range: range }, status, code));
  }

  // The admin endpoint.
  rows.push(
    row('audit with a read key', 'GET', '/api/audit', A, 403, 'INSUFFICIENT_SCOPE'),
    row('audit, admin key naming org_b', 'GET', '/api/audit', withKey(admin, 'org_b'), 403, 'ORG_FORBIDDEN'),
    row('audit without credentials', 'GET', '/api/audit', { 'X-Organization-Id': 'org_a' }, 401, 'UNAUTHORIZED'),
    row('audit, limit=0', 'GET', '/api/audit?limit=0', withKey(admin), 400, 'INVALID_REQUEST'),
    row('audit, limit=abc', 'GET', '/api/audit?limit=abc', withKey(admin), 400, 'INVALID_REQUEST'),
    row('audit, sid=../etc', 'GET', '/api/audit?sid=..%2Fetc', withKey(admin), 400, 'INVALID_REQUEST'),
    row('audit, since=yesterday', 'GET', '/api/audit?since=yesterday', withKey(admin), 400, 'INVALID_REQUEST'),
  );

  // JWT mode (second daemon).
  const jwtRows: [string, Headers, number, string | null][] = [
    ['valid HS256 token (control)', bearer(goodJwt), 200, null],
    ['alg none', bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', aud: AUD, exp: now() + 300, org: 'org_a' })}.`), 401, 'UNAUTHORIZED'],
    ['alg None', bearer(`${b64({ alg: 'None' })}.${b64({ sub: 'alice', aud: AUD, exp: now() + 300, org: 'org_a' })}.`), 401, 'UNAUTHORIZED'],
    ['wrong key', bearer(await jwt({}, { secret: 'x'.repeat(40) })), 401, 'UNAUTHORIZED'],
    ['HS512 with the right secret', bearer(await jwt({}, { alg: 'HS512' })), 401, 'UNAUTHORIZED'],
    ['expired', bearer(await jwt({ exp: now() - 3600 })), 401, 'UNAUTHORIZED'],
    ['not yet valid', bearer(await jwt({ nbf: now() + 3600 })), 401, 'UNAUTHORIZED'],
    ['wrong audience', bearer(await jwt({ aud: 'someone-else' })), 401, 'UNAUTHORIZED'],
    ['no audience', bearer(await jwt({ aud: undefined })), 401, 'UNAUTHORIZED'],
    ['no org claim', bearer(await jwt({ org: undefined })), 401, 'UNAUTHORIZED'],
    ['org claim with traversal', bearer(await jwt({ org: '../org_a' })), 401, 'UNAUTHORIZED'],
    ['org claim a number', bearer(await jwt({ org: 42 })), 401, 'UNAUTHORIZED'],
    ['no sub', bearer(await jwt({ sub: undefined })), 401, 'UNAUTHORIZED'],
    ['no exp', bearer(await jwt({ exp: undefined })), 401, 'UNAUTHORIZED'],
    ['payload swapped, signature kept', bearer(`${jh}.${b64({ sub: 'mallory', aud: AUD, exp: now() + 300, org: 'org_a' })}.${js}`), 401, 'UNAUTHORIZED'],
    ['an API key in jwt mode', bearer(keyA), 401, 'UNAUTHORIZED'],
    ['a.b.c', bearer('a.b.c'), 401, 'UNAUTHORIZED'],
    ['token for org_b naming org_a', bearer(await jwt({ org: ['org_b'] })), 403, 'ORG_FORBIDDEN'],
    ['valid token, no X-Organization-Id', { Authorization: `Bearer ${goodJwt}` }, 400, 'MISSING_ORGANIZATION'],
  ];
  for (const [what, headers, status, code] of jwtRows) rows.push(row(`jwt, ${what}`, 'GET', S('call_j1'), headers, status, code, { on: 'jwt' }));

  t.ok(rows.length >= 100, `${rows.length} rows`);
  const documented = await documentedCodes();
  for (const code of new Set(rows.map((r) => r.expectCode).filter((c): c is string => c !== null))) {
    const status = rows.find((r) => r.expectCode === code)!.expectStatus;
    t.equal(documented.get(code), status, `README's error table lists ${code} as ${status}`);
  }

  for (const r of rows) {
    const base = r.on === 'jwt' ? j.url : d.url;
    const res = await (r.socket ? sendRaw : send)(base, r.method, r.path, r.headers);
    const injected = 'set-cookie' in res.headers || 'x-injected' in res.headers;
    if (r.expectCode === null) {
      t.same({ status: res.status, injected }, { status: r.expectStatus, injected: false }, r.name);
      continue;
    }
    let body: unknown = null;
    try {
      body = r.method === 'HEAD' ? null : JSON.parse(res.body.toString());
    } catch {
      body = res.body.toString().slice(0, 200);
    }
    const env = body as { success?: unknown; error?: { code?: unknown; message?: unknown } } | null;
    const got = {
      status: res.status,
      json: /^application\/json/.test(String(res.headers['content-type'])),
      code: r.method === 'HEAD' ? r.expectCode : env?.error?.code,
      envelope: r.method === 'HEAD' || (env?.success === false && typeof env.error?.message === 'string' && Object.keys(env).length === 2),
      injected,
      challenge: r.expectStatus === 401 ? /^Bearer /.test(String(res.headers['www-authenticate'])) : true,
    };
    t.same(got, { status: r.expectStatus, json: true, code: r.expectCode, envelope: true, injected: false, challenge: true }, `${r.name} → ${r.expectStatus} ${r.expectCode}`, { body });
  }

  // Healthy afterwards: health, a normal stream URL and its bytes, a normal JWT request.
  t.equal((await fetch(`${d.url}/healthz`)).status, 200, 'healthz after the table');
  const after = await fetch(`${d.url}/api/calls/call_a1/recording/stream`, { headers: A });
  t.equal(after.status, 200, 'a normal stream request still works');
  const { data } = (await after.json()) as { data: { url: string } };
  t.ok(Buffer.from(await (await fetch(data.url)).arrayBuffer()).equals(wavA), 'and its URL serves the recording');
  t.equal((await fetch(`${j.url}/healthz`)).status, 200, 'jwt daemon healthz');
  t.equal((await fetch(`${j.url}${S('call_j1')}`, { headers: bearer(await jwt({})) })).status, 200, 'jwt daemon still serves');
});
