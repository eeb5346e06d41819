import { sql } from 'drizzle-orm';
import { type EventPolicy, type EventType, eventsFromUplink, type NewEvent, presenceEvent } from '../events.ts';
import { type DecodeLimits, decodeUplink, type RejectReason } from '../protocol/uplink.ts';
import type { Db } from './open.ts';
import { createOutbox, type OutboxJob } from './outbox.ts';
import { commands, events, images, rejects, terminals } from './schema.ts';

// Everything the bridge writes, as plain data that can cross to the writer
// thread. A batch of jobs is applied in one transaction (group commit).

export type Job =
  | { kind: 'uplink'; sn: string; topic: string; payload: Uint8Array; receivedAt: number }
  | { kind: 'reject'; sn: string | null; topic: string; reason: RejectReason; detail: string; payload: Uint8Array; size: number; receivedAt: number }
  | { kind: 'presence'; sn: string; online: boolean; at: number; lastSeenAt: number | null }
  | { kind: 'seen'; lastSeen: [sn: string, at: number][] }
  | { kind: 'register'; serials: string[] }
  | { kind: 'command'; id: string; sn: string; body: string; status: 'published' | 'failed'; error: string | null; at: number }
  | OutboxJob;

export interface StoredEvent {
  seq: number;
  id: string;
  type: EventType;
  deviceSn: string;
  receivedAt: number;
}

export interface JobResult {
  /** Events this job created (duplicates of stored ones are left out). */
  events: StoredEvent[];
  /** Why the message, or records of it, were malformed and kept as rejects: one reason for each. */
  rejected?: RejectReason[];
  /** The upLink's cmd, for the counters. */
  cmd?: string;
  /** Rows a change touched (outbox jobs). */
  changes?: number;
}

const SAMPLE_BYTES = 2048;

/** How the runner reads and turns upLink messages into events. */
export interface RunnerPolicy extends EventPolicy, DecodeLimits {}

