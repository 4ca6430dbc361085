/**
 * Where `calls add` puts a recording on local disk: under the root by organization, without the
 * root's own name repeated; rows written with the older `recordings/{org}/…` keys still serve.
 */
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

t.test('new local recordings go to {root}/{org}/, and old-layout rows still download', async (t) => {
  const d = await startDaemon();
  t.teardown(d.stop);
  const wav = makeWav(1);
  const root = join(d.dir, 'recordings');

  await d.addCall({ org: 'org_1', sid: 'call_new', to: '+15550000001', bytes: wav });
  const key = (await d.ctx.index.get('call_new'))!.storage_key;
  t.match(key, /^org_1\/call_new-[0-9a-f]{8}\.wav$/, 'the key starts at the organization');
  t.ok(existsSync(join(root, key)), 'the file is at {root}/{key}');
  t.notOk(existsSync(join(root, 'recordings')), 'no recordings/recordings/ directory');
  t.same(readdirSync(root), ['org_1']);

  // A row from before the change: its key repeats the root's name, and its file lives there.
  const oldKey = 'recordings/org_1/call_old-0123abcd.wav';
  await d.ctx.storage.write(oldKey, wav, { contentType: 'audio/wav', size: wav.length });
  await d.ctx.index.insert({
    call_sid: 'call_old', org_id: 'org_1', to_number: '+15550000002', from_number: null, started_at: null,
    duration_ms: 1000, storage_key: oldKey, content_type: 'audio/wav', size_bytes: wav.length, sha256: 'x',
  });
  t.ok(existsSync(join(root, 'recordings', 'org_1', 'call_old-0123abcd.wav')));
  for (const sid of ['call_new', 'call_old']) {
    const dl = await fetch(`${d.url}/api/calls/${sid}/recording/download`, { headers: d.headers('org_1') });
    t.equal(dl.status, 200, `${sid} downloads`);
    t.ok(Buffer.from(await dl.arrayBuffer()).equals(wav), `${sid}: the bytes registered`);
  }
});
