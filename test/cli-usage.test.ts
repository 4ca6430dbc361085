/**
 * The CLI's arguments: --help for every command and group, --version, and usage errors (exit 2)
 * found before anything is opened, so a mistyped command never creates ./data.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';

t.test('every command answers --help and --version; usage errors exit 2 and touch nothing', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-cli-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const helps: [string[], RegExp][] = [
    [['--help'], /recproxy serve\n[\s\S]*recproxy audit [\s\S]*RECPROXY_CONFIG/],
    [['serve', '--help'], /^usage:\n  recproxy serve\n/],
    [['calls', '--help'], /^usage:\n  recproxy calls add --org ORG[\s\S]*\n  recproxy calls get --sid SID\n  recproxy calls list --org ORG[\s\S]*\n  recproxy calls delete --sid SID\n  recproxy calls hold --sid SID \[--release\]\n$/],
    [['calls', 'add', '--help'], /^usage:\n  recproxy calls add --org ORG --sid SID --to NUMBER[\s\S]*--started-at ISO8601\] \[--duration-ms MS\] \[--follow-symlinks\]\n$/],
    [['calls', 'get', '-h'], /^usage:\n  recproxy calls get --sid SID\n$/],
    [['keys', '--help'], /^usage:\n  recproxy keys create [^\n]*\n  recproxy keys list\n  recproxy keys revoke ID\n$/],
    [['keys', 'create', '--help'], /^usage:\n  recproxy keys create --org ORG/],
    [['keys', 'list', '--help'], /^usage:\n  recproxy keys list\n$/],
    [['keys', 'revoke', '--help'], /^usage:\n  recproxy keys revoke ID\n$/],
    [['audit', '--help'], /^usage:\n  recproxy audit \(--sid SID \| --org ORG \| --action ACTION\)/],
    [['--version'], new RegExp(`^recproxy ${JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')).version.replace(/\./g, '\\.')}\n$`)],
  ];
  const usageErrors: [string[], RegExp][] = [
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_1', '--to', '1'], /^recproxy: calls add needs --file\nusage:\n  recproxy calls add /],
    [['calls', 'add', '--org', 'org_1', '--sid', 'call_1', '--to', '1', '--file', 'x.wav', '--started-at', 'soon'], /--started-at must be an ISO 8601 time/],
    [['calls', 'get', '--sid', 'nope'], /^recproxy: --sid must be call_ followed by 1-64 letters or digits\nusage:\n  recproxy calls get --sid SID\n$/],
    [['keys', 'create', '--org', 'org_1', '--scope', 'root'], /^recproxy: --scope must be read or admin\nusage:\n  recproxy keys create /],
    [['keys', 'create', '--org', 'bad org'], /^recproxy: --org must be/],
    [['keys', 'list', 'extra'], /^recproxy: Unexpected argument 'extra'/],
    [['keys', 'revoke'], /^recproxy: keys revoke takes one key id/],
    [['audit', '--sid', 'call_1', '--limit', '1.5'], /^recproxy: --limit must be a positive integer/],
    [['audit', '--org', 'org_1', '--since', 'yesterday'], /^recproxy: --since must be an ISO 8601 time/],
    [['serve', '--port', '80'], /^recproxy: Unknown option '--port'[\s\S]*usage:\n  recproxy serve\n$/],
    [['calls'], /^recproxy: calls needs a subcommand\nusage:\n  recproxy calls add/],
    [['keys', 'frob'], /^recproxy: unknown command "keys frob"\nusage:\n  recproxy keys create/],
  ];
  // Two at a time: the machine has two cores, and these runs only parse.
  const runs: Awaited<ReturnType<typeof runCli>>[] = [];
  const all = [...helps, ...usageErrors];
  for (let i = 0; i < all.length; i += 2) {
    runs.push(...(await Promise.all(all.slice(i, i + 2).map(([args]) => runCli(args, { cwd, timeoutMs: 60_000 })))));
  }
  const helpRuns = runs.slice(0, helps.length);
  const errorRuns = runs.slice(helps.length);
  helps.forEach(([args, stdout], i) => {
    t.equal(helpRuns[i]!.code, 0, `${args.join(' ')}: exit 0`);
    t.match(helpRuns[i]!.stdout, stdout, `${args.join(' ')}: its usage`);
  });
  usageErrors.forEach(([args, stderr], i) => {
    t.equal(errorRuns[i]!.code, 2, `${args.join(' ')}: exit 2`);
    t.match(errorRuns[i]!.stderr, stderr, `${args.join(' ')}: the problem and the usage`);
  });
  t.same(readdirSync(cwd), [], 'no ./data, no index, no signing key: nothing was opened');
});
