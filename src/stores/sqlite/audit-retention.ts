/**
 * The access audit's retention and export in SQLite (src/stores/types.ts `AuditSink.prune` and
 * `rowsBefore`), shared by the request thread and the writer thread (audit-worker.ts).
 *
 * Both read the oldest rows first through the `at` index (AUDIT_MIGRATIONS' last step), so a
 * batch costs the rows it deletes, never a scan of the table. A deleted row's page goes to the
 * file's free list and later inserts reuse it: once retention keeps pace, the file stops growing.
 */
import type Database from 'better-sqlite3';
import type { AuditRow } from '../types.js';

/** Rows per pruning transaction when the caller does not say. */
export const PRUNE_BATCH = 1000;

/** Deletes at most `batch` of the oldest rows older than `untilIso`. @returns how many it deleted */
export function pruneStep(db: Database.Database): (untilIso: string, batch: number) => number {
  const statement = db.prepare<[string, number]>(
    'DELETE FROM access_audit WHERE id IN (SELECT id FROM access_audit WHERE at < ? ORDER BY at LIMIT ?)',
  );
  return (untilIso, batch) => statement.run(untilIso, batch).changes;
}

const PAGE = 1000;

/** Every row older than `until`, oldest first, a page of PAGE rows at a time (keyset on `at`, `id`). */
export function* auditRowsBefore(db: Database.Database, until: Date): Generator<AuditRow> {
  const page = db.prepare<[string, string, number, number], AuditRow>(
    `SELECT id, at, action, org_id, call_sid, principal, client, status, bytes, code, count FROM access_audit
     WHERE at < ? AND (at, id) > (?, ?) ORDER BY at, id LIMIT ?`,
  );
  const untilIso = until.toISOString();
  let after: [string, number] = ['', 0];
  for (;;) {
    const rows = page.all(untilIso, after[0], after[1], PAGE);
    yield* rows;
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = [last.at, last.id];
  }
}
