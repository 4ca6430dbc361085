import t from 'tap';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAdapter } from '../adapters/local.js';
import { adapterContract } from './helpers/adapter-contract.js';

// The local adapter hands out no URLs of its own; the daemon's media URLs that stand for them
// are tested in test/stream-url.test.ts.
adapterContract(t, 'local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'recproxy-local-contract-'));
  const adapter = new LocalAdapter({ root });
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
