/**
 * The access audit's retention and export: AuditSink.prune and rowsBefore on SQLite (in-line
 * and on the writer thread), the free pages a prune leaves being reused, `recproxy audit export`
 * and `audit prune`, and the daemon pruning by itself past RECPROXY_AUDIT_RETENTION_DAYS.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SqliteAuditLog, openAuditDb, rowInserter, type InsertRow } from '../src/stores/sqlite/audit.js';
import type { AuditRow } from '../src/stores/types.js';
import { runCli } from './helpers/cli.js';
import { startDaemon } from './helpers/daemon.js';
import { makeWav } from './helpers/wav.js';

const DAY = 86_400_000;
const ago = (days: number, ms = 0) => new Date(Date.now() - days * DAY + ms);

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'recproxy-audit-ret-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `n` media rows at `at(i)`, written straight into the file (as months of traffic would have). */
function fill(path: string, n: number, at: (i: number) => Date, sid = (i: number) => `call_${i % 97}`): void {
  const db = openAuditDb(path);
  const insert = rowInserter(db);
  const rows: InsertRow[] = [];
  for (let i = 0; i < n; i++) rows.push([at(i).toISOString(), 'media', 'org_a', sid(i), 'key0000001', '10.0.0.1', 206, 65536, 1]);
  insert(rows);
  db.close();
}

function reader(path: string): Database.Database {
  return new Database(path, { readonly: true, fileMustExist: true });
}

/** The audit at `path` and a log over it, both closed at the test's end. */
function openLog(t: Test, path: string, options: { background?: boolean } = {}) {
  const db = openAuditDb(path);
  const log = new SqliteAuditLog(db, options);
  t.teardown(async () => {
    await log.close();
    db.close();
  });
  return { db, log };
}

const count = (db: Database.Database, where = '1') => (db.prepare(`SELECT count(*) AS n FROM access_audit WHERE ${where}`).get() as { n: number }).n;

for (const background of [false, true]) {
  t.test(`prune deletes exactly the rows older than the date, oldest first, in batches (${background ? 'writer thread' : 'in-line'})`, async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'audit.db');
    fill(path, 2500, (i) => ago(400, i));
    fill(path, 30, (i) => ago(10, i), () => 'call_recent');
    const { log } = openLog(t, path, { background });
    // Rows recorded while it prunes are kept.
    const pruning = log.prune(ago(365), { batchSize: 300, pauseMs: 1 });
    for (let i = 0; i < 20; i++) log.record({ action: 'download', org: 'org_a', callSid: 'call_during', status: 200 });
    t.equal(await pruning, 2500, 'every old row, counted');
    t.equal((await log.query({ sid: 'call_during' })).length, 20, 'rows recorded meanwhile are kept');
    const check = reader(path);
    t.teardown(() => check.close());
    t.equal(count(check), 50, 'the recent rows and the new ones remain');
    t.equal(count(check, `at < '${ago(365).toISOString()}'`), 0, 'nothing older than the date');
    t.equal(await log.prune(ago(365)), 0, 'a second pass finds nothing');
  });
}

t.test('a prune stops early on its signal, keeping what it deleted; the next one finishes', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.db');
  fill(path, 2000, (i) => ago(400, i));
  const { log } = openLog(t, path, { background: true });
  const stop = new AbortController();
  const pruning = log.prune(ago(365), { batchSize: 100, pauseMs: 30, signal: stop.signal });
  const check = reader(path);
  t.teardown(() => check.close());
  while (count(check) === 2000) await sleep(5); // the first batch is in
  stop.abort();
  const deleted = await pruning;
  t.ok(deleted >= 100 && deleted < 2000, `stopped part way (${deleted} of 2000)`);
  t.equal(count(check), 2000 - deleted, 'the count answered is the rows gone');
  t.equal(await log.prune(ago(365), { signal: stop.signal }), 0, 'an aborted signal starts nothing');
  t.equal(await log.prune(ago(365)), 2000 - deleted, 'the next pass takes the rest');
});

