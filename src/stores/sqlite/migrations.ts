/** Versioned schema steps for the SQLite files (the call index, the access audit). */
import type Database from 'better-sqlite3';

/**
 * Brings `db` from its `user_version` to `steps.length`, one transaction per step.
 * @throws when the file carries a newer schema than this recproxy knows (`what` names it)
 */
export function applyMigrations(db: Database.Database, steps: readonly string[], what: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > steps.length) {
    throw new Error(`${what} schema version ${current} is newer than this recproxy (${steps.length})`);
  }
  for (let version = current; version < steps.length; version++) {
    db.transaction(() => {
      db.exec(steps[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
