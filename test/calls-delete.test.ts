/**
 * Deleting calls and their legal hold over real HTTP, on local disk, S3 and MinIO (against
 * s3rver): DELETE removes the bytes from storage and leaves a tombstone (404 afterwards, 204
 * again, never resurrected by a re-registration), is admin-only, organization-scoped, refused
 * with 409 LEGAL_HOLD while the call is held; a storage failure leaves the call as it was; every
 * write is in the access audit.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from './helpers/s3-server.js';
import { BUCKET, storageEnv } from './helpers/storage-env.js';
import { makeWav } from './helpers/wav.js';
import { StorageUnavailable } from '../src/core/errors.js';
import type { AuditQuery, AuditRow } from '../src/stores/types.js';

process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;

async function call(d: Daemon, method: string, path: string, headers: Record<string, string>) {
  const res = await fetch(`${d.url}${path}`, { method, headers });
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('application/json');
  return { status: res.status, text, body: text && json ? (JSON.parse(text) as { success: boolean; data?: Record<string, unknown>; error?: { code: string; message: string } }) : undefined };
}

async function adminHeaders(d: Daemon, org: string): Promise<Record<string, string>> {
  const key = await d.ctx.apiKeys.create({ orgs: [org], scope: 'admin', label: 'admin' });
  return { Authorization: `Bearer ${key.key}`, 'X-Organization-Id': org, 'x-key-id': key.id };
}

const wav = makeWav(0.2);

/**
 * The audit rows of `q` once there are at least `n`: the daemon writes them from its writer
 * thread, which a loaded machine may start late (query waits for it, but only so long).
 */
async function auditRows(d: Daemon, q: AuditQuery, n: number): Promise<AuditRow[]> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const rows = await d.ctx.audit.query(q);
    if (rows.length >= n || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 200));
  }
}

