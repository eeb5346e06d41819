/**
 * How long a reply is held for the record of its command's publish. The
 * publishing replica records `published` right after the broker's PUBACK
 * (one group commit, a few ms) and tells the others by a notification (a
 * few ms more); under load both wait behind other commits. Two seconds is
 * far beyond that and still short against REPLY_WINDOW (30 s): a message
 * that answered nothing is stored as a device.message, as ever, at most this
 * late, and its slot's later PUBACKs wait as long (they go out in order).
 */
export const HOLD_MS = 2000;
/** Replies held at once by one replica: past it a reply is stored as ever (memory, and PUBACKs waiting behind them). */
export const MAX_HELD = 1000;
/** Replies held at once for one terminal: its commands go out one at a time, so a few cover every reply that can race. */
export const MAX_HELD_PER_TERMINAL = 8;
/** Serials remembered as just published (a notice that came before its reply was held); pruned past this many. */
const MAX_RECENT = 10_000;

/** A reply held back: what to do when a command of its terminal is recorded published, or its time is up, or the replica stops. */
export interface HeldReply {
  /** Store it now; `last`: its time is up, it may be held no more. */
  again(last: boolean): void;
  /** Not stored, not acknowledged: the broker sends it again (to this replica or another). */
  release(err: Error): void;
}

/**
 * README §Running several replicas, a reply faster than the record of its
 * publish: a reply that pairs with no published command while one it could
 * answer is still queued for its terminal (the store gives it back,
 * Outcome.held) waits here, unacknowledged and unstored, until a command of
 * that terminal is recorded published, here or at another replica (its
 * notification), then is stored again and pairs; at most HOLD_MS, then it
 * is stored as ever. One path for both engines: with SQLite the publisher
 * is this process and says so directly. Only replies that would otherwise
 * be lost come here: heartbeats and records never do.
 */
export function createHeldReplies({ holdMs = HOLD_MS, max = MAX_HELD, perTerminal = MAX_HELD_PER_TERMINAL } = {}) {
  type Entry = { reply: HeldReply; timer: NodeJS.Timeout };
  const held = new Map<string, Set<Entry>>();
  /** When each terminal's last publish was recorded (a notice may come before the reply it frees is held). */
  const recent = new Map<string, number>();
  let count = 0;
  let stopped = false;

  function remove(sn: string, entry: Entry): void {
    clearTimeout(entry.timer);
    const set = held.get(sn);
    if (!set?.delete(entry)) return;
    count -= 1;
    if (set.size === 0) held.delete(sn);
  }

  return {
    /**
     * Holds a reply given back by the store. `since`: when it was first held
     * (its time counts from there); `sent`: when this attempt went to the
     * store (a publish recorded since then frees it at once). False when it
     * may not be held (its time is up, no room, stopping): store it as ever.
     */
    hold(sn: string, since: number, sent: number, reply: HeldReply): boolean {
      const now = Date.now();
      const left = since + holdMs - now;
      if (stopped || left <= 0 || count >= max) return false;
      if ((recent.get(sn) ?? -1) >= sent) {
        queueMicrotask(() => reply.again(false));
        return true;
      }
      let set = held.get(sn);
      if (set && set.size >= perTerminal) return false;
      if (!set) {
        set = new Set();
        held.set(sn, set);
      }
      const entry: Entry = {
        reply,
        timer: setTimeout(() => {
          remove(sn, entry);
          reply.again(true);
        }, left),
      };
      set.add(entry);
      count += 1;
      return true;
    },
    /** Commands of these terminals were recorded published (here, or told by another replica): their held replies try again. */
    published(serials: string[]): void {
      const now = Date.now();
      for (const sn of serials) {
        recent.set(sn, now);
        const set = held.get(sn);
        if (!set) continue;
        for (const entry of [...set]) {
          remove(sn, entry);
          entry.reply.again(false);
        }
      }
      if (recent.size > MAX_RECENT) for (const [sn, at] of recent) if (now - at > holdMs) recent.delete(sn);
    },
    /** Every held reply let go unacknowledged (the replica stops, or lost PostgreSQL): the broker sends them again. */
    releaseAll(why: string): void {
      for (const [sn, set] of [...held]) {
        for (const entry of [...set]) {
          remove(sn, entry);
          entry.reply.release(new Error(why));
        }
      }
    },
    /** Replies held now. */
    get size() {
      return count;
    },
    stop(): void {
      stopped = true;
      this.releaseAll('stopping: a held reply is left unacknowledged');
    },
  };
}

export type HeldReplies = ReturnType<typeof createHeldReplies>;
