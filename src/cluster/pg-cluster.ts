import type pg from 'pg';
import type { Logger } from '../lib/log.ts';
import { withoutPassword } from '../lib/secrets.ts';
import { type Cluster, type Moved, slotOf, type Wake, watchLeases } from './cluster.ts';
import type { SlotLeases } from './leases.ts';
import { dedicatedClient, RETRY_MS } from './pg-connection.ts';
import { lockKeys } from './pg-leases.ts';

// README §Running several replicas: the wake-ups between replicas are
// PostgreSQL notifications on one connection per replica, carrying ids only
// (a payload stays far below the server's 8000 bytes). A notification sent
// while a replica's connection was down is lost to it: after each reconnect
// it listens again and reads its work again from the tables.

/** Ids in one notification: 30 events' keys (or serials) stay within 8000 bytes. */
const CHUNK = 30;
/** Wake-ups kept while the connection is down; older ones are dropped (the others re-read on their own reconnect, or at their next timer). */
const MAX_PENDING = 10_000;

export interface PgClusterOptions {
  url: string;
  group: string;
  /** MQTT_SLOTS. */
  slots: number;
  /** The slot leases this replica's transport holds. */
  leases: SlotLeases;
  /** This replica's id (cluster.ts replicaId): its notifications say it is theirs. */
  replica: string;
  log: Logger;
}

/** Splits a wake-up with many ids into notifications of at most CHUNK each. */
export function chunks(wake: Wake): Wake[] {
  const out: Wake[] = [];
  if (wake.kind === 'events') for (let i = 0; i < wake.events.length; i += CHUNK) out.push({ ...wake, events: wake.events.slice(i, i + CHUNK) });
  else if ('serials' in wake) for (let i = 0; i < wake.serials.length; i += CHUNK) out.push({ ...wake, serials: wake.serials.slice(i, i + CHUNK) });
  return out.length > 1 ? out : [wake];
}

/** The cluster, and the leases to give the transport: a slot taken through them wakes its work here. */
export function pgCluster({ url, group, slots, leases, replica, log }: PgClusterOptions): Cluster & { leases: SlotLeases } {
  const self = replica;
  const keys = lockKeys(group);
  // A number: a valid identifier without quoting, one channel per share group.
  const channel = `facegate_wake_${keys.slots}`;
  const wakeListeners: ((wake: Wake) => void)[] = [];
  const movedListeners: ((why: Moved) => void)[] = [];
  const lostListeners: (() => void)[] = [];
  let client: pg.Client | undefined;
  let pending: string[] = [];
  let sending = false;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  function moved(why: Moved): void {
    for (const listener of movedListeners) {
      try {
        listener(why);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'cluster: re-reading the work failed');
      }
    }
  }

  function received(payload: string | undefined): void {
    if (!payload) return;
    let message: { from?: unknown; wake?: Wake };
    try {
      message = JSON.parse(payload) as typeof message;
    } catch {
      return;
    }
    if (message.from === self || typeof message.wake?.kind !== 'string') return;
    for (const listener of wakeListeners) {
      try {
        listener(message.wake);
      } catch (err) {
        log.error({ kind: message.wake.kind, err: (err as Error).message }, 'cluster: a wake-up failed');
      }
    }
  }

  function lost(which: pg.Client, why: string): void {
    if (client !== which) return;
    client = undefined;
    which.end().catch(() => {});
    if (stopped) return;
    log.warn({ err: why }, 'cluster: notifications connection lost; reconnecting');
    reconnect();
  }

  function reconnect(): void {
    if (stopped || retry) return;
    retry = setTimeout(
      () => {
        retry = undefined;
        connect()
          .then(() => {
            // Notifications were missed meanwhile: every part reads its work again.
            moved('missed');
            void flush();
          })
          .catch((err: Error) => {
            log.warn({ err: err.message }, 'cluster: PostgreSQL unreachable for notifications');
            reconnect();
          });
      },
      RETRY_MS + Math.random() * RETRY_MS,
    );
    retry.unref();
  }

  async function connect(): Promise<void> {
    const next = await dedicatedClient(url, `facegate-wake-${group}`, lost);
    next.on('notification', (n) => {
      if (n.channel === channel) received(n.payload);
    });
    await next.connect();
    try {
      await next.query(`LISTEN ${channel}`);
    } catch (err) {
      next.end().catch(() => {});
      throw err;
    }
    if (stopped) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    log.info({ url: withoutPassword(url), group }, 'cluster: listening for the other replicas');
  }

  /** Sends what waits, in one statement per round, in order. */
  async function flush(): Promise<void> {
    if (sending) return;
    sending = true;
    try {
      while (client && pending.length > 0) {
        const batch = pending;
        pending = [];
        try {
          await client.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i', [channel, batch]);
        } catch (err) {
          // Kept for the next connection, in order.
          pending = [...batch, ...pending].slice(-MAX_PENDING);
          log.warn({ err: (err as Error).message }, 'cluster: notifications not sent; kept for the next connection');
          break;
        }
      }
    } finally {
      sending = false;
    }
  }

  // Several slots taken in one round: one re-read.
  let movedSoon: NodeJS.Timeout | undefined;
  let slotChanges = 0;
  const watched = watchLeases(
    leases,
    () => {
      slotChanges += 1;
      if (movedSoon || stopped) return;
      movedSoon = setTimeout(() => {
        movedSoon = undefined;
        moved('slot');
      }, 0);
    },
    () => {
      slotChanges += 1;
    },
    () => {
      for (const listener of lostListeners) listener();
    },
  );

  return {
    leases: watched,
    owns: (key) => leases.held().includes(slotOf(key, slots)),
    slotChanges: () => slotChanges,
    leads: () => leases.held().includes(0),
    announce(wake) {
      if (stopped) return;
      for (const part of chunks(wake)) pending.push(JSON.stringify({ from: self, wake: part }));
      if (pending.length > MAX_PENDING) pending = pending.slice(-MAX_PENDING);
      void flush();
    },
    onWake: (listener) => void wakeListeners.push(listener),
    onMoved: (listener) => void movedListeners.push(listener),
    // README §Commands with replies: the replicas holding a membership lock (pg-leases.ts) are those whose queued commands stay theirs.
    live: { members: keys.members },
    onReplicaGone: (listener) => leases.onReplicaGone?.(listener),
    onLost: (listener) => void lostListeners.push(listener),
    async start() {
      try {
        await connect();
      } catch (err) {
        // The bridge starts anyway (as the leases do): the connection is tried again.
        log.warn({ err: (err as Error).message }, 'cluster: PostgreSQL unreachable for notifications');
        reconnect();
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(retry);
      clearTimeout(movedSoon);
      await flush();
      const last = client;
      client = undefined;
      await last?.end().catch(() => {});
    },
  };
}
