/**
 * The calls service registers a recording from a stream of its bytes, no file involved (what an
 * HTTP upload will hand it), and its validation errors name the fields, not the CLI's options.
 */
import t, { type Test } from 'tap';
import { isPromise } from '../src/core/awaitable.js';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalAdapter } from '../adapters/local.js';
import { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import type { CallRow, NewCall } from '../src/stores/types.js';
import { MediaUrls, PublicOrigin } from '../src/calls/media-urls.js';
import { InvalidFields, fieldProblems } from '../src/calls/register.js';
import { CallsService, type CallsIndex } from '../src/calls/service.js';
import { CallExists } from '../src/core/errors.js';
import { TokenSigner } from '../src/token.js';
import type { StorageAdapter } from '../src/core/storage.js';
import { runCli } from './helpers/cli.js';
import { makeWav } from './helpers/wav.js';

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** A service over a real index and local store in a fresh directory. */
async function setup(t: Test, wrap: (index: CallsIndex) => CallsIndex = (i) => i, storageOf?: (root: string) => StorageAdapter) {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-register-stream-'));
  const index = new SqliteCallIndex(join(dir, 'index.db'));
  t.teardown(async () => {
    await index.close();
    await rm(dir, { recursive: true, force: true });
  });
  const root = join(dir, 'recordings');
  const calls = new CallsService({
    index: wrap(index),
    storage: storageOf?.(root) ?? new LocalAdapter({ root }),
    mediaUrls: new MediaUrls(new TokenSigner([{ id: 'k1', secret: 'x'.repeat(32) }]), new PublicOrigin('http://x', 'x', 1)),
    streamTtl: 60,
    streamMode: 'presigned',
    streamUrlReuseSec: 0,
  });
  return { calls, index, root };
}

/** `bytes` as a stream of small chunks: the audio check must look past the first one. */
function trickle(bytes: Buffer, size = 7): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks, { objectMode: false });
}

const FIELDS = { org: 'org_s', sid: 'call_s1', to: '+1555' };

t.test('a recording registered from a stream, in small chunks: stored, hashed and indexed', async (t) => {
  const { calls, index, root } = await setup(t);
  const wav = makeWav(0.25);
  const { call: row, created } = await calls.register({ ...FIELDS, from: '+1666', startedAt: '2025-01-02T03:04:05Z' }, { body: trickle(wav), size: wav.length, name: 'upload.wav' });
  t.equal(created, true);
  t.match(row, { call_sid: 'call_s1', org_id: 'org_s', to_number: '+1555', from_number: '+1666', content_type: 'audio/wav', size_bytes: wav.length, duration_ms: 250 });
  t.equal(row.sha256, createHash('sha256').update(wav).digest('hex'));
  t.match(row.storage_key, /^org_s\/call_s1-[0-9a-f]{8}\.wav$/, 'local storage: no recordings/ prefix (the adapter says so)');
  t.same(await index.get('call_s1'), row);
  const stored = await new LocalAdapter({ root }).read(row.storage_key);
  const chunks: Buffer[] = [];
  for await (const c of stored.body) chunks.push(c as Buffer);
  t.ok(Buffer.concat(chunks).equals(wav), 'the bytes stored are the stream’s');
  const reader = { kind: 'api-key', id: 'k', orgs: ['org_s'], scope: 'read' } as const;
  const found = calls.findCall('org_s', 'call_s1', reader);
  t.notOk(isPromise(found), 'SQLite answers the lookup at once: no promise');
  t.equal((await found).storage_key, row.storage_key);
  t.throws(() => calls.findCall('org_s', 'call_none', reader), { code: 'CALL_NOT_FOUND' }, 'a missing call is thrown at once');
  t.throws(() => calls.findCall('org_t', 'call_s1', reader), { code: 'ORG_FORBIDDEN' }, 'an organization the principal does not hold');
});