t.test('closing the audit ends a prune in hand with what it deleted', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.db');
  fill(path, 1000, (i) => ago(400, i));
  const db = openAuditDb(path);
  t.teardown(() => db.close());
  for (const background of [true, false]) {
    const log = new SqliteAuditLog(db, { background });
    const pruning = log.prune(ago(365), { batchSize: 10, pauseMs: 20 });
    await sleep(50);
    await log.close();
    const deleted = await pruning;
    t.ok(deleted < 1000, `${background ? 'writer thread' : 'in-line'}: stopped at close (${deleted} deleted)`);
    t.equal(await log.prune(ago(365)), 0, 'a closed audit prunes nothing');
  }
});

t.test('the pages a prune frees are reused: the file stops growing', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.db');
  fill(path, 20_000, (i) => ago(400, i));
  const { db, log } = openLog(t, path);
  const pages = () => {
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { pages: db.pragma('page_count', { simple: true }) as number, free: db.pragma('freelist_count', { simple: true }) as number };
  };
  const full = pages();
  t.equal(await log.prune(ago(365)), 20_000);
  const pruned = pages();
  t.equal(pruned.pages, full.pages, 'the file keeps its size (no VACUUM)');
  t.ok(pruned.free > full.pages / 2, `most pages are free (${pruned.free} of ${pruned.pages})`);
  for (let i = 0; i < 10_000; i++) log.record({ action: 'media', org: 'org_a', callSid: `call_${i % 97}`, principal: 'key0000001', client: '10.0.0.1', status: 206, bytes: 65536 });
  await log.flush();
  const refilled = pages();
  t.equal(refilled.pages, full.pages, 'half as many new rows fit in the freed pages: the file did not grow');
  t.ok(refilled.free < pruned.free, `the free list shrank (${pruned.free} → ${refilled.free})`);
});

t.test('rowsBefore: every action, oldest first, ties by id, across pages', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.db');
  const same = ago(500);
  fill(path, 2100, (i) => (i < 1500 ? same : ago(450, i)));
  const { log } = openLog(t, path);
  log.deny({ code: 'UNAUTHORIZED', status: 401, client: '10.9.9.9', at: ago(420) });
  log.record({ action: 'delete', org: 'org_a', callSid: 'call_gone', principal: 'retention', at: ago(410) });
  log.record({ action: 'download', org: 'org_a', callSid: 'call_new', at: ago(1) });
  const rows: AuditRow[] = [];
  for await (const row of log.rowsBefore(ago(365))) rows.push(row);
  t.equal(rows.length, 2102, 'the old rows, the denied group and the deletion; not the new row');
  t.ok(rows.every((r, i) => i === 0 || r.at > rows[i - 1]!.at || (r.at === rows[i - 1]!.at && r.id > rows[i - 1]!.id)), 'ordered by time, then id');
  t.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'no row twice across the page boundaries');
  t.match(rows.at(-2), { action: 'denied', code: 'UNAUTHORIZED', count: 1, client: '10.9.9.9' });
  t.match(rows.at(-1), { action: 'delete', call_sid: 'call_gone', principal: 'retention' });
});

