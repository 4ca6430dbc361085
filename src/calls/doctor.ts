/**
 * `recproxy doctor`: is the index whole, does the storage answer, and do the two agree? Lists
 * the storage once (a map of key → size: about 100 bytes a recording), then walks every row:
 * a live row whose object is missing or of another size, and an object no row points to (a
 * deleted call's bytes left behind count too), are reported. `fix` only marks rows whose bytes
 * are gone as deleted; nothing in storage is ever deleted or changed.
 */
import type { StorageAdapter } from '../core/storage.js';
import type { CallIndex } from '../stores/types.js';

export interface DoctorReport {
  /** The index's own integrity check's problems (none: whole). */
  index: string[];
  /** Why the storage did not answer its probe (undefined: it did). */
  storage?: string;
  /** Live rows whose recording is not in storage. */
  missing: { call_sid: string; org_id: string; storage_key: string }[];
  /** Live rows whose recording is there with another size. */
  sizeMismatch: { call_sid: string; storage_key: string; indexed: number; stored: number }[];
  /** Objects under the recordings prefix that no row points to. */
  orphans: { key: string; size: number }[];
  /** With `fix`: the rows marked deleted (their bytes were gone). */
  fixed: string[];
  /** Live rows and stored objects looked at. */
  checked: { rows: number; objects: number };
}

export interface DoctorOptions {
  fix?: boolean;
  /** Told of each row and object looked at (a progress bar). */
  onItem?: () => void;
}

/** True when the report names nothing wrong (fixed rows were wrong: still not healthy). */
export const healthy = (r: DoctorReport): boolean =>
  !r.index.length && r.storage === undefined && !r.missing.length && !r.sizeMismatch.length && !r.orphans.length;

export async function diagnose(index: Pick<CallIndex, 'every' | 'checkIntegrity' | 'markDeleted'>, storage: StorageAdapter, options: DoctorOptions = {}): Promise<DoctorReport> {
  const report: DoctorReport = { index: await index.checkIntegrity(), missing: [], sizeMismatch: [], orphans: [], fixed: [], checked: { rows: 0, objects: 0 } };
  try {
    await storage.probe();
  } catch (err) {
    report.storage = err instanceof Error ? err.message : String(err);
    return report;
  }
  const stored = new Map<string, number>();
  for await (const object of storage.list(storage.recordingsPrefix)) {
    stored.set(object.key, object.size);
    report.checked.objects++;
    options.onItem?.();
  }
  const referenced = new Set<string>();
  for await (const row of index.every()) {
    if (row.deleted_at !== null) continue;
    referenced.add(row.storage_key);
    report.checked.rows++;
    options.onItem?.();
    const size = stored.get(row.storage_key);
    if (size === undefined) report.missing.push({ call_sid: row.call_sid, org_id: row.org_id, storage_key: row.storage_key });
    else if (size !== row.size_bytes) report.sizeMismatch.push({ call_sid: row.call_sid, storage_key: row.storage_key, indexed: row.size_bytes, stored: size });
  }
  for (const [key, size] of stored) if (!referenced.has(key)) report.orphans.push({ key, size });
  if (options.fix) {
    for (const m of report.missing) if (await index.markDeleted(m.call_sid)) report.fixed.push(m.call_sid);
  }
  return report;
}
