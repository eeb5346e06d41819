import type { DeadDelivery } from '../../events/events.ts';
import { drizzleEntry } from '../drizzle.ts';
import { pickPurged } from '../purge-step.ts';
import type { Job, JobResults, PurgeCursor } from '../store.ts';
import type { Db } from './open.ts';
import { commands, deliveries, endpoints, events, images, rejects } from './schema.ts';

const { and, asc, eq, gt, gte, inArray, lt, min, sql } = drizzleEntry('drizzle-orm');

// The writer thread's half of webhook delivery: deliveries are created in the
// same transaction as their event, and every attempt's outcome is recorded.

type JobOf<K extends Job['kind']> = Extract<Job, { kind: K }>;

/**
 * Rows an admin's change touches in one job: removing an endpoint with a
 * million deliveries, or redelivering a month, is many jobs in the writer's
 * queue, so ingest waits at most for one of them (README §HTTP API, webhooks).
 */
export const ADMIN_STEP = 2000;

export interface PurgeStep {
  removed: number;
  /** The last event looked at, in `events_received_at` order; the next step goes on after it. */
  after: PurgeCursor | undefined;
  /** Whether there may be more to purge: the step stopped at one of its bounds. */
  more: boolean;
}

/**
 * What deleting one row (an event with its deliveries and image, a reject, a
 * command) adds to the WAL, about: each touches pages of several indexes.
 * Measured: ~290 pages of 4 KB for 200 events with a delivery each. The
 * writer checkpoints by it; counted as one page, a purge of thousands grew
 * the WAL to tens of MB, and the one checkpoint that copied it all back held
 * the writer for a second.
 */
export const WAL_BYTES_PER_ROW = 8 * 1024;

/**
 * Events one purge step looks at, at most. A receiver outage of weeks leaves
 * a million old events that deliveries still wait for; each step looks at
 * this many of them and no more, so a step stays in the tens of milliseconds
 * however many are kept, and the purge walks past them step by step.
 */
export const PURGE_CANDIDATES = 1000;

/**
 * The purge's queries, apart so that their plans can be checked
 * (test/integration/query-plans.test.ts): each walks one index from a bound
 * or a cursor, and none scans events or deliveries.
 */
export function purgeQueries(db: Db) {
  return {
    /**
     * The next events past retention in `events_received_at` order (the
     * index holds (received_at, seq)), each with whether a pending delivery to
     * an enabled endpoint keeps it. That check looks the event's deliveries up
     * by `deliveries_event_endpoint` (an event has one per endpoint at most);
     * the unary `+` keeps SQLite from walking `deliveries_status` instead,
     * every pending delivery for every event.
     */
    candidates: (before: number, after: PurgeCursor | undefined, limit: number) =>
      db
        .select({
          seq: events.seq,
          at: events.receivedAt,
          // Spelled out: drizzle leaves column names unqualified here, and `seq` is a column of deliveries too.
          kept: sql<number>`exists (select 1 from deliveries where deliveries.event_seq = events.seq and +deliveries.status = 'pending' and deliveries.endpoint_id in (select id from endpoints where enabled))`,
        })
        .from(events)
        .where(and(lt(events.receivedAt, before), after ? sql`(${events.receivedAt}, ${events.seq}) > (${after.at}, ${after.seq})` : undefined))
        .orderBy(asc(events.receivedAt), asc(events.seq))
        .limit(limit),
    rejects: (before: number, limit: number) =>
      db.select({ seq: rejects.seq }).from(rejects).where(lt(rejects.receivedAt, before)).orderBy(asc(rejects.receivedAt)).limit(limit),
    commands: (before: number, limit: number) =>
      db.select({ id: commands.id }).from(commands).where(lt(commands.createdAt, before)).orderBy(asc(commands.createdAt)).limit(limit),
    images: (seqs: number[]) => db.delete(images).where(inArray(images.eventSeq, seqs)),
    deliveries: (seqs: number[]) => db.delete(deliveries).where(inArray(deliveries.eventSeq, seqs)),
    events: (seqs: number[]) => db.delete(events).where(inArray(events.seq, seqs)),
    /**
     * The first image segment after `after` that a row refers to: walked
     * from -1, the segments still referenced, one probe of images_segment
     * each (a segment per day: tens to hundreds), not a walk of the rows.
     */
    nextSegment: db
      .select({ segment: min(images.segment) })
      .from(images)
      .where(gt(images.segment, sql.placeholder('after'))),
  };
}

