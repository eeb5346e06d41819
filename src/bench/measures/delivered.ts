import { setTimeout as delay } from 'node:timers/promises';
import { FIRST_NUM } from '../../kit/records.ts';
import type { Arrival, Receiver, ReceiverStats } from '../children/receiver.ts';
import { monotonicMs } from './clock.ts';

/** What reached the webhook receiver of the records sent. */
export interface DeliveryTally {
  sent: number;
  /** Requests the receiver answered. */
  received: number;
  distinctIds: number;
  /** Records (by their key, the body's user_id) that arrived at least once. */
  delivered: number;
  /** Sent − delivered. */
  lost: number;
  /** Received − distinct webhook-ids: the same event posted again. */
  duplicates: number;
  /** Records that came under more than one webhook-id: one record stored as two events. */
  keysWithSeveralIds: number;
  /** Requests the receiver could not read a webhook-id or a user_id from. */
  unreadable: number;
  /** The wait below ran out of time (or of progress) before every record arrived. */
  timedOut: boolean;
}

const POLL_MS = 100;

/**
 * Waits until the receiver holds `keys` distinct records in all (a delivery
 * burst counts its warm-up's in), or until it has made no progress for
 * `stallMs`, or until the monotonic `deadline`.
 */
export async function awaitDelivered(
  receiver: Receiver,
  keys: number,
  limits: { deadline: number; stallMs: number },
): Promise<{ stats: ReceiverStats; timedOut: boolean }> {
  let stats = await receiver.stats();
  let movedAt = monotonicMs();
  for (;;) {
    if (stats.distinctKeys >= keys) return { stats, timedOut: false };
    const now = monotonicMs();
    if (now >= limits.deadline || now - movedAt >= limits.stallMs) return { stats, timedOut: true };
    await delay(POLL_MS);
    const next = await receiver.stats();
    if (next.distinctKeys > stats.distinctKeys) movedAt = monotonicMs();
    stats = next;
  }
}

/** Record i (of a numbered load, kit/records.ts) of an arrival, or undefined for a key the benchmark never sent. */
export function recordIndex(arrival: Arrival, sent: number): number | undefined {
  const i = Number(arrival.key) - FIRST_NUM;
  return Number.isInteger(i) && i >= 0 && i < sent ? i : undefined;
}

/** The receiver's counts since `before` was read: a burst's, without the warm-up before it. */
export function since(before: ReceiverStats, now: ReceiverStats): ReceiverStats {
  return {
    received: now.received - before.received,
    distinctIds: now.distinctIds - before.distinctIds,
    distinctKeys: now.distinctKeys - before.distinctKeys,
    unreadable: now.unreadable - before.unreadable,
    keysWithSeveralIds: now.keysWithSeveralIds - before.keysWithSeveralIds,
    up: now.up,
  };
}

export function tally(sent: number, stats: ReceiverStats, arrivals: Arrival[], timedOut: boolean): DeliveryTally {
  const delivered = arrivals.filter((a) => recordIndex(a, sent) !== undefined).length;
  return {
    sent,
    received: stats.received,
    distinctIds: stats.distinctIds,
    delivered,
    lost: sent - delivered,
    duplicates: stats.received - stats.unreadable - stats.distinctIds,
    keysWithSeveralIds: stats.keysWithSeveralIds,
    unreadable: stats.unreadable,
    timedOut,
  };
}
