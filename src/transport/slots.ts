import { Counter, Gauge, type Registry } from 'prom-client';
import type { SlotLeases } from '../cluster/leases.ts';
import { type BrokerSession, openBrokerSession, type SessionOptions } from './mqtt-session.ts';

// README §Running several replicas: the upLink traffic is read through
// `count` slots of one MQTT 5 shared subscription ($share/<group>/<filter>),
// each a fixed client id `<group>-slot-<n>` with a persistent session. A
// broker limits what it keeps in flight and queues per client (stock
// Mosquitto: 20 and 1,000), so N slots have N times both; and a slot's
// session outlives its holder, so the replica that takes it over next gets
// what was queued and not acknowledged in it.

/** The client id of slot `n` of a share group: fixed, so the session (and what it queued) is found again by whoever holds the slot next. */
export const slotClientId = (group: string, n: number) => `${group}-slot-${n}`;

/** A filter as one member of the share group subscribes to it [MQTT-4.8.2]. */
export const sharedFilter = (group: string, filter: string) => `$share/${group}/${filter}`;

export interface SlotsOptions extends Omit<SessionOptions, 'clientId' | 'filters' | 'stale' | 'noLocal' | 'echo'> {
  group: string;
  leases: SlotLeases;
  /** The upLink filters and those an earlier run may have left, unshared: each slot subscribes to them in the group. */
  filters: string[];
  stale: string[];
  /** A downLink topic: the bridge's own publish come back (a shared subscription has no No Local). */
  isDownlink: (topic: string) => boolean;
  registry: Registry;
}

export async function startSlots(options: SlotsOptions) {
  const { group, leases, log } = options;
  const sessions = new Map<number, Promise<BrokerSession>>();
  new Gauge({
    name: 'facegate_mqtt_slots_held',
    help: 'slots of the shared subscription this replica holds (their leases, and an MQTT client each)',
    registers: [options.registry],
    collect() {
      this.set(leases.held().length);
    },
  });
  const takeovers = new Counter({
    name: 'facegate_mqtt_slot_takeovers_total',
    help: "slots this replica took (at its start too): each takes over that slot's session at the broker, with what it queued",
    registers: [options.registry],
  });
  const echoes = new Counter({
    name: 'facegate_mqtt_own_downlink_total',
    help: "the bridge's own downLink publishes that came back through the shared subscription: acknowledged, not stored",
    registers: [options.registry],
  });
  const echo = { is: options.isDownlink, counted: () => echoes.inc() };

  await leases.start({
    take(n) {
      takeovers.inc();
      sessions.set(
        n,
        openBrokerSession({
          ...options,
          clientId: slotClientId(group, n),
          filters: options.filters.map((f) => sharedFilter(group, f)),
          stale: options.stale.map((f) => sharedFilter(group, f)),
          noLocal: false,
          echo,
        }),
      );
    },
    async release(n, lost) {
      const opening = sessions.get(n);
      sessions.delete(n);
      const session = await opening;
      if (!session) return;
      await (lost ? session.abort() : session.stop());
      log.info({ slot: n, clientId: slotClientId(group, n), lost }, 'slot closed');
    },
  });
  // As the single client: the start goes on at the first attempt of each connection, made or failed.
  await Promise.all([...sessions.values()].map(async (opening) => (await opening).firstAttempt));

  return {
    held: () => leases.held(),
    healthy: () => leases.healthy(),
    stop: () => leases.stop(),
  };
}