export function createJobRunner(db: Db, policy: RunnerPolicy) {
  const outbox = createOutbox(db);
  const insertEvent = db
    .insert(events)
    .values({
      id: sql.placeholder('id'),
      type: sql.placeholder('type'),
      deviceSn: sql.placeholder('deviceSn'),
      receivedAt: sql.placeholder('receivedAt'),
      fields: sql.placeholder('fields'),
      hasImage: sql.placeholder('hasImage'),
    })
    .onConflictDoNothing()
    .returning({ seq: events.seq })
    .prepare();
  const insertImage = db
    .insert(images)
    .values({ eventSeq: sql.placeholder('eventSeq'), base64: sql.placeholder('base64') })
    .prepare();
  const insertReject = db
    .insert(rejects)
    .values({
      receivedAt: sql.placeholder('receivedAt'),
      topic: sql.placeholder('topic'),
      deviceSn: sql.placeholder('deviceSn'),
      reason: sql.placeholder('reason'),
      detail: sql.placeholder('detail'),
      size: sql.placeholder('size'),
      sample: sql.placeholder('sample'),
    })
    .prepare();
  const markSeen = db
    .insert(terminals)
    .values({ sn: sql.placeholder('sn'), firstSeenAt: sql.placeholder('at'), lastSeenAt: sql.placeholder('at') })
    .onConflictDoUpdate({ target: terminals.sn, set: { lastSeenAt: sql`max(coalesce(${terminals.lastSeenAt}, 0), excluded.last_seen_at)` } })
    .prepare();
  const setOnline = db
    .insert(terminals)
    .values({ sn: sql.placeholder('sn'), online: sql.placeholder('online'), firstSeenAt: sql.placeholder('at'), lastSeenAt: sql.placeholder('lastSeenAt') })
    .onConflictDoUpdate({
      target: terminals.sn,
      set: {
        online: sql`excluded.online`,
        firstSeenAt: sql`coalesce(${terminals.firstSeenAt}, excluded.first_seen_at)`,
        lastSeenAt: sql`coalesce(excluded.last_seen_at, ${terminals.lastSeenAt})`,
      },
    })
    .prepare();
  const register = db
    .insert(terminals)
    .values({ sn: sql.placeholder('sn'), registered: true })
    .onConflictDoUpdate({ target: terminals.sn, set: { registered: true } })
    .prepare();
  const insertCommand = db
    .insert(commands)
    .values({
      id: sql.placeholder('id'),
      deviceSn: sql.placeholder('sn'),
      body: sql.placeholder('body'),
      status: sql.placeholder('status'),
      error: sql.placeholder('error'),
      createdAt: sql.placeholder('at'),
    })
    .prepare();

  function store(event: NewEvent): StoredEvent | undefined {
    const row = insertEvent.get({ ...event, hasImage: event.image !== undefined ? 1 : 0 });
    if (!row) return undefined; // already stored: a retransmission
    if (event.image !== undefined) insertImage.run({ eventSeq: row.seq, base64: event.image });
    outbox.enqueue(row.seq, event.type, event.receivedAt);
    return { seq: row.seq, id: event.id, type: event.type, deviceSn: event.deviceSn, receivedAt: event.receivedAt };
  }

  /** Keeps a malformed message, or with `part`, one malformed record of it. */
  function reject(
    job: { sn: string | null; topic: string; payload: Uint8Array; size?: number; receivedAt: number },
    reason: RejectReason,
    detail: string,
    part?: Uint8Array,
  ) {
    const kept = part ?? job.payload;
    const sample = Buffer.from(kept.buffer, kept.byteOffset, Math.min(kept.length, SAMPLE_BYTES));
    insertReject.run({
      receivedAt: job.receivedAt,
      topic: job.topic,
      deviceSn: job.sn,
      reason,
      detail,
      size: part ? part.length : (job.size ?? job.payload.length),
      // Latin-1 keeps every byte visible even when the payload is not UTF-8.
      sample: sample.toString('latin1'),
    });
  }

  function apply(job: Job): JobResult {
    switch (job.kind) {
      case 'uplink': {
        const decoded = decodeUplink(job.payload, policy);
        if (!decoded.ok) {
          reject(job, decoded.reason, decoded.detail);
          return { events: [], rejected: [decoded.reason] };
        }
        const stored: StoredEvent[] = [];
        for (const event of eventsFromUplink(job.sn, decoded.msg, job.receivedAt, policy)) {
          const row = store(event);
          if (row) stored.push(row);
        }
        const malformed = 'malformed' in decoded.msg ? decoded.msg.malformed : [];
        for (const { record, detail } of malformed) reject(job, 'invalid_fields', detail, Buffer.from(JSON.stringify(record)));
        return { events: stored, cmd: decoded.msg.cmd, rejected: malformed.length > 0 ? malformed.map(() => 'invalid_fields' as const) : undefined };
      }
      case 'reject':
        reject(job, job.reason, job.detail);
        return { events: [], rejected: [job.reason] };
      case 'presence': {
        setOnline.run({ sn: job.sn, online: job.online ? 1 : 0, at: job.at, lastSeenAt: job.lastSeenAt });
        const row = store(presenceEvent(job.sn, job.online, job.at, job.lastSeenAt));
        return { events: row ? [row] : [] };
      }
      case 'seen':
        for (const [sn, at] of job.lastSeen) markSeen.run({ sn, at });
        return { events: [] };
      case 'register':
        for (const sn of job.serials) register.run({ sn });
        return { events: [] };
      case 'command':
        insertCommand.run({ id: job.id, sn: job.sn, body: job.body, status: job.status, error: job.error, at: job.at });
        return { events: [] };
      default:
        return { events: [], changes: outbox.apply(job) };
    }
  }

  /** Applies a batch in one transaction; all of it commits or none does. */
  function applyBatch(jobs: Job[]): JobResult[] {
    try {
      return db.transaction(() => jobs.map(apply));
    } catch (err) {
      outbox.reload(); // the endpoints it cached may have been rolled back
      throw err;
    }
  }

  return { applyBatch };
}
