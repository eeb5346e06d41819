import {
  ABOUT_DELIVERY,
  brokerDropsEvent,
  clockSkewEvent,
  deadDeliveryEvent,
  endpointDisabledEvent,
  type NewEvent,
  presenceEvent,
  type StoredEvent,
} from '../../events/events.ts';
import { type IngestPolicy, type Interpretation, interpret, type NewReject, type Outcome, outcomeOf, rejected } from '../../ingest/interpret.ts';
import { withoutPassword } from '../../lib/secrets.ts';
import { DEFAULT_PERSON_COMMANDS } from '../../people/person-commands.ts';
import type { RejectReason } from '../../protocol/uplink.ts';
import { type Accepting, mayHold } from '../command-text.ts';
import { drizzleEntry } from '../drizzle.ts';
import { createRejectGate, type RejectGate } from '../reject-gate.ts';
import { createSkewReport } from '../skew-report.ts';
import { type Job, type JobKind, type JobResult, type JobResults, SAMPLE_BYTES } from '../store.ts';
import { createCommandRows } from './command-rows.ts';
import type { Db } from './open.ts';
import { createOutbox, purgeQueries } from './outbox.ts';
import { createPersonRows, type PersonRows } from './person-rows.ts';
import { events, images, rejects, terminals, tokens } from './schema.ts';
import type { SegmentWriter } from './segment-writer.ts';
import { createTerminalStore } from './terminals.ts';

const { eq, sql } = drizzleEntry('drizzle-orm');

// Every job of the store (store.ts) applied to the database, in the writer
// thread. A batch of jobs is applied in one transaction (group commit).

/** A job's result, or the error its write is rejected with: one bad job fails alone. */
export type JobOutcome = { ok: JobResult } | { failed: string };

/**
 * SQLite's errors of the database or its disk rather than of one job's data:
 * a lock held elsewhere, a full, failing or read-only disk, a damaged file;
 * and the same of the disk met writing an image segment (segment-writer.ts).
 * Every job of a batch would meet them again.
 */
const DATABASE_ERROR = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CORRUPT|CANTOPEN|NOTADB|NOMEM|PROTOCOL|PERM|AUTH)|^E(NOSPC|IO|ROFS|DQUOT)$/;
const isDatabaseError = (err: unknown) => DATABASE_ERROR.test(String((err as { code?: unknown } | null)?.code));
const failure = (err: unknown) => ({ failed: err instanceof Error ? err.message : String(err) });

/**
 * Rejects that name no serial the bridge knows: they share one bucket of the
 * gate, so a flood of made-up serials does not bring a burst of rows with each.
 */
const UNKNOWN_SERIAL: ReadonlySet<RejectReason> = new Set(['unknown_device', 'terminal_limit']);

