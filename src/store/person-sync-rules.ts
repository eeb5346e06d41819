import type { StoredEvent } from '../events/events.ts';
import type { PersonOp, SyncStatus } from './store.ts';

// README §People on the terminals: what both engines' person rows
// (sqlite/person-rows.ts, postgres/person-rows.ts) hold to alike.

/** Backoff of an unanswered person command: 10 s, doubling, at most 10 minutes. */
export const BACKOFF_FIRST_MS = 10_000;
export const BACKOFF_MAX_MS = 600_000;
/** Events one erase step deletes at most: ingest waits for one step, never the whole erasure. */
export const ERASE_STEP = 500;

/** A person_sync row as the statements read it (snake_case, as selected). */
export interface SyncRow {
  num: string;
  device_sn: string;
  op: PersonOp;
  want: string | null;
  status: SyncStatus;
  command_id: string | null;
  sent_op: PersonOp | null;
  sent_hash: string | null;
}

/** SET clause: the row has no command in flight any more. */
export const CLEAR_SENT = 'command_id = null, sent_op = null, sent_hash = null';

/**
 * What becomes of a person command is that person's sync state too (README
 * §People on the terminals): told in the same transaction (each engine's person-rows.ts); the SQLite writer's are synchronous, PostgreSQL's the same as promises.
 */
export interface PersonHooks {
  published(id: string, at: number): void;
  failed(id: string, at: number): void;
  /** These queued commands without a ttl failed `interrupted` (their process is gone): their rows are pending again. */
  interrupted(ids: string[]): void;
  /** The reply of a person command: its events (person.sync_failed, person.synced), stored. */
  replied(id: string, sn: string, reply: string, at: number): StoredEvent[];
  /** Terminals whose row waits out its backoff now. */
  unanswered(id: string, at: number): string[];
}
