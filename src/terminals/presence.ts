import type { Job, PresenceFlip } from '../store/store.ts';

/** Flips written in one job at most: a sweep that takes every terminal offline at once is several bounded transactions. */
const MAX_FLIPS = 1000;

export interface PresenceOptions {
  timeoutMs: number;
  /** Terminals as stored at start. */
  initial: StoredPresence[];
  /** Persists a change; presence never waits for it, but knows a flip's write is under way until its promise settles. */
  write: (job: Extract<Job, { kind: 'presence' | 'seen' }>) => Promise<unknown>;
  /** The wall clock, for the times stored and shown. */
  now?: () => number;
  /** A clock that never jumps, for silence: an NTP step of the wall clock must not take every terminal offline. */
  elapsed?: () => number;
  /** How often silent terminals are looked for, and last-seen times written. */
  sweepMs?: number;
  /**
   * README §Running several replicas: only the holder of slot 0 takes silent
   * terminals offline, from what every replica heard (their batches of
   * last-seen times, `heardElsewhere`); the others learn it (`learn`).
   */
  leads?: () => boolean;
}

interface State {
  online: boolean;
  lastSeenAt: number | null;
  /** When it was last heard from, on the `elapsed` clock. */
  heardAt: number;
  /** When `online` last changed here, on the `elapsed` clock: a table read from before says nothing newer (`reread`). */
  changedAt: number;
  dirty: boolean;
}

/** A terminal as the table has it: what `reread` takes. */
export interface StoredPresence {
  sn: string;
  online: boolean;
  lastSeenAt: number | null;
}

/**
 * Which terminals are online. Last-seen times live in memory and reach the
 * database in one batch per sweep: 10,000 heartbeating terminals cost one
 * small transaction a second, not 10,000. Flips go the same way at a finer
 * grain: those of one turn of the event loop are one job, so 10,000
 * terminals coming online at once (a site's power back) cost tens of jobs
 * on the heartbeats' thread, not 10,000 (README §Performance, Heartbeats).
 */
