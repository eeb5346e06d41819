import type { Logger } from '../lib/log.ts';
import { everySlot, type SlotLeases } from './leases.ts';
import { pgSlotLeases } from './pg-leases.ts';

export interface SlotPlanInput {
  /** MQTT_SLOTS. */
  slots: number;
  /** MQTT_SHARE_GROUP: the replicas' group, in cluster mode. */
  shareGroup: string;
  /** The bridge's MQTT client id: a process alone names its own share group after it. */
  clientId: string;
  /** DATABASE_URL: cluster mode, the leases in PostgreSQL. */
  databaseUrl?: string;
  /** This replica's id (cluster.ts replicaId). */
  replica: string;
  log: Logger;
}

/**
 * README §Running several replicas (SPEC Details): shared subscriptions in
 * cluster mode, group MQTT_SHARE_GROUP, each slot held under its lease. One
 * process with SQLite and MQTT_SLOTS > 1 holds every slot, in a group named
 * after its own client id, so two unrelated bridges on one broker never
 * split a site's messages. MQTT_SLOTS 1 without a database: undefined, the
 * single client subscribed as itself, as ever.
 */
export function slotPlan(input: SlotPlanInput): { group: string; leases: SlotLeases } | undefined {
  if (input.databaseUrl) {
    return {
      group: input.shareGroup,
      leases: pgSlotLeases({ url: input.databaseUrl, group: input.shareGroup, count: input.slots, replica: input.replica, log: input.log }),
    };
  }
  if (input.slots > 1) return { group: input.clientId, leases: everySlot(input.slots) };
  return undefined;
}
