import t from 'tap';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAdapter } from '../adapters/local.js';
import type { SignOptions, SignedUrl } from '../src/core/storage.js';
import { TokenSigner } from '../src/token.js';
import { adapterContract } from './helpers/adapter-contract.js';

const signer = new TokenSigner([{ id: 'k1', secret: 'contract-test-secret' }]);

/** The daemon's media URL (as src/context.ts builds it): not fetchable without the daemon. */
function mediaUrl(key: string, options: SignOptions): SignedUrl {
  const exp = Math.floor(Date.now() / 1000) + options.expiresIn;
  const token = signer.sign({ key, exp, disposition: options.disposition, filename: options.filename, contentType: options.contentType });
  return { url: `http://127.0.0.1:3000/media/${token}`, expiresAt: new Date(exp * 1000) };
}

adapterContract(t, 'local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-contract-'));
  const adapter = new LocalAdapter({ root, signUrl: mediaUrl });
  return {
    adapter,
    fetchable: false,
    // Partial writes are temp files (".<hex>.part") beside their target.
    incompleteUploads: async () =>
      (await readdir(root, { recursive: true })).filter((name) => /(^|\/)\.[0-9a-f]+\.part$/.test(name)).length,
    cleanup: async () => {
      await rm(root, { recursive: true, force: true });
    },
  };
});

t.test('local signedUrl is a media token naming the key', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-sign-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const adapter = new LocalAdapter({ root, signUrl: mediaUrl });
  const signed = await adapter.signedUrl('calls/a.wav', { expiresIn: 60, disposition: 'inline', filename: 'a.wav', contentType: 'audio/wav' });
  const token = new URL(signed.url).pathname.replace(/^\/media\//, '');
  const grant = signer.verify(token);
  t.equal(grant.key, 'calls/a.wav');
  t.equal(grant.exp * 1000, signed.expiresAt.getTime());
});
