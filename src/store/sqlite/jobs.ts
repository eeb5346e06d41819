import { sql } from 'drizzle-orm';
import { type EventPolicy, eventsFromUplink, type NewEvent, presenceEvent, type StoredEvent } from '../../events/events.ts';
import { type DecodeLimits, decodeUplink, type RejectReason } from '../../protocol/uplink.ts';
import type { Db } from './open.ts';
import { createOutbox, type OutboxJob, type PurgeCursor, WAL_BYTES_PER_ROW } from './outbox.ts';
import { createRejectGate, type RejectGate } from './reject-gate.ts';
import { commands, events, images, rejects, terminals } from './schema.ts';
import { createTerminalStore, type TerminalJob } from './terminals.ts';

// Everything the bridge writes, as plain data that can cross to the writer
// thread. A batch of jobs is applied in one transaction (group commit).

export type Job =
  | { kind: 'uplink'; sn: string; topic: string; payload: Uint8Array; receivedAt: number }
  | { kind: 'reject'; sn: string | null; topic: string; reason: RejectReason; detail: string; payload: Uint8Array; size: number; receivedAt: number }
  | { kind: 'presence'; sn: string; online: boolean; at: number; lastSeenAt: number | null }
  | { kind: 'seen'; lastSeen: [sn: string, at: number][] }
  | { kind: 'register'; serials: string[] }
  | { kind: 'command'; id: string; sn: string; body: string; status: 'published' | 'failed'; error: string | null; at: number }
  | OutboxJob
  | TerminalJob;

export interface JobResult {
  /** Events this job created (duplicates of stored ones are left out). */
  events: StoredEvent[];
  /** Why the message, or records of it, were malformed: one reason for each reject, kept as a row or not (each is counted). */
  rejected?: RejectReason[];
  /** How many of those the gate did not keep as rows (README §Malformed messages). */
  unkept?: number;
  /** The upLink's cmd, for the counters. */
  cmd?: string;
  /** Rows a change touched (outbox and terminal jobs). */
  changes?: number;
  /** Serials whose rows a forgetting job deleted. */
  forgotten?: string[];
  /** A purge step: where the next one goes on, whether one is needed, and how long this one took in the writer (ms, before the commit). */
  purge?: { after: PurgeCursor | undefined; more: boolean; ms: number };
  /** A job that goes in steps (outbox.ts ADMIN_STEP): whether another is needed, and after which seq. */
  step?: { more: boolean; after?: number };
  /** About what the job added to the WAL beyond a page, when that is much more: the writer checkpoints by it. */
  walBytes?: number;
}

/** A job that could not be applied, with the error its write is rejected with. */
export interface JobFailure {
  failed: string;
}
export type JobOutcome = JobResult | JobFailure;

const SAMPLE_BYTES = 2048;

/**
 * SQLite's errors of the database or its disk rather than of one job's data:
 * a lock held elsewhere, a full, failing or read-only disk, a damaged file.
 * Every job of a batch would meet them again.
 */
const DATABASE_ERROR = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CORRUPT|CANTOPEN|NOTADB|NOMEM|PROTOCOL|PERM|AUTH)/;
const isDatabaseError = (err: unknown) => DATABASE_ERROR.test(String((err as { code?: unknown } | null)?.code));
const failure = (err: unknown): JobFailure => ({ failed: err instanceof Error ? err.message : String(err) });

/**
 * Rejects that name no serial the bridge knows: they share one bucket of the
 * gate, so a flood of made-up serials does not bring a burst of rows with each.
 */
const UNKNOWN_SERIAL: ReadonlySet<RejectReason> = new Set(['unknown_device', 'terminal_limit']);

/** How the runner reads and turns upLink messages into events. */
export interface RunnerPolicy extends EventPolicy, DecodeLimits {}

/**
 * What stands for an upLink message that ended the writer thread on its own
 * (README §What survives what): a reject with its first 2 KB, so it is
 * acknowledged and never comes back.
 */
export function unprocessable({ sn, topic, payload, receivedAt }: Extract<Job, { kind: 'uplink' }>, detail: string): Job {
  return { kind: 'reject', sn, topic, reason: 'unprocessable', detail, payload: payload.subarray(0, SAMPLE_BYTES), size: payload.length, receivedAt };
}