t.test('the content type and duration from the bytes, whatever the name or declared type; the key prefix from the adapter', async (t) => {
  const { calls } = await setup(t, undefined, (root) => Object.assign(new LocalAdapter({ root }), { recordingsPrefix: 'recordings/' }));
  const wav = makeWav(0.1);
  const { call: named } = await calls.register({ ...FIELDS, sid: 'call_s2' }, { body: Readable.from([wav]), size: wav.length, name: 'x.mp3' });
  t.equal(named.content_type, 'audio/wav', 'not audio/mpeg from the name');
  t.match(named.storage_key, /^recordings\/org_s\/call_s2-[0-9a-f]{8}\.wav$/);
  const { call: typed } = await calls.register(
    { ...FIELDS, sid: 'call_s3', contentType: 'audio/mpeg', durationMs: 99_000 },
    { body: Readable.from([wav]), name: 'upload' },
  );
  t.equal(typed.content_type, 'audio/wav', 'not the declared audio/mpeg');
  t.equal(typed.duration_ms, 100, 'the header’s duration, not the sender’s; no size needed');
  const { call: started } = await calls.register({ ...FIELDS, sid: 'call_s4', startedAt: '2026-03-01T09:30:00+01:30' }, { body: Readable.from([wav]), name: 'u' });
  t.equal(started.started_at, '2026-03-01T08:00:00.000Z', 'started_at stored in UTC');
});

t.test('field errors name the fields, not command-line options; nothing is opened', async (t) => {
  const { calls, root } = await setup(t);
  let opened = 0;
  const source = async () => {
    opened++;
    return { body: Readable.from([makeWav(0.1)]), size: 1, name: 'never.wav' };
  };
  const bad = { org: 'bad org!', sid: 'nope', to: '', from: 'x'.repeat(65), contentType: 'wav', startedAt: 'yesterday', durationMs: -1 };
  const err = await calls.register(bad, source).catch((e: unknown) => e);
  t.ok(err instanceof InvalidFields);
  t.match(err, {
    code: 'INVALID_REQUEST',
    statusCode: 400,
    message:
      'sid must be call_ followed by 1-64 letters or digits; org must be 1-128 letters, digits or _ . : -; ' +
      'to must be a phone number or address of 1-64 characters; from must be at most 64 characters; ' +
      'contentType must be a media type such as audio/wav; startedAt must be an ISO 8601 time; ' +
      'durationMs must be a whole number of milliseconds',
  });
  t.same(
    (err as InvalidFields).problems.map((p) => p.field),
    ['sid', 'org', 'to', 'from', 'contentType', 'startedAt', 'durationMs'],
  );
  t.notMatch((err as Error).message, /--/, 'no option names');
  t.same(fieldProblems(FIELDS), [], 'good fields: no problems');
  t.notOk(new Error('x') instanceof InvalidFields, 'only its own errors are InvalidFields');
  const other = await calls.register(FIELDS, { body: Readable.from([Buffer.from('not audio at all')]), size: 16, name: 'n.txt' }).catch((e: unknown) => e);
  t.match(other, { code: 'UNSUPPORTED_MEDIA_TYPE', statusCode: 415 }, 'bytes that are not audio');
  t.notOk(other instanceof InvalidFields, 'not a field error');
  t.equal(opened, 0, 'the source is never opened for bad fields');
  t.same(await filesUnder(root), []);
});

t.test('an existing call: the same bytes answer the row, other bytes CALL_EXISTS; nothing more stored', async (t) => {
  const { calls, index, root } = await setup(t);
  const wav = makeWav(0.1);
  const first = await calls.register(FIELDS, { body: Readable.from([wav]), size: wav.length, name: 'a.wav' });
  let opened = 0;
  const again = await calls.register(FIELDS, async () => {
    opened++;
    return { body: trickle(wav, 1000), size: wav.length, name: 'retry.wav' };
  });
  t.equal(opened, 1, 'opened to compare its bytes');
  t.same(again, { call: first.call, created: false }, 'a retry with the same bytes: the existing row');
  const other = makeWav(0.2);
  await t.rejects(calls.register(FIELDS, { body: Readable.from([other]), size: other.length, name: 'b.wav' }), { code: 'CALL_EXISTS' });
  await t.rejects(
    calls.register({ ...FIELDS, org: 'org_other' }, { body: Readable.from([wav]), size: wav.length, name: 'a.wav' }),
    { code: 'CALL_EXISTS' },
    'the same bytes under another organization: taken, not handed over',
  );
  t.same(await filesUnder(root), [first.call.storage_key.split('/').pop()], 'one object: nothing stored by the repeats');
  t.same(await index.get('call_s1'), first.call, 'the first row unchanged');
});

