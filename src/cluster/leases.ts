/**
 * Who holds which slot of the shared subscription (README §Running several
 * replicas). A slot is one fixed MQTT client id with a persistent session in
 * the share group; a replica connects it only while it holds its lease, so
 * no two replicas ever take one session from each other, and a slot whose
 * holder died is taken over, with what its session kept, by a live one.
 */
export interface SlotHolder {
  /** This replica holds slot `n` now: connect it. */
  take(n: number): void;
  /**
   * This replica lets slot `n` go: resolves once its MQTT connection is
   * closed, and only then is the lease given up. `lost`: the lease is gone
   * already (its database connection is): close at once, acknowledge nothing more.
   */
  release(n: number, lost: boolean): Promise<void>;
}

export interface SlotLeases {
  /** Resolves once the first slots are taken (or the first attempt failed: the bridge starts anyway). */
  start(holder: SlotHolder): Promise<void>;
  /** The slots this replica holds, ascending. */
  held(): number[];
  /** False while no lease can be had or kept (the database is unreachable). */
  healthy(): boolean;
  /** Releases every slot held (their connections closed first), then the leases. */
  stop(): Promise<void>;
  /** Another replica's membership is gone (it died, or lost PostgreSQL): told after the round that saw it. Alone: never. */
  onReplicaGone?(listener: () => void): void;
}

/**
 * One process and its SQLite store: it is the only holder there can be, so
 * it holds every slot, always (README §Running several replicas: several
 * slots on one box multiply the broker's per-client window and queue).
 */
export function everySlot(count: number): SlotLeases {
  let holder: SlotHolder | undefined;
  let held: number[] = [];
  return {
    async start(h) {
      holder = h;
      held = Array.from({ length: count }, (_, n) => n);
      for (const n of held) h.take(n);
    },
    held: () => [...held],
    healthy: () => true,
    async stop() {
      const releasing = held;
      held = [];
      await Promise.all(releasing.map((n) => holder?.release(n, false)));
    },
  };
}
