/**
 * In-place registration (src/calls/register-stored.ts, CallsService.registerStored): an object
 * already in storage is read once (audio check, sha256, WAV duration) and indexed under its own
 * key; same bytes again are "already", other bytes, another organization or a deleted call are
 * CALL_EXISTS; a lost insert race answers the winner's row when the bytes agree. Nothing in the
 * store is ever written or deleted.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LocalAdapter } from '../adapters/local.js';
import { StoredRegistrar, registerStored } from '../src/calls/register-stored.js';
import { CallsService } from '../src/calls/service.js';
import { CallExists } from '../src/core/errors.js';
import { SqliteCallIndex } from '../src/stores/sqlite/call-index.js';
import { tinyWav } from './helpers/pbx-trees.js';
import type { CallRow, NewCall } from '../src/stores/types.js';

const dir = await mkdtemp(join(tmpdir(), 'recproxy-register-stored-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const root = join(dir, 'store');
await mkdir(join(root, 'spool'), { recursive: true });
const wav = tinyWav(25, 7);
await writeFile(join(root, 'spool/a.wav'), wav);
await writeFile(join(root, 'spool/b.wav'), tinyWav(30, 8));
await writeFile(join(root, 'spool/c.mp3'), Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.alloc(100)]));
await writeFile(join(root, 'spool/notes.wav'), 'not audio');
const storage = new LocalAdapter({ root });
const index = new SqliteCallIndex(join(dir, 'index.db'));
t.teardown(() => index.close());
const calls = new CallsService({ index, storage, mediaUrls: { url: () => ({ url: '', expiresAt: new Date() }) }, streamTtl: 60, streamMode: 'proxy', streamUrlReuseSec: 0 });
const fields = { org: 'org_a', sid: 'call_a1', to: '+15550001', from: '201', startedAt: '2026-11-28T09:30:12Z' };
const listing = async () => (await readdir(join(root, 'spool'))).sort();
const before = await listing();

t.test('indexes the object under its own key with its hash and duration; again is "already"', async (t) => {
  const first = await calls.registerStored(fields, 'spool/a.wav');
  t.equal(first.created, true);
  t.match(first.call, {
    call_sid: 'call_a1', org_id: 'org_a', to_number: '+15550001', from_number: '201', started_at: '2026-11-28T09:30:12.000Z',
    duration_ms: 25, storage_key: 'spool/a.wav', content_type: 'audio/wav', size_bytes: wav.length,
    sha256: createHash('sha256').update(wav).digest('hex'),
  });
  const again = await calls.registerStored(fields, 'spool/a.wav');
  t.equal(again.created, false);
  t.same(again.call, await index.get('call_a1'));
  const mp3 = await calls.registerStored({ org: 'org_a', sid: 'call_m1', to: 'unknown' }, 'spool/c.mp3');
  t.match(mp3.call, { content_type: 'audio/mpeg', duration_ms: null, from_number: null, started_at: null });
});

t.test('other bytes, another organization and a deleted call are CALL_EXISTS; not audio and bad fields are refused', async (t) => {
  await t.rejects(calls.registerStored(fields, 'spool/b.wav'), { code: 'CALL_EXISTS' }, 'other bytes');
  await t.rejects(calls.registerStored({ ...fields, org: 'org_b' }, 'spool/a.wav'), { code: 'CALL_EXISTS' }, 'another organization');
  await calls.registerStored({ ...fields, sid: 'call_d1' }, 'spool/b.wav');
  await index.markDeleted('call_d1');
  await t.rejects(calls.registerStored({ ...fields, sid: 'call_d1' }, 'spool/b.wav'), { code: 'CALL_EXISTS' }, 'deleted');
  await t.rejects(calls.registerStored({ ...fields, sid: 'call_n1' }, 'spool/notes.wav'), { code: 'INVALID_REQUEST', message: /spool\/notes\.wav is not audio/ });
  await t.rejects(calls.registerStored({ ...fields, sid: 'nope' }, 'spool/a.wav'), { code: 'INVALID_REQUEST', message: /sid must be/ });
  await t.rejects(calls.registerStored({ ...fields, sid: 'call_z1' }, 'spool/missing.wav'), { code: 'OBJECT_NOT_FOUND' });
  t.notOk(await index.get('call_n1'));
  t.same(await listing(), before, 'nothing in the store was written or removed');
});

t.test('a lost insert race answers the winner when the bytes agree, and fails otherwise', async (t) => {
  let winner: CallRow | undefined;
  const racing = {
    get: async (sid: string) => (winner?.call_sid === sid ? winner : undefined),
    insert: async (call: NewCall): Promise<CallRow> => {
      winner = { ...call, created_at: 'now', deleted_at: null, legal_hold_at: null, storage_key: 'elsewhere.wav' };
      throw new CallExists(call.call_sid);
    },
  };
  const same = await registerStored({ index: racing, storage }, { ...fields, sid: 'call_r1' }, 'spool/a.wav');
  t.same(same, { call: winner, created: false });

  const otherBytes = {
    get: async () => undefined,
    insert: async (call: NewCall): Promise<CallRow> => {
      throw new CallExists(call.call_sid);
    },
  };
  await t.rejects(registerStored({ index: otherBytes, storage }, { ...fields, sid: 'call_r2' }, 'spool/a.wav'), { code: 'CALL_EXISTS' });
  t.same(await listing(), before, 'the object is never removed, race or not');
});

t.test('concurrent registrations share one insertMany transaction; a call_sid twice in a batch is "already" the second time', async (t) => {
  const batches: number[] = [];
  const counted = {
    get: (sid: string) => index.get(sid),
    insert: (call: NewCall) => index.insert(call),
    insertMany: (rows: NewCall[]) => {
      batches.push(rows.length);
      return index.insertMany(rows);
    },
  };
  const registrar = new StoredRegistrar({ index: counted, storage });
  const results = await Promise.all([
    registrar.register({ ...fields, sid: 'call_b1' }, 'spool/a.wav'),
    registrar.register({ ...fields, sid: 'call_b2' }, 'spool/b.wav'),
    registrar.register({ ...fields, sid: 'call_b3' }, 'spool/a.wav'),
    registrar.register({ ...fields, sid: 'call_b3' }, 'spool/a.wav'),
  ]);
  // How the rows group into transactions depends on when each read finishes (the bench measures
  // the gain); what holds always: every row went through insertMany, none twice.
  t.equal(batches.reduce((a, b) => a + b, 0), 4, 'every row through insertMany');
  t.same(results.slice(0, 2).map((r) => r.created), [true, true]);
  t.same(results.slice(2).map((r) => r.created).sort(), [false, true], 'call_b3 twice: created once, then "already"');
  t.same(results[2]!.call, await index.get('call_b3'));
  t.same(results[3]!.call, await index.get('call_b3'));
  await t.rejects(
    Promise.all([registrar.register({ ...fields, sid: 'call_b4' }, 'spool/a.wav'), registrar.register({ ...fields, sid: 'call_b4' }, 'spool/b.wav')]),
    { code: 'CALL_EXISTS' },
    'other bytes under one call_sid in one batch: the second is a conflict',
  );

  const failing = new StoredRegistrar({ index: { ...counted, insertMany: async () => Promise.reject(new Error('disk I/O error')) }, storage });
  await t.rejects(failing.register({ ...fields, sid: 'call_b5' }, 'spool/a.wav'), /disk I\/O error/, 'a failed transaction fails each of its registrations');

  const single = new StoredRegistrar({ index: { get: counted.get, insert: counted.insert }, storage });
  t.equal((await single.register({ ...fields, sid: 'call_b6' }, 'spool/a.wav')).created, true, 'without insertMany: one insert per call');
  t.equal(batches.reduce((a, b) => a + b, 0), 6, 'the call_b4 pair went through insertMany too; the single registrar never did');
});