export function createJobRunner(db: Db, segments: SegmentWriter, policy: IngestPolicy & Accepting, gate: RejectGate = createRejectGate()) {
  /** About what the jobs applied so far added to the WAL beyond a page each, when that is much more: the writer checkpoints by it. */
  let walBytes = 0;
  /** Image bytes the batch's transactions wrote to their segment rather than to the WAL. */
  let imageBytes = 0;
  const outbox = createOutbox(db, (bytes) => (walBytes += bytes));
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
      person: sql.placeholder('person'),
    })
    // No RETURNING: SQLite runs it as a trigger, which gives every insert a
    // statement journal, a copy of each page it changes (README §Performance,
    // A record's CPU, function by function). The new seq is the rowid the
    // insert reports.
    .onConflictDoNothing()
    .prepare();
  const insertImage = db
    .insert(images)
    // The text is in the segment (schema.ts, images): the row says where.
    .values({
      eventSeq: sql.placeholder('eventSeq'),
      base64: '',
      segment: sql.placeholder('segment'),
      position: sql.placeholder('position'),
      length: sql.placeholder('length'),
    })
    .prepare();
  const nextSegment = purgeQueries(db).nextSegment.prepare();
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
  /** Stores an event and its deliveries (none to `except`: the endpoint an alert is about). */
  function store(event: NewEvent, except?: string): StoredEvent | undefined {
    // The placeholders named one by one: `{ ...event, hasImage }` made new hidden classes for every event on Node 20 (README §Performance, "The views' hidden classes").
    const inserted = insertEvent.run({
      id: event.id,
      type: event.type,
      deviceSn: event.deviceSn,
      receivedAt: event.receivedAt,
      fields: event.fields,
      hasImage: event.image !== undefined ? 1 : 0,
      person: event.person ?? null,
    });
    if (inserted.changes === 0) return undefined; // already stored: a retransmission
    const seq = Number(inserted.lastInsertRowid);
    // Appended now, written to its segment just before this transaction's COMMIT (transaction()).
    if (event.image !== undefined) insertImage.run({ eventSeq: seq, ...segments.append(event.image) });
    outbox.enqueue(seq, event.type, event.receivedAt, except);
    return { seq, id: event.id, type: event.type, deviceSn: event.deviceSn, receivedAt: event.receivedAt };
  }
  // Each tells the other: person commands are commands (command-rows.ts), and what becomes of one is its person's sync state.
  let personRows: PersonRows | undefined;
  const commandRows = createCommandRows(
    db,
    store,
    policy.replyWindowMs,
    {
      published: (id, at) => personRows?.published(id, at),
      failed: (id, at) => personRows?.failed(id, at),
      interrupted: (ids) => personRows?.interrupted(ids),
      replied: (id, sn, reply, at) => personRows?.replied(id, sn, reply, at) ?? [],
      unanswered: (id, at) => personRows?.unanswered(id, at) ?? [],
    },
    policy.replica ?? null,
  );
  personRows = createPersonRows(
    db,
    store,
    policy.personCommands ?? DEFAULT_PERSON_COMMANDS,
    (command) => commandRows.queue(command, policy.replyField),
    segments.zero,
  );
  const people = personRows;
  /** A secure-delete job ran in this batch: the WAL is copied back and emptied after its commit (README §People on the terminals, erase). */
  let erased = false;
  /** A retention step ran in this batch: once it is committed, the segments no row refers to any more are unlinked. */
  let purged = false;
  const skewReport = createSkewReport();

  /**
   * Keeps a malformed message, or one malformed record of it, as a row, if
   * the gate lets it (README §Malformed messages): its first SAMPLE_BYTES.
   * Returns whether it did. Every reject passes here, whatever its kind.
   */
  function keepReject(message: { sn: string; topic: string; receivedAt: number }, reject: NewReject): boolean {
    if (!gate.keep(UNKNOWN_SERIAL.has(reject.reason) ? undefined : message.sn)) return false;
    // A record is written out only once it is kept: a flood of malformed records costs no more than counting them.
    const kept = 'record' in reject ? Buffer.from(JSON.stringify(reject.record)) : reject.payload;
    const sample = Buffer.from(kept.buffer, kept.byteOffset, Math.min(kept.length, SAMPLE_BYTES));
    insertReject.run({
      receivedAt: message.receivedAt,
      topic: message.topic,
      deviceSn: message.sn,
      reason: reject.reason,
      detail: reject.detail,
      size: 'record' in reject ? kept.length : reject.size,
      // Latin-1 keeps every byte visible even when the payload is not UTF-8.
      sample: sample.toString('latin1'),
    });
    return true;
  }

  /** Stores what a message gave: its events (a retransmission's are already there) and its rejects, as far as the gate lets. */
  function keep(message: { sn: string; topic: string; receivedAt: number; payload?: Uint8Array; hold?: boolean }, meaning: Interpretation): Outcome {
    const { events, rejects, clockSkew } = meaning;
    // A reply to a command waiting for one is its command.replied event, not a device.message (README §Commands with replies).
    const reply = meaning.reply && events.length === 1 ? commandRows.correlate(message.sn, message.receivedAt, meaning.reply, events[0]) : undefined;
    // README §Running several replicas: a reply faster than the record of its command's publish is given back, to come again once it is recorded.
    if (!reply && mayHold(message, meaning.reply, events) && commandRows.queuedFor(message.sn, message.receivedAt, meaning.reply))
      // A copy: the payload is a view of shared memory that later payloads are written into (writer.ts, payload-ring.ts).
      return outcomeOf(meaning, { events: [], rejected: [], unkept: 0, held: message.payload?.slice() });
    const stored: StoredEvent[] = [];
    for (const event of reply ? [reply.event] : events) {
      const row = store(event);
      if (row) stored.push(row);
    }
    // A reply's person events were stored while it was matched, before its own event: in order of seq, as the live stream sends them.
    if (reply) stored.unshift(...reply.people);
    if (clockSkew && stored.length > 0 && skewReport.due(message.sn, message.receivedAt)) {
      const row = store(clockSkewEvent(message.sn, clockSkew.seconds, clockSkew.recordTime, message.receivedAt));
      if (row) stored.push(row);
    }
    let kept = 0;
    for (const reject of rejects) kept += Number(keepReject(message, reject));
    return outcomeOf(meaning, { events: stored, rejected: rejects.map((r) => r.reason), unkept: rejects.length - kept, replied: reply?.replied });
  }

  const apply: { [K in JobKind]: (job: Extract<Job, { kind: K }>) => JobResults[K] } = {
    uplink: (job) => keep(job, interpret(job, policy)),
    reject: (job) => keep(job, rejected(job.reject)),
    presence(job) {
      const stored: StoredEvent[] = [];
      for (const flip of job.flips) {
        // A terminal seen for the first time gets everyone meant for every terminal (README §People on the terminals).
        const learned = !people.known(flip.sn);
        setOnline.run({ sn: flip.sn, online: flip.online ? 1 : 0, at: flip.at, lastSeenAt: flip.lastSeenAt });
        if (learned) people.learned(flip.sn, flip.at);
        const row = store(presenceEvent(flip.sn, flip.online, flip.at, flip.lastSeenAt));
        if (row) stored.push(row);
      }
      return { events: stored };
    },
    seen(job) {
      for (const [sn, at] of job.lastSeen) markSeen.run({ sn, at });
    },
    register(job) {
      for (const sn of job.serials) {
        const learned = !people.known(sn);
        register.run({ sn });
        if (learned) people.learned(sn, Date.now());
      }
    },
    commands: commandRows.accept,
    'commands-published': commandRows.published,
    'commands-failed': commandRows.failed,
    'commands-interrupted': commandRows.interrupted,
    'command-sweep': commandRows.sweep,
    endpoint(job) {
      outbox.upsertEndpoint(job);
    },
    'endpoint-delete': outbox.deleteEndpointStep,
    'endpoint-state'(job) {
      const { changed, disabled } = outbox.setEndpointState(job);
      // README §Alerts in chat apps: a 410 disabled it; the alert goes to the other endpoints.
      const row = disabled && store(endpointDisabledEvent(job.id, withoutPassword(disabled.url), 'gone', Date.now()), job.id);
      return { changed, events: row ? [row] : [] };
    },
    attempt(job) {
      const dead = outbox.recordOutcome(job);
      // Not for an alert about a delivery or an endpoint: two failing endpoints would feed each other.
      if (!dead || ABOUT_DELIVERY.has(dead.eventType)) return { events: [] };
      const row = store(deadDeliveryEvent(dead, job.at), dead.endpointId);
      return { events: row ? [row] : [] };
    },
    'broker-drops'(job) {
      const row = store(brokerDropsEvent(job.dropped, job.source, job.sent, job.at));
      return { events: row ? [row] : [] };
    },
    'retry-delivery': outbox.retryDelivery,
    'redeliver-since': outbox.redeliverStep,
    purge(job) {
      purged = true;
      const started = performance.now();
      const { removed, more, after } = outbox.purge(job);
      return { removed, more, after, ms: performance.now() - started };
    },
    forget(job) {
      people.forgotten(job.serials);
      return { removed: terminalStore.forget(job.serials) };
    },
    'terminal-label': (job) => ({ changed: terminalStore.label(job.sn, job.label) }),
    // README §Tokens and roles: a name is one token's; a second with it adds nothing.
    'token-add': (job) => ({ added: db.insert(tokens).values(job.token).onConflictDoNothing().run().changes > 0 }),
    'token-delete': (job) => ({ removed: db.delete(tokens).where(eq(tokens.id, job.id)).run().changes > 0 }),
    'forget-silent'(job) {
      const forgotten = terminalStore.forgetSilent(job.before, job.limit);
      if (forgotten.length > 0) people.forgotten(forgotten);
      return { forgotten };
    },
    'person-put': people.put,
    'person-delete': people.remove,
    'person-retry': people.retry,
    'person-send': people.send,
    'person-erase'(job) {
      // Deleted content is overwritten, not only unlinked: no byte of a photo or an image stays in a free page.
      db.$client.pragma('secure_delete = ON');
      try {
        erased = true;
        return people.erase(job);
      } finally {
        db.$client.pragma('secure_delete = OFF');
      }
    },
  };

  function applyOne(job: Job): JobResult {
    return (apply[job.kind] as (job: Job) => JobResult)(job);
  }

  /**
   * Applies jobs in one transaction: all of them commit, or the error is
   * thrown and none does. IMMEDIATE: the write lock is taken first, waiting
   * up to the busy timeout for a lock held elsewhere. A transaction that
   * began with a read (a reply looked up, a sweep's select) could not wait
   * for it: SQLite answers its first write at once with SQLITE_BUSY.
   */
  function transaction<T>(run: () => T): T {
    try {
      return db.transaction(
        () => {
          const result = run();
          // README §What survives what: the images are on disk (synced with SQLITE_SYNC=full) before the COMMIT that records their rows.
          imageBytes += segments.flush();
          return result;
        },
        { behavior: 'immediate' },
      );
    } catch (err) {
      outbox.reload(); // the endpoints it cached may have been rolled back
      // Not written: their offsets are given again. Written and then not committed: unreferenced bytes, harmless.
      segments.discard();
      throw err;
    }
  }

  /** The image segments a committed row refers to. */
  function referencedSegments(): Set<number> {
    const referenced = new Set<number>();
    for (let after = -1; ; ) {
      const segment = nextSegment.get({ after })?.segment;
      if (segment === null || segment === undefined) return referenced;
      referenced.add(segment);
      after = segment;
    }
  }

  /**
   * Applies a batch in one transaction (group commit). When that throws, each
   * job is applied again in a transaction of its own: one bad job fails
   * alone and the others of its batch commit (README §What survives what).
   * Not when the error is the database's or the disk's: every job would meet
   * it, each after its own busy timeout, so the batch fails as a whole.
   */
  function applyBatch(jobs: Job[]): { outcomes: JobOutcome[]; walBytes: number; truncate: boolean; imageBytes: number } {
    imageBytes = 0;
    const result = applyEach(jobs);
    const truncate = erased;
    erased = false;
    if (purged) {
      purged = false;
      // After the commit (or its failure): a segment goes only once no committed row refers to it.
      try {
        segments.unlinkUnreferenced(referencedSegments());
      } catch {
        // The batch is committed whatever became of this: a segment not unlinked now is at the next retention step.
      }
    }
    return { ...result, truncate, imageBytes };
  }

  function applyEach(jobs: Job[]): { outcomes: JobOutcome[]; walBytes: number } {
    walBytes = 0;
    try {
      return { outcomes: transaction(() => jobs.map((job) => ({ ok: applyOne(job) }))), walBytes };
    } catch (err) {
      if (jobs.length === 1 || isDatabaseError(err)) return { outcomes: jobs.map(() => failure(err)), walBytes: 0 };
    }
    walBytes = 0;
    let broken: { failed: string } | undefined;
    const outcomes = jobs.map((job): JobOutcome => {
      if (broken) return broken;
      const committed = walBytes;
      try {
        return { ok: transaction(() => applyOne(job)) };
      } catch (err) {
        walBytes = committed; // rolled back: it wrote nothing that stays
        if (isDatabaseError(err)) broken = failure(err);
        return failure(err);
      }
    });
    return { outcomes, walBytes };
  }

  return { applyBatch };
}