export function createPresence({
  timeoutMs,
  initial,
  write,
  now = Date.now,
  elapsed = performance.now.bind(performance),
  sweepMs = 1000,
  leads = () => true,
}: PresenceOptions) {
  const states = new Map<string, State>();
  // Stored last-seen times are wall-clock; silence from before the start is
  // counted from them once, and on the clock that does not jump after that.
  const [startWall, startElapsed] = [now(), elapsed()];
  const unheard = (): State => ({ online: false, lastSeenAt: null, heardAt: -Infinity, changedAt: -Infinity, dirty: false });
  // Kept as states change: /metrics asks for it, and 10,000 terminals are not counted on each read.
  let online = 0;
  for (const t of initial) {
    const heardAt = t.lastSeenAt === null ? -Infinity : startElapsed - (startWall - t.lastSeenAt);
    states.set(t.sn, { online: t.online, lastSeenAt: t.lastSeenAt, heardAt, changedAt: -Infinity, dirty: false });
    if (t.online) online += 1;
  }

  /** Flips not written yet, in the order they happened; written at the end of this turn of the event loop, or by flush(). */
  let flips: PresenceFlip[] = [];
  let flushing: NodeJS.Immediate | undefined;
  /** Serials with a flip being written (their count of writes): their row may not say it yet. */
  const writing = new Map<string, number>();
  /** While rereads are under way: serials forgotten meanwhile, whose rows a read may still have seen. */
  let rereads = 0;
  const forgottenDuring = new Set<string>();

  function drop(sn: string): void {
    states.delete(sn);
    if (rereads > 0) forgottenDuring.add(sn);
  }

  /** The one place `online` changes, with the count /metrics reads. */
  function set(state: State, value: boolean): void {
    if (state.online === value) return;
    state.online = value;
    state.changedAt = elapsed();
    online += value ? 1 : -1;
  }

  function stateOf(sn: string): State {
    let state = states.get(sn);
    if (!state) {
      state = unheard();
      states.set(sn, state);
    }
    return state;
  }

  function flip(change: PresenceFlip): void {
    flips.push(change);
    if (flips.length >= MAX_FLIPS) flush();
    else flushing ??= setImmediate(flush);
  }

  function flush(): void {
    clearImmediate(flushing);
    flushing = undefined;
    if (flips.length === 0) return;
    const job = { kind: 'presence' as const, flips };
    flips = [];
    for (const { sn } of job.flips) writing.set(sn, (writing.get(sn) ?? 0) + 1);
    const settled = () => {
      for (const { sn } of job.flips) {
        const left = (writing.get(sn) ?? 1) - 1;
        if (left > 0) writing.set(sn, left);
        else writing.delete(sn);
      }
    };
    void write(job).then(settled, settled);
  }

  function touch(sn: string, at = now()): void {
    const state = stateOf(sn);
    state.lastSeenAt = at;
    state.heardAt = elapsed();
    if (state.online) {
      state.dirty = true;
      return;
    }
    set(state, true);
    flip({ sn, online: true, at, lastSeenAt: at });
  }

  function sweep(): void {
    const [t, e] = [now(), elapsed()];
    const offlineHere = leads();
    const seen: [string, number][] = [];
    for (const [sn, state] of states) {
      if (state.dirty && state.lastSeenAt !== null) seen.push([sn, state.lastSeenAt]);
      state.dirty = false;
      if (offlineHere && state.online && e - state.heardAt > timeoutMs) {
        set(state, false);
        flip({ sn, online: false, at: t, lastSeenAt: state.lastSeenAt });
      }
    }
    flush();
    if (seen.length > 0) write({ kind: 'seen', lastSeen: seen });
  }

  const timer = setInterval(sweep, sweepMs);
  timer.unref();

  return {
    touch,
    /**
     * Writes the flips of this turn now. Before a terminal's record is
     * stored: its device.online comes before the record's events.
     */
    flush,
    /** Another replica heard these terminals (its batch of last-seen times): silence counts from now. Nothing is written. */
    heardElsewhere(serials: readonly string[], at: number) {
      const e = elapsed();
      for (const sn of serials) {
        const state = stateOf(sn);
        if ((state.lastSeenAt ?? -Infinity) < at) state.lastSeenAt = at;
        state.heardAt = e;
      }
    },
    /** Another replica stored this terminal's flip: this one's view follows, nothing is written. */
    learn(sn: string, online: boolean, at: number) {
      const state = stateOf(sn);
      set(state, online);
      if (online) {
        state.lastSeenAt = Math.max(state.lastSeenAt ?? -Infinity, at);
        state.heardAt = elapsed();
      }
    },
    /**
     * README §Running several replicas: notifications were missed (this
     * replica's connection for them was lost), so the flips other replicas
     * stored meanwhile are read from the table. A terminal whose flip is
     * being written here, or that changed here after the read began, is
     * left as it is: the table may not say that yet. One learned online
     * counts its silence from now, as `learn` does.
     */
    async reread(read: () => Promise<readonly StoredPresence[]>) {
      flush();
      const since = elapsed();
      rereads += 1;
      try {
        for (const t of await read()) {
          // Forgotten here after the read began (DELETE /api/devices/{sn}, FORGET_AFTER): its row was, or is going.
          if (forgottenDuring.has(t.sn)) continue;
          const state = stateOf(t.sn);
          if (state.changedAt >= since || writing.has(t.sn) || state.online === t.online) continue;
          set(state, t.online);
          if (t.online) {
            if ((state.lastSeenAt ?? -Infinity) < (t.lastSeenAt ?? -Infinity)) state.lastSeenAt = t.lastSeenAt;
            state.heardAt = elapsed();
          }
        }
      } finally {
        // The last reread under way, read or failed: nothing forgotten before the next one began concerns it.
        rereads -= 1;
        if (rereads === 0) forgottenDuring.clear();
      }
    },
    /** A terminal the bridge has seen or was told about in DEVICES. */
    knows: (sn: string) => states.has(sn),
    register(sn: string) {
      if (!states.has(sn)) states.set(sn, unheard());
    },
    /** Drops a terminal (DELETE /api/devices/{sn}): its next message is a new serial's. No event: it did not go offline. */
    forget(sn: string) {
      // A flip heard before goes first, not after the deletion (which it would undo).
      flush();
      const state = states.get(sn);
      if (state) set(state, false);
      drop(sn);
    },
    /**
     * Drops terminals FORGET_AFTER took out of the store, unless heard from
     * since: a message that came meanwhile queued its writes after the
     * deletion, and they put the row back.
     */
    forgetSilent(serials: string[], before: number) {
      for (const sn of serials) {
        const state = states.get(sn);
        if (state && !state.online && (state.lastSeenAt ?? -Infinity) < before) drop(sn);
      }
    },
    isOnline: (sn: string) => states.get(sn)?.online ?? false,
    lastSeen: (sn: string) => states.get(sn)?.lastSeenAt ?? null,
    /** The serials known (a fan-out to "all"). */
    serials: () => [...states.keys()],
    /** Terminals known: stored and registered (README §Topics, MAX_TERMINALS). */
    size: () => states.size,
    onlineCount: () => online,
    /** Stops the sweep and writes the flips and last-seen times still in memory. */
    stop() {
      clearInterval(timer);
      flush();
      const seen: [string, number][] = [];
      for (const [sn, state] of states) if (state.dirty && state.lastSeenAt !== null) seen.push([sn, state.lastSeenAt]);
      if (seen.length > 0) write({ kind: 'seen', lastSeen: seen });
    },
  };
}

export type Presence = ReturnType<typeof createPresence>;
