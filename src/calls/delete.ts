/**
 * Deleting a call: its bytes leave storage first, then its row is marked deleted (the row stays
 * as a tombstone: `deleted_at` set, the call never listed or found again, and a registration of
 * the same call_sid refused with CALL_EXISTS, so a re-run ingest does not bring it back).
 * Deleting a tombstone is done again at once (idempotent). A call on legal hold is refused
 * (LEGAL_HOLD) until the hold is released. A storage failure leaves the row as it was, so the
 * deletion can be retried: the index never loses a call whose bytes are still stored.
 */
import { LegalHold } from '../core/errors.js';
import type { StorageAdapter } from '../core/storage.js';
import type { CallIndex, CallRow } from '../stores/types.js';

/** The index as deletion uses it. */
export type DeleteIndex = Pick<CallIndex, 'get' | 'markDeleted'>;

export interface DeleteDeps {
  index: DeleteIndex;
  storage: Pick<StorageAdapter, 'delete'>;
}

/** What deleting did: `deleted` is false when the call was already deleted (nothing changed). */
export interface Deleted {
  call: CallRow;
  deleted: boolean;
}

/**
 * Deletes `call` (a row as the index gave it): bytes, then row.
 * @throws LegalHold, StorageUnavailable (the row is left as it was)
 */
export async function removeCall(deps: DeleteDeps, call: CallRow): Promise<Deleted> {
  if (call.deleted_at !== null) return { call, deleted: false };
  // The row as it is now: a hold set since `call` was read still counts.
  const current = (await deps.index.get(call.call_sid)) ?? call;
  if (current.deleted_at !== null) return { call: current, deleted: false };
  if (current.legal_hold_at !== null) throw new LegalHold(call.call_sid);
  // A missing object is not an error for any adapter: a retry after a crash between the two
  // steps finds the bytes gone and marks the row.
  await deps.storage.delete(current.storage_key);
  const deleted = await deps.index.markDeleted(call.call_sid);
  return { call: (await deps.index.get(call.call_sid)) ?? current, deleted };
}