/** The statements of the jobs that go in steps (ADMIN_STEP), apart so that their plans can be checked. */
export function adminStepQueries(db: Db) {
  return {
    deleteDeliveriesOf: db.delete(deliveries).where(
      inArray(
        deliveries.seq,
        db
          .select({ seq: deliveries.seq })
          .from(deliveries)
          .where(eq(deliveries.endpointId, sql.placeholder('endpointId')))
          .limit(sql.placeholder('limit')),
      ),
    ),
    firstSeqFrom: db
      .select({ seq: events.seq })
      .from(events)
      .where(gte(events.receivedAt, sql.placeholder('at')))
      .orderBy(asc(events.receivedAt), asc(events.seq))
      .limit(1),
    eventsAfter: db
      .select({ seq: events.seq, type: events.type })
      .from(events)
      .where(sql`${events.seq} > ${sql.placeholder('after')}`)
      .orderBy(asc(events.seq))
      .limit(sql.placeholder('limit')),
    requeue: db
      .update(deliveries)
      .set({ status: 'pending', nextAttemptAt: sql`${sql.placeholder('at')}`, deliveredAt: null })
      .where(and(eq(deliveries.eventSeq, sql.placeholder('eventSeq')), eq(deliveries.endpointId, sql.placeholder('endpointId')))),
  };
}

/**
 * The outbox's jobs. Each that deletes or rewrites many rows reports them to
 * `wrote` (about WAL_BYTES_PER_ROW each), which the writer checkpoints by.
 */
