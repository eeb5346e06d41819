import { drizzleEntry } from '../drizzle.ts';
import type { Db } from './open.ts';
import { terminals } from './schema.ts';

const { eq, inArray, sql } = drizzleEntry('drizzle-orm');

// The writer thread's side of forgetting terminals (README §Topics): rows of
// the terminals table deleted, never their events, which retention purges.

/**
 * Terminals FORGET_AFTER may take, longest silent first. Its terms are those
 * of the partial index terminals_forgettable (schema.ts), written the same
 * way so that SQLite uses it: a run reads only the rows it deletes.
 */
export function silentTerminals(db: Db) {
  return db
    .select({ sn: terminals.sn })
    .from(terminals)
    .where(sql`registered = 0 and online = 0 and ${terminals.lastSeenAt} < ${sql.placeholder('before')}`)
    .orderBy(terminals.lastSeenAt)
    .limit(sql.placeholder('limit'));
}

export function createTerminalStore(db: Db) {
  const silent = silentTerminals(db).prepare();
  const remove = (serials: string[]) => (serials.length === 0 ? 0 : db.delete(terminals).where(inArray(terminals.sn, serials)).run().changes);

  return {
    /** A terminal's label (null: none); whether there is such a terminal. */
    label: (sn: string, label: string | null) => db.update(terminals).set({ label }).where(eq(terminals.sn, sn)).run().changes > 0,
    /** These serials' rows, registered or not: how many there were. */
    forget: remove,
    /** FORGET_AFTER: up to `limit` terminals learned from traffic, offline and silent since before `before`; their serials. */
    forgetSilent(before: number, limit: number): string[] {
      const forgotten = silent.all({ before, limit }).map((row) => row.sn);
      remove(forgotten);
      return forgotten;
    },
  };
}
