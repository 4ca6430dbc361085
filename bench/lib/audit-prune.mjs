/**
 * The `audit-prune` scenario's fixtures and its file check (README, "The audit's size").
 *
 * `makeOldAudit`: an audit file holding `count` rows 400 days old (media and stream_url reads
 * over 20 organizations and 200,000 calls, as a busy site's players leave them), written with
 * recproxy's own schema and inserter, then copied so each server prunes its own.
 *
 * `fileReuse`: after the measured runs, how many expired rows were still left (so pruning ran
 * through every repetition), the wait until the pruner is done, then new traffic: the file's
 * pages before and after it. Freed pages reused means the page count does not move.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './fixtures.mjs';
import { load } from './load.mjs';

const DAY = 86_400_000;

/** The SQLite stores' fixture functions, from the built tree (as fixtures.mjs uses them). */
const sqliteStores = () => import(join(ROOT, 'dist/src/stores/sqlite/index.js'));

/** Writes `count` expired rows into `copies` audit files in `dir`. @returns their paths */
export async function makeOldAudit(dir, count, copies) {
  const first = join(dir, 'audit-old-0.db');
  (await sqliteStores()).fillSqliteAudit(first, count, new Date(Date.now() - 400 * DAY));
  const paths = [first];
  for (let i = 1; i < copies; i++) {
    const path = join(dir, `audit-old-${i}.db`);
    await copyFile(first, path);
    paths.push(path);
  }
  return paths;
}

/**
 * The file check of the pruning server: `server` prunes `auditPath` (rows older than
 * `retentionDays`); `url`/`headers`: the stream endpoint, whose every request adds a row.
 * @returns the row for the results
 */
export async function fileReuse({ server, auditPath, retentionDays, url, headers, dir, log }) {
  const { sqliteAuditPages } = await sqliteStores();
  const file = () => sqliteAuditPages(auditPath, new Date(Date.now() - retentionDays * DAY));
  const { expired: oldRowsAtEnd } = file();
  log(`audit-prune: ${oldRowsAtEnd} expired rows still to prune after the measured runs; waiting for the pruner`);
  const waitStart = Date.now();
  while (file().expired > 0) {
    if (Date.now() - waitStart > 600_000) throw new Error(`the pruner did not finish in 10 minutes (${file().expired} rows left)`);
    await sleep(500);
  }
  const pruned = file();
  const traffic = await load({ url, headers, connections: 16, seconds: 5 }, dir);
  // Every stream request is a row, written by the daemon's audit thread within ~100 ms.
  const until = Date.now() + 30_000;
  while (file().rows < pruned.rows + traffic.requests && Date.now() < until) await sleep(200);
  const refilled = file();
  if (server.exited) throw new Error(`${server.name} stopped: ${server.log.slice(-600)}`);
  return {
    requests: traffic.requests,
    oldRowsAtEnd,
    rowsAdded: refilled.rows - pruned.rows,
    pagesAfterPrune: pruned.pages,
    freeAfterPrune: pruned.free,
    pagesAfterRefill: refilled.pages,
    freeAfterRefill: refilled.free,
    pageGrowth: refilled.pages / pruned.pages,
    pruneWaitSeconds: (Date.now() - waitStart) / 1000,
  };
}