t.test('recproxy audit export, then audit prune', async (t) => {
  const dir = await tempDir(t);
  const env = { RECPROXY_DB_PATH: join(dir, 'index.db'), RECPROXY_LOCAL_ROOT: join(dir, 'rec'), RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key') };
  t.equal((await runCli(['keys', 'list'], { env })).code, 0, 'the index and its audit exist');
  const path = join(dir, 'index.audit.db');
  fill(path, 1200, (i) => new Date(Date.parse('2024-06-01T00:00:00Z') + i * 60_000));
  fill(path, 5, (i) => ago(1, i), () => 'call_recent');
  const until = '2024-06-01T10:00:00Z'; // 600 rows before it

  const out = join(dir, 'old.jsonl');
  const exported = await runCli(['audit', 'export', '--until', until, '--out', out], { env });
  t.equal(exported.code, 0, exported.stderr);
  t.match(exported.stderr, `exported 600 audit rows older than 2024-06-01T10:00:00.000Z to ${out}`);
  const lines = (await readFile(out, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditRow);
  t.equal(lines.length, 600, 'one JSON object a line');
  t.match(lines[0], { at: '2024-06-01T00:00:00.000Z', action: 'media', org_id: 'org_a', status: 206, bytes: 65536 });
  t.equal(lines.at(-1)!.at, '2024-06-01T09:59:00.000Z', 'the last row before --until');

  const again = await runCli(['audit', 'export', '--until', until, '--out', out], { env });
  t.equal(again.code, 2, 'an existing file is never overwritten');
  t.match(again.stderr, `${out} already exists`);
  t.equal((await readFile(out, 'utf8')).split('\n').length, 601, 'and is left as it was');

  const toStdout = await runCli(['audit', 'export', '--until', '2024-06-01'], { env });
  t.equal(toStdout.code, 0);
  t.equal(toStdout.stdout, '', 'nothing before midnight UTC of that day');

  for (const [value, why] of [
    ['yesterday', /--until must be a date/],
    ['2024-06-01T10:00:00', /--until must be a date/],
    [new Date(Date.now() + DAY).toISOString(), /is in the future/],
  ] as const) {
    const bad = await runCli(['audit', 'prune', '--until', value], { env });
    t.equal(bad.code, 2, `--until ${value} refused`);
    t.match(bad.stderr, why);
  }
  t.equal((await runCli(['audit', 'prune'], { env })).code, 2, '--until is required');

  const pruned = await runCli(['audit', 'prune', '--until', until], { env });
  t.equal(pruned.code, 0, pruned.stderr);
  t.match(pruned.stderr, 'deleted 600 audit rows older than 2024-06-01T10:00:00.000Z');
  const check = reader(path);
  t.teardown(() => check.close());
  t.equal(count(check), 605, 'the rest remain');
  const query = await runCli(['audit', '--sid', 'call_recent'], { env });
  t.equal(query.code, 0, 'the plain audit query still answers beside the subcommands');
  t.equal((JSON.parse(query.stdout) as unknown[]).length, 5);
});

t.test('the daemon prunes rows past RECPROXY_AUDIT_RETENTION_DAYS by itself, and keeps the rest', async (t) => {
  const dir = await tempDir(t);
  const db = join(dir, 'index.db');
  const audit = join(dir, 'index.audit.db');
  fill(audit, 3000, (i) => ago(40, i));
  fill(audit, 10, (i) => ago(20, i), () => 'call_kept');
  const d = await startDaemon({
    RECPROXY_DB_PATH: db,
    RECPROXY_AUDIT_RETENTION_DAYS: '30',
    RECPROXY_RETENTION_INTERVAL_SEC: '1',
    RECPROXY_RETENTION_PAUSE_MS: '5',
  });
  t.teardown(d.stop);
  await d.addCall({ org: 'org_a', sid: 'call_live', to: '+1555', bytes: makeWav(0.1) });
  for (let i = 0; i < 5; i++) {
    t.equal((await fetch(`${d.url}/api/calls/call_live/recording/stream`, { headers: d.headers('org_a') })).status, 200);
  }
  const check = reader(audit);
  t.teardown(() => check.close());
  const deadline = Date.now() + 120_000;
  while (count(check, `at < '${ago(30).toISOString()}'`) > 0 && Date.now() < deadline) await sleep(100);
  t.equal(count(check, `at < '${ago(30).toISOString()}'`), 0, 'every row older than 30 days is gone');
  t.equal(count(check, "call_sid = 'call_kept'"), 10, 'rows within the period are kept');
  const today = await d.ctx.audit.query({ sid: 'call_live' });
  t.equal(today.reduce((n, row) => n + row.count!, 0), 5, "today's requests are kept (repeats within a batch counted in one row)");
});

t.test('RECPROXY_AUDIT_RETENTION_DAYS must be whole days; 0 keeps the audit', async (t) => {
  const dir = await tempDir(t);
  const env = { RECPROXY_DB_PATH: join(dir, 'index.db'), RECPROXY_LOCAL_ROOT: join(dir, 'rec'), RECPROXY_SIGNING_KEY_FILE: join(dir, 'signing.key') };
  const bad = await runCli(['keys', 'list'], { env: { ...env, RECPROXY_AUDIT_RETENTION_DAYS: '-1' } });
  t.equal(bad.code, 1, 'a configuration error');
  t.match(bad.stderr, /RECPROXY_AUDIT_RETENTION_DAYS.*whole days from 1 to 36500, or 0 to keep the audit forever/);
  t.equal((await runCli(['keys', 'list'], { env: { ...env, RECPROXY_AUDIT_RETENTION_DAYS: '0' } })).code, 0);
});
