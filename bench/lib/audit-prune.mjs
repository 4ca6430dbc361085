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

/** Writes `count` expired rows into `copies` audit files in `dir`. @returns their paths */
export async function makeOldAudit(dir, count, copies) {
  const { openAuditDb, rowInserter } = await import(join(ROOT, 'dist/src/stores/sqlite/audit.js'));
  const first = join(dir, 'audit-old-0.db');
  const db = openAuditDb(first);
  const insert = rowInserter(db);
  const start = Date.now() - 400 * DAY;
  const BATCH = 50_000;
  for (let done = 0; done < count; done += BATCH) {
    const rows = [];
    for (let k = done; k < Math.min(count, done + BATCH); k++) {
      const read = k % 3 !== 0;
      rows.push([new Date(start + k * 10).toISOString(), read ? 'media' : 'stream_url', `org_${k % 20}`, `call_${(k * 7919) % 200_000}x`, 'a1b2c3d4e5f6', `203.0.113.${k % 250}`, read ? 206 : 200, read ? 65536 : null]);
    }
    insert(rows);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
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
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(auditPath, { readonly: true, fileMustExist: true });
  try {
    const cutoff = () => new Date(Date.now() - retentionDays * DAY).toISOString();
    const old = () => db.prepare('SELECT count(*) AS n FROM access_audit WHERE at < ?').get(cutoff()).n;
    const rows = () => db.prepare('SELECT count(*) AS n FROM access_audit').get().n;
    const pages = () => ({ pages: db.pragma('page_count', { simple: true }), free: db.pragma('freelist_count', { simple: true }) });
    const oldRowsAtEnd = old();
    log(`audit-prune: ${oldRowsAtEnd} expired rows still to prune after the measured runs; waiting for the pruner`);
    const waitStart = Date.now();
    while (old() > 0) {
      if (Date.now() - waitStart > 600_000) throw new Error(`the pruner did not finish in 10 minutes (${old()} rows left)`);
      await sleep(500);
    }
    const pruned = pages();
    const before = rows();
    const traffic = await load({ url, headers, connections: 16, seconds: 5 }, dir);
    // Every stream request is a row, written by the daemon's audit thread within ~100 ms.
    const until = Date.now() + 30_000;
    while (rows() < before + traffic.requests && Date.now() < until) await sleep(200);
    const added = rows() - before;
    const refilled = pages();
    if (server.exited) throw new Error(`${server.name} stopped: ${server.log.slice(-600)}`);
    return {
      requests: traffic.requests,
      oldRowsAtEnd,
      rowsAdded: added,
      pagesAfterPrune: pruned.pages,
      freeAfterPrune: pruned.free,
      pagesAfterRefill: refilled.pages,
      freeAfterRefill: refilled.free,
      pageGrowth: refilled.pages / pruned.pages,
      pruneWaitSeconds: (Date.now() - waitStart) / 1000,
    };
  } finally {
    db.close();
  }
}
