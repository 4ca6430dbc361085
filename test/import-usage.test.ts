/**
 * `recproxy import FILE` as a whole, through the real CLI: usage errors exit 2 before anything is
 * opened; a CSV header with an unknown column or a missing file exit 1 before any row.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';

t.test('the file as a whole: usage errors exit 2 before anything opens; a bad header or a missing file exit 1', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'recproxy-import-usage-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  // A generous timeout: a loaded machine can take many seconds to start the CLI.
  const cli = (...args: string[]) => runCli(args, { cwd, timeoutMs: 120_000 });
  await writeFile(join(cwd, 'bad.csv'), 'call_sid,to,colour\ncall_1,1,red\n');
  await writeFile(join(cwd, 'good.csv'), 'call_sid,to\ncall_1,1\n');
  const usage: [string[], RegExp][] = [
    [['import', 'good.csv', '--format', 'xml'], /--format must be one of csv, jsonl, asterisk-cdr \(got "xml"\)/],
    [['import', 'calls.txt'], /cannot tell the format of calls\.txt from its extension: pass --format csv\|jsonl\|asterisk-cdr/],
    [['import'], /import takes one FILE/],
    [['import', 'good.csv', '--org', 'bad org'], /--org must be 1-128/],
    [['import', 'good.csv', '--format', 'asterisk-cdr'], /a Master\.csv names no organization: pass --org/],
    [['import', 'good.csv', '--timezone', 'Mars/Olympus'], /--timezone: unknown time zone "Mars\/Olympus"/],
  ];
  // Two at a time: these runs only parse their arguments.
  for (let i = 0; i < usage.length; i += 2) {
    const pair = usage.slice(i, i + 2);
    const runs = await Promise.all(pair.map(([args]) => cli(...args)));
    pair.forEach(([args, stderr], j) => {
      t.equal(runs[j]!.code, 2, args.join(' '));
      t.match(runs[j]!.stderr, stderr);
      t.match(runs[j]!.stderr, /usage:\n {2}recproxy import FILE/);
    });
  }
  t.notOk(existsSync(join(cwd, 'data')), 'a usage error opens nothing');
  let r = await cli('import', 'bad.csv', '--org', 'org_1');
  t.equal(r.code, 1);
  t.match(r.stderr, /INVALID_REQUEST: bad\.csv line 1: unknown column "colour" in the header/);
  r = await cli('import', 'missing.jsonl', '--org', 'org_1');
  t.equal(r.code, 1);
  t.match(r.stderr, /INVALID_REQUEST: cannot read missing\.jsonl: ENOENT/);
  r = await cli('import', '--help');
  t.equal(r.code, 0);
  t.match(r.stdout, /recproxy import FILE \[--format csv\|jsonl\|asterisk-cdr\] \[--org ORG\] \[--timezone ZONE\]/);
});
