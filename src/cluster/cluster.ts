import { randomInt } from 'node:crypto';
import type { StoredEvent } from '../events/events.ts';
import type { Accepters } from '../store/store.ts';
import type { SlotHolder, SlotLeases } from './leases.ts';

/**
 * What one replica tells the others (README §Running several replicas):
 * ids only, the data is read from the tables. `events`: committed (the live
 * stream and the delivery lanes of every replica); `command`: a terminal's
 * queue to drain; `reply`: a command's reply stored (a `wait` elsewhere);
 * `presence`: a terminal's flip stored; `seen`: terminals heard, in the
 * batch of last-seen times; `endpoints`: the endpoints changed;
 * `published`: commands to these terminals recorded published (a reply
 * held for one pairs now, commands/held-replies.ts).
 */
export type Wake =
  | { kind: 'events'; events: StoredEvent[] }
  | { kind: 'command'; sn: string }
  | { kind: 'reply'; commandId: string }
  | { kind: 'presence'; sn: string; online: boolean; at: number }
  | { kind: 'seen'; serials: string[]; at: number }
  | { kind: 'endpoints' }
  | { kind: 'published'; serials: string[] };

/** Why a replica reads its work again: a slot came to it, or it missed notifications. */
export type Moved = 'slot' | 'missed';

/**
 * The replicas' division of the work (README §Running several replicas): the
 * slot leases are the partitions. A terminal's work (its queued commands in
 * order, its people sync turn) belongs to the holder of slot
 * `slotOf(sn)`, an endpoint's delivery lane to the holder of
 * `slotOf(endpointId)`, the leader's work (command sweep, retention, the
 * offline sweep) to the holder of slot 0. Every slot always has one live
 * holder, and its work is all in the tables, so a slot that moves is picked
 * up by its new holder from there (`onMoved`).
 */
export interface Cluster {
  /** This replica holds the slot of this terminal's serial or endpoint id. */
  owns(key: string): boolean;
  /**
   * How many times a slot came to this replica or left it: work read ahead
   * while it was another number may have been done meanwhile by another
   * replica, even though `owns` says yes both times (the slot left and came back).
   */
  slotChanges(): number;
  /** This replica holds slot 0: the work of one at a time. */
  leads(): boolean;
  /** Tells the other replicas (never this one: its parts were called already). */
  announce(wake: Wake): void;
  /** What another replica announced. */
  onWake(listener: (wake: Wake) => void): void;
  /**
   * A slot came to this replica (`slot`), or the notifications were cut and
   * some missed (`missed`): read the work again from the tables; after
   * `missed`, what every replica told too (the terminals' flips).
   */
  onMoved(listener: (why: Moved) => void): void;
  /** Whose queued commands are still theirs to send (store.ts Accepters): this process's, or the live replicas'. */
  readonly live: Accepters;
  /** A replica is gone (its membership lock is): its queued commands without a ttl are to fail `interrupted`. */
  onReplicaGone(listener: () => void): void;
  /** This replica lost PostgreSQL (its leases): what it holds unacknowledged is let go. */
  onLost(listener: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** FNV-1a (32 bits): the same slot for a key on every replica and every version. */
export function slotOf(key: string, slots: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % slots;
}

/** One process (SQLite, or no shared subscription): every slot is held here, all work is local, there is no one to tell. */
export function localCluster(replica = ''): Cluster {
  return {
    owns: () => true,
    slotChanges: () => 0,
    leads: () => true,
    announce: () => {},
    onWake: () => {},
    onMoved: () => {},
    live: { self: replica },
    onReplicaGone: () => {},
    onLost: () => {},
    start: async () => {},
    stop: async () => {},
  };
}

/**
 * The leases as the transport uses them, telling `taken` each slot this
 * replica takes, after its holder connects it, `released` each slot it lets
 * go, as its holder starts closing it, and `lost` each slot whose lease went
 * with its database connection, once its holder closed it.
 */
export function watchLeases(leases: SlotLeases, taken: (n: number) => void, released: (n: number) => void, lost: () => void): SlotLeases {
  return {
    ...leases,
    start: (holder: SlotHolder) =>
      leases.start({
        take(n) {
          holder.take(n);
          taken(n);
        },
        async release(n, gone) {
          released(n);
          await holder.release(n, gone);
          if (gone) lost();
        },
      }),
  };
}

/** A replica's id (README §Running several replicas): random, positive, 31 bits (an advisory lock's key); the accepted_by of its command rows. */
export function replicaId(): string {
  return String(randomInt(1, 2 ** 31));
}