for (const storage of ['local', 's3', 'minio']) {
  t.test(`DELETE and legal hold, ${storage}`, async (t) => {
    let s3: S3Server | undefined;
    if (storage !== 'local') {
      s3 = await startS3Server({ buckets: [BUCKET] });
      t.teardown(() => s3!.stop());
    }
    const d = await startDaemon(storageEnv(storage, 'proxy', s3));
    t.teardown(d.stop);
    await d.addCall({ org: 'org_a', sid: 'call_d1', to: '+15550001', bytes: wav });
    await d.addCall({ org: 'org_a', sid: 'call_d2', to: '+15550002', bytes: wav });
    await d.addCall({ org: 'org_b', sid: 'call_x1', to: '+15550003', bytes: wav });
    const row = (await d.ctx.index.get('call_d1'))!;
    const admin = await adminHeaders(d, 'org_a');
    const adminB = await adminHeaders(d, 'org_b');
    const read = d.headers('org_a');

    const before = await call(d, 'GET', '/api/calls/call_d1', read);
    t.match(before.body?.data, { call_sid: 'call_d1', legal_hold: false, legal_hold_at: null }, 'the metadata carries the hold state');
    t.notOk('storage_key' in before.body!.data!, 'never the storage key');

    const scoped = await call(d, 'DELETE', '/api/calls/call_d1', read);
    t.equal(scoped.status, 403);
    t.equal(scoped.body?.error?.code, 'INSUFFICIENT_SCOPE', 'a read key cannot delete');
    t.equal((await call(d, 'PUT', '/api/calls/call_d1/hold', read)).body?.error?.code, 'INSUFFICIENT_SCOPE', 'nor set a hold');

    const other = await call(d, 'DELETE', '/api/calls/call_d1', adminB);
    const missing = await call(d, 'DELETE', '/api/calls/call_nope', adminB);
    t.equal(other.status, 404);
    t.equal(other.body?.error?.code, 'CALL_NOT_FOUND', "another organization's call is not found");
    t.same({ ...other.body, error: { ...other.body!.error, message: '' } }, { ...missing.body, error: { ...missing.body!.error, message: '' } }, '…exactly like a missing one');
    t.equal((await call(d, 'PUT', '/api/calls/call_x1/hold', admin)).status, 404, 'nor can it be held from another organization');
    t.equal((await call(d, 'GET', '/api/calls/call_d1', read)).status, 200, 'refusals changed nothing');

    const held = await call(d, 'PUT', '/api/calls/call_d1/hold', admin);
    t.equal(held.status, 200);
    t.match(held.body?.data, { call_sid: 'call_d1', legal_hold: true, legal_hold_at: /^\d{4}-/ });
    const again = await call(d, 'PUT', '/api/calls/call_d1/hold', admin);
    t.equal(again.body?.data?.legal_hold_at, held.body?.data?.legal_hold_at, 'holding again keeps the first time');
    t.match((await call(d, 'GET', '/api/calls/call_d1', read)).body?.data, { legal_hold: true });
    const listed = (await call(d, 'GET', '/api/calls', read)).body as unknown as { data: { call_sid: string; legal_hold: boolean }[] };
    t.same(listed.data.map((c) => [c.call_sid, c.legal_hold]).sort(), [['call_d1', true], ['call_d2', false]], 'the listing carries it too');

    const refused = await call(d, 'DELETE', '/api/calls/call_d1', admin);
    t.equal(refused.status, 409);
    t.equal(refused.body?.error?.code, 'LEGAL_HOLD');
    await t.resolves(d.ctx.storage.stat(row.storage_key), 'the bytes stay while held');

    const released = await call(d, 'DELETE', '/api/calls/call_d1/hold', admin);
    t.equal(released.status, 200);
    t.match(released.body?.data, { legal_hold: false, legal_hold_at: null });

    const deleted = await call(d, 'DELETE', '/api/calls/call_d1', admin);
    t.equal(deleted.status, 204);
    t.equal(deleted.text, '', 'no body');
    await t.rejects(d.ctx.storage.stat(row.storage_key), { code: 'OBJECT_NOT_FOUND' }, 'the bytes are gone from storage');
    if (storage === 'local') t.notOk(existsSync(join(d.dir, 'recordings', row.storage_key)), 'and from the disk');
    const gone = await call(d, 'GET', '/api/calls/call_d1', read);
    t.equal(gone.status, 404);
    t.equal(gone.body?.error?.code, 'CALL_NOT_FOUND');
    t.equal((await call(d, 'GET', '/api/calls/call_d1/recording/download', read)).status, 404);
    t.equal((await call(d, 'DELETE', '/api/calls/call_d1', admin)).status, 204, 'a second DELETE: 204 again');
    t.equal((await call(d, 'PUT', '/api/calls/call_d1/hold', admin)).status, 404, 'a deleted call cannot be held');
    t.ok((await d.ctx.index.get('call_d1'))?.deleted_at, 'the row stays as a tombstone');
    await t.rejects(d.addCall({ org: 'org_a', sid: 'call_d1', to: '+15550001', bytes: wav }), { code: 'CALL_EXISTS' }, 're-registering does not resurrect it');
    t.equal((await call(d, 'GET', '/api/calls/call_d1', read)).status, 404, 'still gone');
    t.equal((await call(d, 'GET', '/api/calls/call_d2', read)).status, 200, 'the other call is untouched');

    // A storage failure: the row stays, and the call is served as before.
    const storageDelete = d.ctx.storage.delete;
    d.ctx.storage.delete = async () => {
      throw new StorageUnavailable('injected');
    };
    const failed = await call(d, 'DELETE', '/api/calls/call_d2', admin);
    d.ctx.storage.delete = storageDelete;
    t.equal(failed.status, 503);
    t.equal(failed.body?.error?.code, 'STORAGE_UNAVAILABLE');
    t.equal((await call(d, 'GET', '/api/calls/call_d2/recording/download', read)).status, 200, 'a storage failure leaves the call');
    t.equal((await call(d, 'DELETE', '/api/calls/call_d2', admin)).status, 204, 'and the retry deletes it');

    const audit = await auditRows(d, { sid: 'call_d1', order: 'asc' }, 6);
    t.same(
      audit.map((a) => [a.action, a.status, a.principal, a.bytes]),
      [
        ['hold', 200, admin['x-key-id'], null],
        ['hold', 200, admin['x-key-id'], null],
        ['delete', 409, admin['x-key-id'], null],
        ['release', 200, admin['x-key-id'], null],
        ['delete', 204, admin['x-key-id'], null],
        ['delete', 204, admin['x-key-id'], null],
      ],
      'each hold, release and deletion (the refused one too) is in the audit',
    );
    t.same((await auditRows(d, { org: 'org_a', action: 'delete' }, 5)).length, 5, 'by action too (call_d2: failed in storage, then deleted)');
    const res = await fetch(`${d.url}/api/audit?action=delete&sid=call_d1`, { headers: admin });
    t.equal(res.status, 200, 'GET /api/audit?action=delete');
    t.equal(((await res.json()) as { data: unknown[] }).data.length, 3);
    t.equal((await fetch(`${d.url}/healthz`)).status, 200, 'the daemon serves on');
  });
}
