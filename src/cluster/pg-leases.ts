import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../lib/log.ts';
import { withoutPassword } from '../lib/secrets.ts';
import type { SlotHolder, SlotLeases } from './leases.ts';
import { dedicatedClient, RETRY_MS } from './pg-connection.ts';

// README §Running several replicas: a slot's lease is a session-level
// PostgreSQL advisory lock held on a connection of its own. A replica that
// dies (SIGKILL included) closes that connection, the server frees its locks
// at once, and a live replica takes the slots in its next round: no lease
// expiry to wait for, no table to clean. The live replicas are those holding
// a membership lock on the same connection, read from pg_locks, so a replica
// holding no slot still counts in the fair share.

/** How often the leases are looked at: a dead replica's slots are taken within about this long. */
export const ROUND_MS = 1000;

/**
 * The two 32-bit keys of the advisory locks (two-key form, apart from the
 * one-key locks others may use): one for the slots of this share group (slot
 * n is (slots, n)), one for the membership of its replicas ((members, pid)).
 * Positive, so pg_locks shows them as the same numbers.
 */
export function lockKeys(group: string): { slots: number; members: number } {
  const key = (what: string) => createHash('sha256').update(`facegate ${what} ${group}`).digest().readUInt32BE(0) & 0x7fffffff;
  return { slots: key('slots'), members: key('replicas') };
}

/**
 * How many of `count` slots the replica at `index` among `live` replicas
 * (ordered by their server pid) should hold: about count / live, the first
 * count % live one more, so the targets add up to count.
 */
export function fairShare(count: number, live: number, index: number): number {
  return Math.floor(count / live) + (index < count % live ? 1 : 0);
}

export interface PgLeasesOptions {
  url: string;
  group: string;
  count: number;
  /** This replica's id (cluster.ts replicaId): the second key of its membership lock, which its command rows name. */
  replica: string;
  log: Logger;
  roundMs?: number;
}

type Row = { pid: number; class: string; obj: string };

export function pgSlotLeases(options: PgLeasesOptions): SlotLeases {
  const { count, log, group } = options;
  const keys = lockKeys(group);
  const roundMs = options.roundMs ?? ROUND_MS;
  let holder: SlotHolder | undefined;
  /** The lease connection; undefined while there is none. A new one is a new generation: what an old one did no longer counts. */
  let client: pg.Client | undefined;
  let pid = 0;
  const held = new Set<number>();
  let ok = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let firstRound: (() => void) | undefined;
  const goneListeners: (() => void)[] = [];
  /** The replicas' ids seen in the last round: one missing from the next is gone. */
  let seen: Set<string> | undefined;

  /** The connection is gone: its locks are too, so every slot is closed at once (README: nothing is acknowledged that cannot be committed). */
  function lost(dead: pg.Client, why: string) {
    if (client !== dead) return;
    client = undefined;
    ok = false;
    dead.end().catch(() => {});
    if (held.size > 0) log.error({ slots: [...held], reason: why }, 'PostgreSQL lost: closing the MQTT slots held; their leases are free for another replica');
    else log.error({ reason: why }, 'PostgreSQL lost: no slot lease can be had');
    for (const n of [...held]) {
      held.delete(n);
      void holder?.release(n, true).catch(() => {});
    }
  }

  async function connect(): Promise<void> {
    const next = await dedicatedClient(options.url, `facegate-slots-${group}`, lost);
    await next.connect();
    try {
      // Keyed by the replica's id, not this connection's pid: the id outlives a reconnect, and the rows it accepted name it
      // (README §Commands with replies). Waits while a connection of its own the server has not seen die still holds it.
      const result = await next.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_advisory_lock($1, $2::int8::int4)', [keys.members, options.replica]);
      pid = result.rows[0].pid;
    } catch (err) {
      next.end().catch(() => {});
      throw err;
    }
    client = next;
    ok = true;
    log.info({ url: withoutPassword(options.url), group, slots: count }, 'slot leases: connected to PostgreSQL');
  }

  async function round(): Promise<void> {
    if (stopped) return;
    if (!client) {
      try {
        await connect();
      } catch (err) {
        ok = false;
        log.warn({ err: (err as Error).message }, 'slot leases: PostgreSQL unreachable; trying again');
        return;
      }
    }
    const current = client!;
    try {
      const { rows } = await current.query<Row>(
        `SELECT pid, classid::int8::text AS class, objid::int8::text AS obj FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 2
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND classid IN ($1::int8::oid, $2::int8::oid)`,
        [keys.slots, keys.members],
      );
      if (client !== current || stopped) return;
      const memberRows = rows.filter((r) => Number(r.class) === keys.members);
      const ids = new Set(memberRows.map((r) => r.obj));
      const gone = seen !== undefined && [...seen].some((id) => !ids.has(id));
      seen = ids;
      if (gone) queueMicrotask(() => replicaGone());
      const members = [...new Set(memberRows.map((r) => r.pid))].sort((a, b) => a - b);
      if (!members.includes(pid)) members.push(pid);
      members.sort((a, b) => a - b);
      const holders = new Map<number, number>();
      for (const r of rows) if (Number(r.class) === keys.slots && Number(r.obj) < count) holders.set(Number(r.obj), r.pid);
      const holding = (p: number) => [...holders.values()].filter((h) => h === p).length;
      const target = (p: number) => fairShare(count, members.length, members.indexOf(p));
      const mine = target(pid);
      // Another replica below its share takes what this one gives up; none below: keep every slot held (an unheld slot's session only collects).
      const wanted = members.some((p) => p !== pid && holding(p) < target(p));
      if (held.size > mine && wanted) {
        const n = Math.max(...held);
        held.delete(n);
        log.info({ slot: n, held: held.size, share: mine, replicas: members.length }, 'slot released to another replica (fair share)');
        await holder?.release(n, false);
        if (client === current) await current.query('SELECT pg_advisory_unlock($1, $2)', [keys.slots, n]);
        return;
      }
      for (let n = 0; n < count; n++) {
        if (held.size >= mine && wanted) break;
        if (held.has(n) || holders.has(n)) continue;
        const got = await current.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [keys.slots, n]);
        if (client !== current || stopped) {
          // Taken on a connection that is gone since (or while stopping): the lease went with it, or goes at the stop.
          return;
        }
        if (!got.rows[0].locked) continue;
        held.add(n);
        log.info({ slot: n, held: held.size, share: mine, replicas: members.length }, 'slot taken');
        holder?.take(n);
      }
      ok = true;
    } catch (err) {
      lost(current, (err as Error).message);
    }
  }

  function replicaGone(): void {
    for (const listener of goneListeners) {
      try {
        listener();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'slot leases: a listener of a replica gone failed');
      }
    }
  }

  function schedule(ms: number) {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round().finally(() => {
        firstRound?.();
        firstRound = undefined;
        schedule(client ? roundMs : RETRY_MS + Math.random() * RETRY_MS);
      });
    }, ms);
    timer.unref();
  }

  return {
    start(h) {
      holder = h;
      return new Promise<void>((resolve) => {
        firstRound = resolve;
        schedule(0);
      });
    },
    held: () => [...held].sort((a, b) => a - b),
    healthy: () => ok,
    onReplicaGone: (listener) => void goneListeners.push(listener),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running.catch(() => {});
      const releasing = [...held];
      held.clear();
      // The connections first: the leases are free only once nothing more of these slots is read here.
      await Promise.all(releasing.map((n) => holder?.release(n, false)));
      const last = client;
      client = undefined;
      ok = false;
      // Closing the connection frees every lock it held.
      await last?.end().catch(() => {});
    },
  };
}
