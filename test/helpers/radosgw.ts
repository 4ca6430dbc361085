/**
 * A real, signature-verifying S3 server for the tests: Ceph's radosgw (Debian's Ceph 16, see
 * test/ensure-radosgw.sh) on a one-node cluster built in a temp directory: one monitor, one
 * OSD on memstore (nothing on disk but logs), pool size 1, no cephx (`auth … = none`), and
 * radosgw's beast frontend on a free 127.0.0.1 port. Unlike s3rver it checks every SigV4
 * signature (`SignatureDoesNotMatch`) and presign expiry (`AccessDenied`).
 *
 * A cold start takes about 15 s (the first radosgw start creates its pools): start one per
 * test file and share it. Every daemon is killed by PID in stop(); a detached watchdog shell
 * that waits on a pipe from this process kills the ones still listed (and removes the
 * directory) when this process dies without stopping them.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';

const run = promisify(execFile);

export const RADOSGW_CREDENTIALS = { accessKeyId: 'RECPROXYRGWTEST0', secretAccessKey: 'recproxy-radosgw-test-secret' } as const;

export interface Radosgw {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  credentials: typeof RADOSGW_CREDENTIALS;
  /** Seconds from the first command to the first S3 answer (and the buckets made). */
  startSeconds: number;
  /** Multipart uploads started and neither completed nor aborted, over the buckets made here. */
  incompleteUploads(): Promise<number>;
  /** Established client sockets at the gateway's port right now (from /proc/net/tcp). */
  connections(): Promise<number>;
  /** SIGSTOP / SIGCONT the gateway: the kernel still accepts connections, nothing answers. */
  pause(): void;
  resume(): void;
  /** Kill the gateway (the cluster keeps the data), and start it again on the same port. */
  stopGateway(): Promise<void>;
  startGateway(): Promise<void>;
  /** Kill every daemon started here, by PID, and remove the directory. */
  stop(): Promise<void>;
}

/** The watchdog: `cat` ends when this process's end of the pipe closes (also when it dies). */
const WATCHDOG = `cat >/dev/null
for p in $(cat "$1/pids" 2>/dev/null); do
  grep -qaF "$1" "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"
done
rm -rf "$1"`;

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function config(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 536870912
osd crush chooseleaf type = 0
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
mon data = ${dir}/mon/$name
osd data = ${dir}/osd/$name
keyring = ${dir}/keyring

[client.rgw.test]
# endpoint only: with port= as well beast binds the port twice and fails (Address already in use)
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
# with auth none the default "secure" mode loops on "get_initial_auth_request returned -13"
ms mon client mode = crc
`;
}

/** Resolves once `url` answers any HTTP status; rejects if `child` exits or `ms` pass. */
async function waitForHttp(url: string, child: ChildProcess, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`radosgw exited while starting:\n${what()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = request(url, (res) => {
        res.resume();
        resolve(true);
      });
      req.once('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`radosgw did not answer ${url} within ${ms} ms:\n${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function startRadosgw(opts: { buckets?: string[] } = {}): Promise<Radosgw> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-rgw-'));
  for (const sub of ['run', 'log', 'mon', 'osd/osd.0']) await mkdir(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'pids'), '');
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'rgw-watchdog', dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.unref();
  watchdog.stdin!.on('error', () => undefined);
  (watchdog.stdin as unknown as { unref(): void }).unref(); // the pipe must not keep this process alive

  const children = new Set<ChildProcess>();
  const killAllNow = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', killAllNow);
  const daemon = (name: string, command: string, args: string[]): ChildProcess => {
    const out = openSync(join(dir, 'log', `${name}.out`), 'a');
    const child = spawn(command, ['-c', join(dir, 'ceph.conf'), ...args, '-f'], { stdio: ['ignore', out, out] });
    closeSync(out);
    appendFileSync(join(dir, 'pids'), `${child.pid}\n`);
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const kill = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  };
  const logTail = (name: string) => {
    try {
      return readFileSync(join(dir, 'log', name), 'utf8').slice(-3000);
    } catch {
      return '';
    }
  };
  const ceph = (command: string, args: string[]) => run(command, ['-c', join(dir, 'ceph.conf'), ...args], { timeout: 60_000 });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...children].map(kill));
    process.removeListener('exit', killAllNow);
    await rm(dir, { recursive: true, force: true });
    watchdog.stdin!.end(); // nothing left for it to do: it finds no PID list and no directory
  };

  try {
    const [monPort, port] = [await freePort(), await freePort()];
    const fsid = randomUUID();
    const osdUuid = randomUUID();
    await writeFile(join(dir, 'ceph.conf'), config(dir, fsid, monPort, port));
    await run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')]);
    await run('ceph-authtool', ['--create-keyring', join(dir, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await ceph('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    daemon('mon', 'ceph-mon', ['-i', 'a']);
    await ceph('ceph', ['--connect-timeout', '30', 'osd', 'new', osdUuid]);
    await ceph('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    daemon('osd', 'ceph-osd', ['-i', '0']);

    const endpoint = `http://127.0.0.1:${port}`;
    let gateway: ChildProcess | undefined;
    const startGateway = async () => {
      gateway = daemon('rgw', 'radosgw', ['-n', 'client.rgw.test']);
      await waitForHttp(`${endpoint}/`, gateway, 90_000, () => `${logTail('rgw.out')}\n${logTail('client.rgw.test.log')}`);
    };
    await startGateway();
    await ceph('radosgw-admin', [
      'user', 'create', '--uid', 'recproxy-test', '--display-name', 'recproxy tests',
      '--access-key', RADOSGW_CREDENTIALS.accessKeyId, '--secret', RADOSGW_CREDENTIALS.secretAccessKey,
    ]);
    const s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: RADOSGW_CREDENTIALS });
    const buckets = opts.buckets ?? [];
    try {
      for (const bucket of buckets) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      s3.destroy();
    }
    return {
      endpoint,
      port,
      credentials: RADOSGW_CREDENTIALS,
      startSeconds: (Date.now() - started) / 1000,
      async incompleteUploads() {
        const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: RADOSGW_CREDENTIALS });
        try {
          let count = 0;
          for (const Bucket of buckets) count += (await client.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads?.length ?? 0;
          return count;
        } finally {
          client.destroy();
        }
      },
      async connections() {
        const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
        const rows = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
        return rows.filter((row) => {
          const [, address, , state] = row.trim().split(/\s+/);
          return address?.endsWith(local) && state === '01';
        }).length;
      },
      pause: () => void gateway?.kill('SIGSTOP'),
      resume: () => void gateway?.kill('SIGCONT'),
      stopGateway: async () => {
        if (gateway) await kill(gateway);
      },
      startGateway,
      stop,
    };
  } catch (err) {
    const logs = ['mon.out', 'osd.out', 'rgw.out'].map((name) => `--- ${name}\n${logTail(name)}`).join('\n');
    await stop();
    throw new Error(`radosgw could not start (is it installed? bash test/ensure-radosgw.sh): ${(err as Error).message}\n${logs}`, { cause: err });
  }
}
