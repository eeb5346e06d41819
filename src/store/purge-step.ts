import type { PurgeCursor } from './store.ts';

// README §Configuration, RETENTION_DAYS: which events one retention step
// deletes, the same in both engines (sqlite/outbox.ts, postgres/outbox.ts).

/** An event past retention, oldest first; `kept` (SQLite's 0 or 1, PostgreSQL's boolean): a delivery to an enabled endpoint still waits for it. */
export interface PurgeCandidate {
  seq: number;
  at: number;
  kept: boolean | number;
}

/**
 * Of the candidates, at most `limit` events that nothing waits for, and the
 * position after the last candidate looked at: the next step goes on from
 * there, past events that are kept for now.
 */
export function pickPurged(candidates: PurgeCandidate[], limit: number, after: PurgeCursor | undefined): { old: number[]; after: PurgeCursor | undefined } {
  const old: number[] = [];
  let last = after;
  for (const candidate of candidates) {
    if (old.length === limit) break;
    last = { at: candidate.at, seq: candidate.seq };
    if (!candidate.kept) old.push(candidate.seq);
  }
  return { old, after: last };
}
