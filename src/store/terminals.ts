import { inArray } from 'drizzle-orm';
import type { Db } from './open.ts';
import { terminals } from './schema.ts';

// The writer thread's side of forgetting terminals (README §Topics): rows of
// the terminals table deleted, never their events, which retention purges.

export type TerminalJob =
  /** These serials, registered or not (DELETE /api/devices/{sn}, or no serial at all). */
  { kind: 'forget'; serials: string[] };

export function createTerminalStore(db: Db) {
  function apply(job: TerminalJob): { events: []; changes: number; forgotten?: string[] } {
    switch (job.kind) {
      case 'forget':
        return { events: [], changes: db.delete(terminals).where(inArray(terminals.sn, job.serials)).run().changes };
    }
  }
  return { apply };
}
