import { and, eq, gte, inArray, lt, notExists, sql } from 'drizzle-orm';
import type { Db } from './open.ts';
import { commands, deliveries, endpoints, events, images, rejects } from './schema.ts';

// The writer thread's half of webhook delivery: deliveries are created in the
// same transaction as their event, and every attempt's outcome is recorded.

export interface EndpointRow {
  id: string;
  url: string;
  secret: string | null;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
}

export type OutboxJob =
  | { kind: 'endpoint'; endpoint: EndpointRow; at: number }
  | { kind: 'endpoint-delete'; id: string }
  | { kind: 'endpoint-state'; id: string; enabled: boolean; reason: string | null }
  | {
      kind: 'attempt';
      seq: number;
      at: number;
      status: number | null;
      error: string | null;
      outcome: 'delivered' | 'retry' | 'dead' | 'gone';
      nextAttemptAt: number;
    }
  | { kind: 'retry-delivery'; seq: number; at: number }
  | { kind: 'redeliver-since'; endpointId: string; since: number; at: number }
  /** Retention: deletes up to `limit` of what is older than `before`. */
  | { kind: 'purge'; before: number; limit: number };

export function createOutbox(db: Db) {
  let subscribers: { id: string; types: Set<string> }[] = [];
  const load = () => {
    subscribers = db
      .select({ id: endpoints.id, eventTypes: endpoints.eventTypes })
      .from(endpoints)
      .all()
      .map((row) => ({ id: row.id, types: new Set(JSON.parse(row.eventTypes) as string[]) }));
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

  /** One pending delivery per endpoint that takes this type, disabled ones included (theirs wait). */
  function enqueue(eventSeq: number, type: string, at: number): void {
    for (const endpoint of subscribers) {
      if (endpoint.types.has(type)) insertDelivery.run({ eventSeq, endpointId: endpoint.id, at });
    }
  }

  function apply(job: OutboxJob): number {
    switch (job.kind) {
      case 'endpoint': {
        const { endpoint } = job;
        const row = { ...endpoint, eventTypes: JSON.stringify(endpoint.eventTypes) };
        db.insert(endpoints)
          .values({ ...row, createdAt: job.at })
          .onConflictDoUpdate({ target: endpoints.id, set: row })
          .run();
        load();
        return 1;
      }
      case 'endpoint-delete': {
        db.delete(deliveries).where(eq(deliveries.endpointId, job.id)).run();
        const changes = db.delete(endpoints).where(eq(endpoints.id, job.id)).run().changes;
        load();
        return changes;
      }
      case 'endpoint-state':
        return db.update(endpoints).set({ enabled: job.enabled, disabledReason: job.reason }).where(eq(endpoints.id, job.id)).run().changes;
      case 'attempt': {
        const status = job.outcome === 'delivered' ? 'delivered' : job.outcome === 'dead' ? 'dead' : 'pending';
        return recordAttempt.run({
          seq: job.seq,
          status,
          at: job.at,
          httpStatus: job.status,
          error: job.error,
          nextAttemptAt: job.nextAttemptAt,
          deliveredAt: job.outcome === 'delivered' ? job.at : null,
        }).changes;
      }
      case 'retry-delivery':
        return db
          .update(deliveries)
          .set({ status: 'pending', nextAttemptAt: job.at })
          .where(and(eq(deliveries.seq, job.seq), eq(deliveries.status, 'dead')))
          .run().changes;
      case 'redeliver-since': {
        const endpoint = subscribers.find((e) => e.id === job.endpointId);
        if (!endpoint || endpoint.types.size === 0) return 0;
        const since = and(gte(events.receivedAt, job.since), inArray(events.type, [...endpoint.types]));
        const matching = db.select({ seq: events.seq }).from(events).where(since).all();
        for (const { seq } of matching) insertDelivery.run({ eventSeq: seq, endpointId: endpoint.id, at: job.at });
        // Those that existed already go back to the queue too, delivered or dead.
        db.update(deliveries)
          .set({ status: 'pending', nextAttemptAt: job.at, deliveredAt: null })
          .where(and(eq(deliveries.endpointId, endpoint.id), inArray(deliveries.eventSeq, sql`(select ${events.seq} from ${events} where ${since})`)))
          .run();
        return matching.length;
      }
      case 'purge':
        return purge(job.before, job.limit);
    }
  }

  /**
   * The oldest events past retention, their images and finished deliveries,
   * and old rejects and commands. An event that a delivery still waits for is kept until
   * it is delivered, dead or its endpoint removed: retention never loses an
   * event the backend has not had. Not so for an endpoint that is disabled:
   * nothing is sent to it, and its waiting deliveries would keep face images
   * for ever; they go with their events.
   */
  function purge(before: number, limit: number): number {
    const old = db
      .select({ seq: events.seq })
      .from(events)
      .where(
        and(
          lt(events.receivedAt, before),
          notExists(
            db
              .select({ one: sql`1` })
              .from(deliveries)
              .innerJoin(endpoints, eq(endpoints.id, deliveries.endpointId))
              .where(and(eq(deliveries.eventSeq, events.seq), eq(deliveries.status, 'pending'), eq(endpoints.enabled, true))),
          ),
        ),
      )
      .orderBy(events.seq)
      .limit(limit)
      .all()
      .map((row) => row.seq);
    if (old.length > 0) {
      db.delete(images).where(inArray(images.eventSeq, old)).run();
      db.delete(deliveries).where(inArray(deliveries.eventSeq, old)).run();
      db.delete(events).where(inArray(events.seq, old)).run();
    }
    const oldRejects = db.select({ seq: rejects.seq }).from(rejects).where(lt(rejects.receivedAt, before)).limit(limit).all().map((row) => row.seq);
    if (oldRejects.length > 0) db.delete(rejects).where(inArray(rejects.seq, oldRejects)).run();
    // Commands carry names and enrolment photos too.
    const oldCommands = db.select({ id: commands.id }).from(commands).where(lt(commands.createdAt, before)).limit(limit).all().map((row) => row.id);
    if (oldCommands.length > 0) db.delete(commands).where(inArray(commands.id, oldCommands)).run();
    return old.length + oldRejects.length + oldCommands.length;
  }

  return { enqueue, apply, reload: load };
}
