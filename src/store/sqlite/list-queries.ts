import type { EventType } from '../../events/events.ts';
import { drizzleEntry } from '../drizzle.ts';
import { type CommandFilter, type DeliveryStatus, type SeqRange, SHOWN_BYTES } from '../store.ts';
import type { Db } from './open.ts';
import { commands, deliveries, events, outboxDepth } from './schema.ts';

const { and, asc, desc, eq, gt, gte, inArray, lt, lte, max, min, sql } = drizzleEntry('drizzle-orm');

// SQLite gives octet_length() from the record's header, without reading the
// value's overflow pages: a list of messages of megabytes (SHOWN_BYTES)
// costs what a list of small ones does.
export { SHOWN_BYTES };

/**
 * The queries behind the lists and the live stream's replay, apart so their
 * plans can be checked (test/integration/query-plans.test.ts). Each one finds
 * positions (seqs, keys) through one index, within bounds the caller sets;
 * the rows themselves are read one at a time afterwards (listedEvent, …),
 * only as many as a page takes.
 */
export function listQueries(db: Db) {
  const eventFilters = (filter: { types?: EventType[]; device?: string }) => [
    filter.types?.length ? inArray(events.type, filter.types) : undefined,
    filter.device !== undefined ? eq(events.deviceSn, filter.device) : undefined,
  ];
  return {
    /**
     * `since` and `until` as positions in arrival order: one seek each in
     * `events_received_at`, which holds (received_at, seq). Received times
     * follow seqs (both are taken in arrival order) except across a step of
     * the wall clock: events received after the clock was set back carry
     * earlier times than events before them, and a range of times then
     * matches the seqs from the first event at or after `since` to the last
     * before `until`, whatever lies between.
     */
    firstSeqFrom: (at: number) =>
      db.select({ seq: events.seq }).from(events).where(gte(events.receivedAt, at)).orderBy(asc(events.receivedAt), asc(events.seq)).limit(1),
    lastSeqBefore: (at: number) =>
      db.select({ seq: events.seq }).from(events).where(lt(events.receivedAt, at)).orderBy(desc(events.receivedAt), desc(events.seq)).limit(1),
    // Apart: SQLite answers a lone min() or max() of the key with one seek, but both at once with a scan.
    firstEvent: () => db.select({ seq: min(events.seq) }).from(events),
    lastEvent: () => db.select({ seq: max(events.seq) }).from(events),
    /** Seqs of the events that match, newest first. */
    eventSeqs: (filter: { types?: EventType[]; device?: string } & SeqRange & { limit: number }) =>
      db
        .select({ seq: events.seq })
        .from(events)
        .where(and(...eventFilters(filter), gte(events.seq, filter.from), lt(events.seq, filter.below)))
        .orderBy(desc(events.seq))
        .limit(filter.limit),
    /** Seqs of the events that match in (after, upTo], oldest first: the live stream's replay. */
    eventSeqsAfter: (filter: { types?: EventType[]; device?: string; after: number; upTo: number; limit: number }) =>
      db
        .select({ seq: events.seq })
        .from(events)
        .where(and(...eventFilters(filter), gt(events.seq, filter.after), lte(events.seq, filter.upTo)))
        .orderBy(asc(events.seq))
        .limit(filter.limit),
    /**
     * Seqs of the deliveries that match, newest first. `status` walks
     * `deliveries_status` (status, seq), an event its handful of deliveries;
     * an endpoint is checked row by row in the seq range (the unary `+`
     * keeps SQLite from walking all of that endpoint's deliveries in
     * `deliveries_due`, whose order is not seq's).
     */
    deliverySeqs: (filter: { status?: DeliveryStatus; endpointId?: string; eventSeq?: number } & SeqRange & { limit: number }) =>
      db
        .select({ seq: deliveries.seq })
        .from(deliveries)
        .where(
          and(
            filter.eventSeq !== undefined ? eq(deliveries.eventSeq, filter.eventSeq) : undefined,
            // With an event, its own index is the one to walk: a few rows at most.
            filter.status !== undefined
              ? filter.eventSeq !== undefined
                ? sql`+${deliveries.status} = ${filter.status}`
                : eq(deliveries.status, filter.status)
              : undefined,
            filter.endpointId !== undefined ? sql`+${deliveries.endpointId} = ${filter.endpointId}` : undefined,
            gte(deliveries.seq, filter.from),
            lt(deliveries.seq, filter.below),
          ),
        )
        .orderBy(desc(deliveries.seq))
        .limit(filter.limit),
    firstDelivery: () => db.select({ seq: min(deliveries.seq) }).from(deliveries),
    lastDelivery: () => db.select({ seq: max(deliveries.seq) }).from(deliveries),
    /**
     * Keys of commands newest first, before a (created_at, id) position. Each
     * filter, and device with status, has its index (`commands_created`,
     * `commands_device_created`, `commands_status_created`,
     * `commands_device_status_created`, `commands_batch_created`); with a
     * batch, the rest is checked within the batch, which holds at most
     * MAX_TERMINALS commands.
     */
    commandKeys: (filter: CommandFilter & { before?: { at: number; id: string }; limit: number }) =>
      db
        .select({ id: commands.id, createdAt: commands.createdAt })
        .from(commands)
        .where(
          and(
            filter.device !== undefined ? eq(commands.deviceSn, filter.device) : undefined,
            filter.status !== undefined ? eq(commands.status, filter.status) : undefined,
            filter.batch !== undefined ? eq(commands.batch, filter.batch) : undefined,
            filter.before ? sql`(${commands.createdAt}, ${commands.id}) < (${filter.before.at}, ${filter.before.id})` : undefined,
          ),
        )
        .orderBy(desc(commands.createdAt), desc(commands.id))
        .limit(filter.limit),
    /** One event as lists and the live stream show it: its fields only when they are at most SHOWN_BYTES. */
    listedEvent: () =>
      db
        .select({
          seq: events.seq,
          id: events.id,
          type: events.type,
          deviceSn: events.deviceSn,
          receivedAt: events.receivedAt,
          hasImage: events.hasImage,
          fieldsBytes: sql<number>`octet_length(${events.fields})`,
          fields: sql<string | null>`case when octet_length(${events.fields}) <= ${SHOWN_BYTES} then ${events.fields} end`,
        })
        .from(events)
        .where(eq(events.seq, sql.placeholder('seq'))),
    /** An event's position and whether it has an image, without its fields. */
    eventKey: () =>
      db
        .select({ seq: events.seq, hasImage: events.hasImage })
        .from(events)
        .where(eq(events.id, sql.placeholder('id'))),
    /** One command as the list shows it: its body and its reply each only when it is at most SHOWN_BYTES. */
    listedCommand: () =>
      db
        .select({
          id: commands.id,
          deviceSn: commands.deviceSn,
          cmd: commands.cmd,
          status: commands.status,
          error: commands.error,
          createdAt: commands.createdAt,
          publishedAt: commands.publishedAt,
          repliedAt: commands.repliedAt,
          expiresAt: commands.expiresAt,
          batch: commands.batch,
          actor: commands.actor,
          bodyBytes: sql<number>`octet_length(${commands.body})`,
          body: sql<string | null>`case when octet_length(${commands.body}) <= ${SHOWN_BYTES} then ${commands.body} end`,
          replyBytes: sql<number | null>`octet_length(${commands.reply})`,
          reply: sql<string | null>`case when octet_length(${commands.reply}) <= ${SHOWN_BYTES} then ${commands.reply} end`,
        })
        .from(commands)
        .where(eq(commands.id, sql.placeholder('id'))),
    /** One delivery with its event's id and type. */
    delivery: () =>
      db
        .select({
          seq: deliveries.seq,
          eventId: events.id,
          eventType: events.type,
          endpointId: deliveries.endpointId,
          status: deliveries.status,
          attempts: deliveries.attempts,
          nextAttemptAt: deliveries.nextAttemptAt,
          lastAttemptAt: deliveries.lastAttemptAt,
          lastStatus: deliveries.lastStatus,
          lastError: deliveries.lastError,
          createdAt: deliveries.createdAt,
          deliveredAt: deliveries.deliveredAt,
        })
        .from(deliveries)
        .innerJoin(events, eq(events.seq, deliveries.eventSeq))
        .where(eq(deliveries.seq, sql.placeholder('seq'))),
    /** facegate_outbox_depth: a row per endpoint, kept by triggers (drizzle/0004_outbox_depth_triggers.sql). */
    outboxDepth: () => db.select({ endpointId: outboxDepth.endpointId, pending: outboxDepth.pending }).from(outboxDepth),
  };
}