export function createOutbox(db: Db, wrote: (walBytes: number) => void) {
  let subscribers: { id: string; types: Set<string> }[] = [];
  const load = () => {
    subscribers = db
      .select({ id: endpoints.id, eventTypes: endpoints.eventTypes })
      .from(endpoints)
      .all()
      .map((row) => ({ id: row.id, types: new Set<string>(row.eventTypes) }));
  };
  load();

  const insertDelivery = db
    .insert(deliveries)
    .values({
      eventSeq: sql.placeholder('eventSeq'),
      endpointId: sql.placeholder('endpointId'),
      status: 'pending',
      nextAttemptAt: sql.placeholder('at'),
      createdAt: sql.placeholder('at'),
    })
    .onConflictDoNothing()
    .prepare();

  const admin = adminStepQueries(db);
  const deleteDeliveriesOf = admin.deleteDeliveriesOf.prepare();
  const firstSeqFrom = admin.firstSeqFrom.prepare();
  const eventsAfter = admin.eventsAfter.prepare();
  const requeue = admin.requeue.prepare();

  // One for every webhook answered: prepared once, not built per call (set()
  // takes placeholders only inside sql``).
  const recordAttempt = db
    .update(deliveries)
    .set({
      status: sql`${sql.placeholder('status')}`,
      attempts: sql`${deliveries.attempts} + 1`,
      lastAttemptAt: sql`${sql.placeholder('at')}`,
      lastStatus: sql`${sql.placeholder('httpStatus')}`,
      lastError: sql`${sql.placeholder('error')}`,
      nextAttemptAt: sql`${sql.placeholder('nextAttemptAt')}`,
      deliveredAt: sql`${sql.placeholder('deliveredAt')}`,
    })
    .where(eq(deliveries.seq, sql.placeholder('seq')))
    .prepare();

  // What delivery.dead says of a delivery that gave up, read in the commit that records it.
  const deadDelivery = db
    .select({
      deliverySeq: deliveries.seq,
      endpointId: deliveries.endpointId,
      attempts: deliveries.attempts,
      lastStatus: deliveries.lastStatus,
      eventId: events.id,
      eventType: events.type,
    })
    .from(deliveries)
    .innerJoin(events, eq(events.seq, deliveries.eventSeq))
    .where(eq(deliveries.seq, sql.placeholder('seq')))
    .prepare();

  /**
   * One pending delivery per endpoint that takes this type, disabled ones
   * included (theirs wait); none to `except`, the endpoint an alert is about
   * (README §Alerts in chat apps).
   */
  function enqueue(eventSeq: number, type: string, at: number, except?: string): void {
    for (const endpoint of subscribers) {
      if (endpoint.types.has(type) && endpoint.id !== except) insertDelivery.run({ eventSeq, endpointId: endpoint.id, at });
    }
  }

  const queries = purgeQueries(db);

  /** An endpoint added, or changed: the deliveries it is given from now on follow. */
  function upsertEndpoint({ endpoint, at }: JobOf<'endpoint'>): void {
    db.insert(endpoints)
      .values({ ...endpoint, createdAt: at })
      .onConflictDoUpdate({ target: endpoints.id, set: endpoint })
      .run();
    load();
  }

  function deleteEndpointStep({ id }: JobOf<'endpoint-delete'>): JobResults['endpoint-delete'] {
    // The endpoint goes first, so nothing is enqueued for it while its deliveries go, a step at a time.
    const removed = db.delete(endpoints).where(eq(endpoints.id, id)).run().changes;
    if (removed > 0) load();
    const deleted = deleteDeliveriesOf.run({ endpointId: id, limit: ADMIN_STEP }).changes;
    wrote((removed + deleted) * WAL_BYTES_PER_ROW);
    return { more: deleted === ADMIN_STEP };
  }

  /** The endpoint's new state; `disabled`, its URL, when a 410 disabled it now (it was enabled): endpoint.disabled is made of it. */
  function setEndpointState({ id, enabled, reason }: JobOf<'endpoint-state'>): { changed: boolean; disabled?: { url: string } } {
    const before = db.select({ enabled: endpoints.enabled, url: endpoints.url }).from(endpoints).where(eq(endpoints.id, id)).get();
    const changed = db.update(endpoints).set({ enabled, disabledReason: reason }).where(eq(endpoints.id, id)).run().changes > 0;
    return before?.enabled && !enabled && reason === 'gone' ? { changed, disabled: { url: before.url } } : { changed };
  }

  /** Records an attempt; for one that made its delivery dead, what delivery.dead says of it. */
  function recordOutcome(job: JobOf<'attempt'>): DeadDelivery | undefined {
    const status = job.outcome === 'delivered' ? 'delivered' : job.outcome === 'dead' ? 'dead' : 'pending';
    recordAttempt.run({
      seq: job.seq,
      status,
      at: job.at,
      httpStatus: job.status,
      error: job.error,
      nextAttemptAt: job.nextAttemptAt,
      deliveredAt: job.outcome === 'delivered' ? job.at : null,
    });
    return job.outcome === 'dead' ? deadDelivery.get({ seq: job.seq }) : undefined;
  }

  function retryDelivery({ seq, at }: JobOf<'retry-delivery'>): JobResults['retry-delivery'] {
    const { changes } = db
      .update(deliveries)
      .set({ status: 'pending', nextAttemptAt: at })
      .where(and(eq(deliveries.seq, seq), eq(deliveries.status, 'dead')))
      .run();
    return { changed: changes > 0 };
  }

  function redeliverStep(job: JobOf<'redeliver-since'>): JobResults['redeliver-since'] {
    const endpoint = subscribers.find((e) => e.id === job.endpointId);
    if (!endpoint || endpoint.types.size === 0) return { deliveries: 0, more: false };
    // Received times follow seq, but across a clock step (the lists' windows assume the same):
    // from the first event received at or after `since`, every later one.
    const from = job.after ?? (firstSeqFrom.get({ at: job.since })?.seq ?? Number.MAX_SAFE_INTEGER) - 1;
    const rows = eventsAfter.all({ after: from, limit: ADMIN_STEP });
    let changes = 0;
    for (const { seq, type } of rows) {
      if (!endpoint.types.has(type)) continue;
      changes += 1;
      // New, or back to the queue, delivered or dead.
      if (insertDelivery.run({ eventSeq: seq, endpointId: endpoint.id, at: job.at }).changes === 0) {
        requeue.run({ eventSeq: seq, endpointId: endpoint.id, at: job.at });
      }
    }
    wrote(changes * WAL_BYTES_PER_ROW);
    return { deliveries: changes, more: rows.length === ADMIN_STEP, after: rows.at(-1)?.seq };
  }

  /**
   * One step of retention: the events past it, their images and finished
   * deliveries, and old rejects and commands. An event that a delivery still
   * waits for is kept until it is delivered, dead or its endpoint removed:
   * retention never loses an event the backend has not had. Not so for an
   * endpoint that is disabled: nothing is sent to it, and its waiting
   * deliveries would keep face images for ever; they go with their events
   * (README §Configuration, RETENTION_DAYS). A step looks at no more than
   * PURGE_CANDIDATES events and deletes no more than `limit` of each kind.
   */
  function purge(job: JobOf<'purge'>): PurgeStep {
    const { before, limit } = job;
    const candidates = queries.candidates(before, job.after, PURGE_CANDIDATES).all();
    const { old, after } = pickPurged(candidates, limit, job.after);
    if (old.length > 0) {
      queries.images(old).run();
      queries.deliveries(old).run();
      queries.events(old).run();
    }
    const oldRejects = queries
      .rejects(before, limit)
      .all()
      .map((row) => row.seq);
    if (oldRejects.length > 0) db.delete(rejects).where(inArray(rejects.seq, oldRejects)).run();
    // Commands carry names and enrolment photos too.
    const oldCommands = queries
      .commands(before, limit)
      .all()
      .map((row) => row.id);
    if (oldCommands.length > 0) db.delete(commands).where(inArray(commands.id, oldCommands)).run();
    const more = candidates.length === PURGE_CANDIDATES || old.length === limit || oldRejects.length === limit || oldCommands.length === limit;
    const removed = old.length + oldRejects.length + oldCommands.length;
    wrote(removed * WAL_BYTES_PER_ROW);
    return { removed, after, more };
  }

  return { enqueue, upsertEndpoint, deleteEndpointStep, setEndpointState, recordOutcome, retryDelivery, redeliverStep, purge, reload: load };
}