export function createJobRunner(db: Db, policy: RunnerPolicy, gate: RejectGate = createRejectGate()) {
  const outbox = createOutbox(db);
  const terminalStore = createTerminalStore(db);
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

  /**
   * Keeps a malformed message, or with `record`, one malformed record of it,
   * as a row, if the gate lets it (README §Malformed messages). Returns
   * whether it did. Every reject passes here, whatever its kind.
   */
  function reject(
    job: { sn: string | null; topic: string; payload: Uint8Array; size?: number; receivedAt: number },
    reason: RejectReason,
    detail: string,
    record?: { value: unknown },
  ): boolean {
    if (!gate.keep(job.sn === null || UNKNOWN_SERIAL.has(reason) ? undefined : job.sn)) return false;
    const kept = record ? Buffer.from(JSON.stringify(record.value)) : job.payload;
    const sample = Buffer.from(kept.buffer, kept.byteOffset, Math.min(kept.length, SAMPLE_BYTES));
    insertReject.run({
      receivedAt: job.receivedAt,
      topic: job.topic,
      deviceSn: job.sn,
      reason,
      detail,
      size: record ? kept.length : (job.size ?? job.payload.length),
      // Latin-1 keeps every byte visible even when the payload is not UTF-8.
      sample: sample.toString('latin1'),
    });
    return true;
  }

  /** The result of a job that was, or had, rejects: each counted, those the gate did not keep too. */
  function rejected(result: JobResult, reasons: RejectReason[], kept: number): JobResult {
    return { ...result, rejected: reasons, ...(kept < reasons.length ? { unkept: reasons.length - kept } : {}) };
  }

  function apply(job: Job): JobResult {
    switch (job.kind) {
      case 'uplink': {
        const decoded = decodeUplink(job.payload, policy);
        if (!decoded.ok) return rejected({ events: [] }, [decoded.reason], Number(reject(job, decoded.reason, decoded.detail)));
        const stored: StoredEvent[] = [];
        for (const event of eventsFromUplink(job.sn, decoded.msg, job.receivedAt, policy)) {
          const row = store(event);
          if (row) stored.push(row);
        }
        const result = { events: stored, cmd: decoded.msg.cmd };
        const malformed = 'malformed' in decoded.msg ? decoded.msg.malformed : [];
        if (malformed.length === 0) return result;
        let kept = 0;
        for (const { record, detail } of malformed) kept += Number(reject(job, 'invalid_fields', detail, { value: record }));
        return rejected(result, malformed.map(() => 'invalid_fields' as const), kept);
      }
      case 'reject':
        return rejected({ events: [] }, [job.reason], Number(reject(job, job.reason, job.detail)));
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
      case 'forget':
      case 'forget-silent':
        return terminalStore.apply(job);
      case 'purge': {
        const started = performance.now();
        const step = outbox.purge(job);
        return { events: [], changes: step.removed, purge: { after: step.after, more: step.more, ms: performance.now() - started }, walBytes: step.walBytes };
      }
      default: {
        const applied = outbox.apply(job);
        return typeof applied === 'number'
          ? { events: [], changes: applied }
          : { events: [], changes: applied.changes, step: { more: applied.more, after: applied.after }, walBytes: applied.changes * WAL_BYTES_PER_ROW };
      }
    }
  }

  /** Applies jobs in one transaction: all of them commit, or the error is thrown and none does. */
  function transaction<T>(run: () => T): T {
    try {
      return db.transaction(run);
    } catch (err) {
      outbox.reload(); // the endpoints it cached may have been rolled back
      throw err;
    }
  }

  /**
   * Applies a batch in one transaction (group commit). When that throws, each
   * job is applied again in a transaction of its own: one bad job fails
   * alone and the others of its batch commit (README §What survives what).
   * Not when the error is the database's or the disk's: every job would meet
   * it, each after its own busy timeout, so the batch fails as a whole.
   */
  function applyBatch(jobs: Job[]): JobOutcome[] {
    try {
      return transaction(() => jobs.map(apply));
    } catch (err) {
      if (jobs.length === 1 || isDatabaseError(err)) return jobs.map(() => failure(err));
    }
    let broken: JobFailure | undefined;
    return jobs.map((job) => {
      if (broken) return broken;
      try {
        return transaction(() => apply(job));
      } catch (err) {
        if (isDatabaseError(err)) broken = failure(err);
        return failure(err);
      }
    });
  }

  return { applyBatch };
}