t.test('bytes that are not audio, an empty stream, a stream that fails: refused, nothing stored or indexed', async (t) => {
  const { calls, index, root } = await setup(t);
  await t.rejects(calls.register(FIELDS, { body: trickle(Buffer.from('root:$6$x:19700:0:99999:7:::\n'), 3), size: 29, name: 'shadow' }), {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: /^shadow is not audio: no WAV, MP3, Ogg, FLAC, GSM, M4A, WebM, AMR, AIFF or AU header$/,
  });
  await t.rejects(calls.register(FIELDS, { body: Readable.from([]), size: 0, name: 'empty.wav' }), { message: /empty\.wav is not audio/ });
  const wav = makeWav(0.5);
  const failing = Readable.from(
    (async function* () {
      yield wav.subarray(0, 5000);
      throw new Error('the upload was cut');
    })(),
    { objectMode: false },
  );
  await t.rejects(calls.register(FIELDS, { body: failing, size: wav.length, name: 'cut.wav' }), { message: 'the upload was cut' }, 'the source’s own error, not the adapter’s wording');
  t.equal(await index.get('call_s1'), undefined, 'nothing indexed');
  t.same(await filesUnder(root), [], 'nothing stored, not even a partial write');
});

t.test('the loser of a call_sid race deletes only its own bytes', async (t) => {
  const wav = makeWav(0.1);
  const racing = (winnerBytes: Buffer) => async (t: Test) => {
    let winner: CallRow | undefined;
    const { calls, index, root } = await setup(t, (inner) => ({
      ...inner,
      // The lookup saw no call, then another registration got its row in first.
      get: async (sid: string) => (winner ? index.get(sid) : undefined),
      insert: async (call: NewCall) => {
        winner ??= await index.insert({ ...call, storage_key: 'org_s/the-winner.wav', sha256: createHash('sha256').update(winnerBytes).digest('hex') });
        throw new CallExists(call.call_sid);
      },
    }));
    await new LocalAdapter({ root }).write('org_s/the-winner.wav', winnerBytes, { contentType: 'audio/wav' });
    const result = await calls.register(FIELDS, { body: Readable.from([wav]), size: wav.length, name: 'a.wav' }).catch((e: unknown) => e);
    t.same(await filesUnder(root), ['the-winner.wav'], 'the winner’s bytes stay; the loser’s are gone');
    t.equal((await index.get('call_s1'))?.storage_key, 'org_s/the-winner.wav');
    return result;
  };
  t.test('with other bytes: CALL_EXISTS', async (t) => {
    t.match(await racing(makeWav(0.2))(t), { code: 'CALL_EXISTS' });
  });
  t.test('with the same bytes: the winner’s row', async (t) => {
    t.match(await racing(wav)(t), { call: { storage_key: 'org_s/the-winner.wav' }, created: false });
  });
});

t.test('calls add words the same problems as its options, byte for byte', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-add-fields-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const res = await runCli(
    ['calls', 'add', '--org', 'bad org!', '--sid', 'nope', '--to', '1', '--file', 'x.wav', '--content-type', 'wav', '--started-at', 'yesterday'],
    { cwd },
  );
  t.equal(res.code, 2);
  t.match(
    res.stderr,
    /^recproxy: --sid must be call_ followed by 1-64 letters or digits; --org must be 1-128 letters, digits or _ \. : -; --content-type must be a media type such as audio\/wav; --started-at must be an ISO 8601 time\nusage:\n {2}recproxy calls add /,
  );
  t.same(await filesUnder(cwd), [], 'nothing opened or created');
});
