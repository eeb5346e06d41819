import { and, asc, count, desc, eq, gt, gte, inArray, lt, lte, min, or, sql } from 'drizzle-orm';
import { openDatabase, type Sync } from './open.ts';
import { commands, deliveries, endpoints, events, images, outboxDepth, terminals } from './schema.ts';

/**
 * The main thread's connection: reads only (the writer thread owns writes).
 * WAL gives it a consistent snapshot without waiting for a commit in progress.
 */
export function openReads(dataDir: string, sync: Sync) {
  const { sqlite, db } = openDatabase(dataDir, sync);
  sqlite.pragma('query_only = true');

  // The delivery workers ask these for every attempt: prepared once.
  const due = db
    .select({ seq: deliveries.seq, eventSeq: deliveries.eventSeq, attempts: deliveries.attempts })
    .from(deliveries)
    .where(
      and(
        eq(deliveries.endpointId, sql.placeholder('endpointId')),
        eq(deliveries.status, 'pending'),
        lte(deliveries.nextAttemptAt, sql.placeholder('now')),
      ),
    )
    .orderBy(asc(deliveries.nextAttemptAt))
    .limit(sql.placeholder('limit'))
    .prepare();
  const nextDue = db
    .select({ at: min(deliveries.nextAttemptAt) })
    .from(deliveries)
    .where(and(eq(deliveries.endpointId, sql.placeholder('endpointId')), eq(deliveries.status, 'pending')))
    .prepare();
  const event = db.select().from(events).where(eq(events.seq, sql.placeholder('seq'))).prepare();
  const image = db.select({ base64: images.base64 }).from(images).where(eq(images.eventSeq, sql.placeholder('seq'))).prepare();
  // The same text as bytes (a Buffer, off the JavaScript heap), for webhook bodies.
  const imageBytes = db
    .select({ bytes: sql<Buffer>`cast(${images.base64} as blob)` })
    .from(images)
    .where(eq(images.eventSeq, sql.placeholder('seq')))
    .prepare();

  const deliveryRows = db
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
    .$dynamic();

  return {
    db,
    terminals: () => db.select().from(terminals).all(),
    terminal: (sn: string) => db.select().from(terminals).where(eq(terminals.sn, sn)).get(),
    /** Commands newest first; the cursor is the (created_at, id) of the last one seen. */
    commands(filter: { device?: string; before?: { at: number; id: string }; limit: number }) {
      const { before } = filter;
      return db
        .select()
        .from(commands)
        .where(
          and(
            filter.device ? eq(commands.deviceSn, filter.device) : undefined,
            before ? or(lt(commands.createdAt, before.at), and(eq(commands.createdAt, before.at), lt(commands.id, before.id))) : undefined,
          ),
        )
        .orderBy(desc(commands.createdAt), desc(commands.id))
        .limit(filter.limit)
        .all();
    },
    endpoints: () => db.select().from(endpoints).orderBy(asc(endpoints.createdAt)).all(),
    endpoint: (id: string) => db.select().from(endpoints).where(eq(endpoints.id, id)).get(),
    /** Pending deliveries of an endpoint whose time has come, oldest first. */
    dueDeliveries: (endpointId: string, now: number, limit: number) => due.all({ endpointId, now, limit }),
    /** When the endpoint's next pending delivery is due, if it has one. */
    nextDueAt: (endpointId: string) => nextDue.get({ endpointId })?.at ?? undefined,
    event: (seq: number) => event.get({ seq }),
    /** Events of one terminal since a time, counted by type. */
    eventCounts: (sn: string, since: number) =>
      db
        .select({ type: events.type, count: count() })
        .from(events)
        .where(and(eq(events.deviceSn, sn), gte(events.receivedAt, since)))
        .groupBy(events.type)
        .all(),
    eventById: (id: string) => db.select().from(events).where(eq(events.id, id)).get(),
    /**
     * Events newest first (`before` a seq, the cursor), or oldest first
     * (`after` a seq, to replay a stream), with optional filters.
     */
    events(filter: { types?: string[]; device?: string; since?: number; until?: number; before?: number; after?: number; limit: number }) {
      const conditions = [
        filter.types?.length ? inArray(events.type, filter.types) : undefined,
        filter.device ? eq(events.deviceSn, filter.device) : undefined,
        filter.since !== undefined ? gte(events.receivedAt, filter.since) : undefined,
        filter.until !== undefined ? lt(events.receivedAt, filter.until) : undefined,
        filter.before !== undefined ? lt(events.seq, filter.before) : undefined,
        filter.after !== undefined ? gt(events.seq, filter.after) : undefined,
      ];
      return db
        .select()
        .from(events)
        .where(and(...conditions))
        .orderBy(filter.after !== undefined ? asc(events.seq) : desc(events.seq))
        .limit(filter.limit)
        .all();
    },
    image: (seq: number) => image.get({ seq })?.base64,
    imageBytes: (seq: number) => imageBytes.get({ seq })?.bytes,
    delivery: (seq: number) => deliveryRows.where(eq(deliveries.seq, seq)).get(),
    /** Deliveries newest first, `before` a seq (the cursor), with optional filters. */
    deliveries(filter: { status?: string; endpointId?: string; eventId?: string; before?: number; limit: number }) {
      const conditions = [
        filter.status ? eq(deliveries.status, filter.status as 'pending') : undefined,
        filter.endpointId ? eq(deliveries.endpointId, filter.endpointId) : undefined,
        filter.eventId ? eq(events.id, filter.eventId) : undefined,
        filter.before !== undefined ? lt(deliveries.seq, filter.before) : undefined,
      ];
      return deliveryRows
        .where(and(...conditions))
        .orderBy(desc(deliveries.seq))
        .limit(filter.limit)
        .all();
    },
    /**
     * Pending deliveries per endpoint, the backlog a receiver outage builds:
     * a row per endpoint that triggers keep (drizzle/0004_outbox_depth_triggers.sql),
     * whatever the backlog; counting it here walked every pending delivery at each scrape.
     */
    backlog: () => db.select({ endpointId: outboxDepth.endpointId, pending: outboxDepth.pending }).from(outboxDepth).all(),
    close: () => sqlite.close(),
  };
}

export type Reads = ReturnType<typeof openReads>;
