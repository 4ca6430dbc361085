/** `serve` that cannot start exits 1 by itself, with one documented message, instead of hanging. */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';

t.test('serve exits 1 by itself, with the documented message, when it cannot start', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => taken.close(resolve)));
  const port = (taken.address() as AddressInfo).port;

  // The timeout only ends a hang: the child must exit by itself (a kill gives no exit code).
  const inUse = await runCli(['serve'], { cwd, env: { PORT: String(port), RECPROXY_PORT: '4000' }, timeoutMs: 20_000 });
  t.equal(inUse.code, 1, 'a taken port: exit 1');
  t.match(inUse.stderr, new RegExp(`^recproxy: LISTEN_FAILED: cannot listen on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE`, 'm'));
  t.match(inUse.stdout, /RECPROXY_PORT is not a recproxy setting and is ignored; did you mean PORT\?/, 'warned in the log before listening');
  t.match(inUse.stdout, `created a new, empty call index at ${join(cwd, 'data', 'index.db')}`, 'the new index is logged');
  t.notMatch(inUse.stdout, /serving on/);

  const notHere = await runCli(['serve'], { cwd, env: { HOST: '192.0.2.1', PORT: '0' }, timeoutMs: 20_000 });
  t.equal(notHere.code, 1, 'an address not on this host: exit 1');
  t.match(notHere.stderr, /^recproxy: LISTEN_FAILED: cannot listen on 192\.0\.2\.1:0: listen EADDRNOTAVAIL/m);

  const bad = await runCli(['serve'], { cwd, env: { HOST: '999.1.1.1' }, timeoutMs: 20_000 });
  t.equal(bad.code, 1, 'an invalid address: exit 1');
  t.match(bad.stderr, /^HOST: must be a host name or IP address \(got "999\.1\.1\.1"\)$/m);
});
