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
import { createRejectGate, type RejectGate } from '../reject-gate.ts';
import { createSkewReport } from '../skew-report.ts';
import { type Job, type JobKind, type JobResult, type JobResults, type PresenceFlip, SAMPLE_BYTES } from '../store.ts';
import { createCommandRows } from './command-rows.ts';
import type { Sql } from './open.ts';
import { createOutbox } from './outbox.ts';
import { createPersonRows, type PersonRows } from './person-rows.ts';

// Every job of the store (store.ts) applied to PostgreSQL, on the main
// thread, each on the connection of its batch's transaction (committer.ts).
// What each job does is said in sqlite/jobs.ts; here is what differs when
// several replicas write to the same database.

/**
 * The key of the transaction lock a batch takes before it stores events or
 * queues commands. Their seqs come from a sequence, taken when a row is
 * inserted and visible when its transaction commits: two replicas committing
 * at once could make seq 11 visible before seq 10, and a live-stream client
 * resuming after 11 would never see event 10, nor a dispatcher that sent
 * command 11 send command 10 (both read "after the last seq seen"). Under
 * this lock, held until COMMIT, seqs are taken and made visible in the same
 * order. Group commit takes it once per batch, not per row.
 */
export const SEQ_LOCK = 0x66677371; // 'fgsq'

/** Jobs that never store an event nor queue a command: their batches need not wait for SEQ_LOCK. */
const UNORDERED: ReadonlySet<JobKind> = new Set<JobKind>([
  'seen',
  'register',
  'commands-published',
  'commands-failed',
  'commands-interrupted',
  'endpoint',
  'endpoint-delete',
  'retry-delivery',
  'redeliver-since',
  'purge',
  'forget',
  'token-add',
  'token-delete',
  'terminal-label',
  'forget-silent',
  'person-put',
  'person-delete',
  'person-retry',
  'person-erase',
]);

export const takesSeqs = (jobs: Job[]) => jobs.some((job) => !UNORDERED.has(job.kind));

/** As in SQLite: rejects naming no serial the bridge knows share one bucket of the gate. */
const UNKNOWN_SERIAL: ReadonlySet<RejectReason> = new Set(['unknown_device', 'terminal_limit']);

export function createJobRunner(policy: IngestPolicy & Accepting, gate: RejectGate = createRejectGate()) {
  let current: Sql | undefined;
  /** The SQL of the batch being applied. */
  const sql = (): Sql => {
    if (!current) throw new Error('no batch is being applied');
    return current;
  };
  const outbox = createOutbox(sql);
  const storeEvents = (list: NewEvent[], except?: string) => outbox.storeEvents(list, except);
  const store = async (event: NewEvent, except?: string) => (await outbox.storeEvents([event], except))[0];

  let personRows: PersonRows | undefined;
  const commandRows = createCommandRows(
    sql,
    storeEvents,
    policy.replyWindowMs,
    {
      published: async (id, at) => void (await personRows?.published(id, at)),
      failed: async (id, at) => void (await personRows?.failed(id, at)),
      interrupted: async (ids) => void (await personRows?.interrupted(ids)),
      replied: async (id, sn, reply, at) => (await personRows?.replied(id, sn, reply, at)) ?? [],
      unanswered: async (id, at) => (await personRows?.unanswered(id, at)) ?? [],
    },
    policy.replica ?? null,
  );
  personRows = createPersonRows(sql, storeEvents, policy.personCommands ?? DEFAULT_PERSON_COMMANDS, (command) => commandRows.queue(command, policy.replyField));
  const people = personRows;
  const skewReport = createSkewReport();

  async function keepReject(message: { sn: string; topic: string; receivedAt: number }, reject: NewReject): Promise<boolean> {
    if (!gate.keep(UNKNOWN_SERIAL.has(reject.reason) ? undefined : message.sn)) return false;
    const kept = 'record' in reject ? Buffer.from(JSON.stringify(reject.record)) : reject.payload;
    const sample = Buffer.from(kept.buffer, kept.byteOffset, Math.min(kept.length, SAMPLE_BYTES));
    await sql().run('insert into rejects (received_at, topic, device_sn, reason, detail, size, sample) values ($1, $2, $3, $4, $5, $6, $7)', [
      message.receivedAt,
      message.topic,
      message.sn,
      reject.reason,
      reject.detail.replaceAll('\0', '\uFFFD'),
      'record' in reject ? kept.length : reject.size,
      // Latin-1 keeps every byte visible even when the payload is not UTF-8; a NUL, which text cannot hold, shows as U+FFFD.
      sample.toString('latin1').replaceAll('\0', '\uFFFD'),
    ]);
    return true;
  }

  async function keep(
    message: { sn: string; topic: string; receivedAt: number; payload?: Uint8Array; hold?: boolean },
    meaning: Interpretation,
  ): Promise<Outcome> {
    const { events, rejects, clockSkew } = meaning;
    const correlate = async () =>
      meaning.reply && events.length === 1 ? await commandRows.correlate(message.sn, message.receivedAt, meaning.reply, events[0]) : undefined;
    let reply = await correlate();
    // As in SQLite (sqlite/jobs.ts): given back while a command it could answer is queued, its publish not recorded yet. Another
    // replica may record it between two statements of this transaction: then the second look pairs it.
    if (!reply && mayHold(message, meaning.reply, events) && (await commandRows.queuedFor(message.sn, message.receivedAt, meaning.reply))) {
      reply = await correlate();
      if (!reply) return outcomeOf(meaning, { events: [], rejected: [], unkept: 0, held: message.payload });
    }
    const stored = await storeEvents(reply ? [reply.event] : events);
    if (reply) stored.unshift(...reply.people);
    if (clockSkew && stored.length > 0 && skewReport.due(message.sn, message.receivedAt)) {
      const row = await store(clockSkewEvent(message.sn, clockSkew.seconds, clockSkew.recordTime, message.receivedAt));
      if (row) stored.push(row);
    }
    let kept = 0;
    for (const reject of rejects) kept += Number(await keepReject(message, reject));
    return outcomeOf(meaning, { events: stored, rejected: rejects.map((r) => r.reason), unkept: rejects.length - kept, replied: reply?.replied });
  }

  const asEvents = (row: StoredEvent | undefined) => ({ events: row ? [row] : [] });

  /**
   * A new row, or one conditional UPDATE that flips it: of two replicas hearing the same transition,
   * exactly one's write changes the row, and only that one stores device.online or device.offline.
   */
  async function presenceFlip(flip: PresenceFlip): Promise<StoredEvent | undefined> {
    const inserted = await sql().run('insert into terminals (sn, online, first_seen_at, last_seen_at) values ($1, $2, $3, $4) on conflict (sn) do nothing', [
      flip.sn,
      flip.online,
      flip.at,
      flip.lastSeenAt,
    ]);
    let flipped = inserted > 0;
    if (inserted > 0) await people.learned(flip.sn, flip.at);
    else {
      flipped =
        (await sql().run(
          `update terminals set online = $2, first_seen_at = coalesce(first_seen_at, $3), last_seen_at = coalesce($4, last_seen_at)
           where sn = $1 and online <> $2`,
          [flip.sn, flip.online, flip.at, flip.lastSeenAt],
        )) > 0;
      if (!flipped && flip.lastSeenAt !== null) {
        await sql().run('update terminals set last_seen_at = greatest(last_seen_at, $2) where sn = $1', [flip.sn, flip.lastSeenAt]);
      }
    }
    return flipped ? await store(presenceEvent(flip.sn, flip.online, flip.at, flip.lastSeenAt)) : undefined;
  }

  const apply: { [K in JobKind]: (job: Extract<Job, { kind: K }>) => Promise<JobResults[K]> } = {
    uplink: (job) => keep(job, interpret(job, policy)),
    reject: (job) => keep(job, rejected(job.reject)),
    async presence(job) {
      const stored: StoredEvent[] = [];
      for (const flip of job.flips) {
        const row = await presenceFlip(flip);
        if (row) stored.push(row);
      }
      return { events: stored };
    },
    async seen(job) {
      // One row per serial (the latest time), in serial order: two replicas' batches lock rows in the same order.
      const latest = new Map<string, number>();
      for (const [sn, at] of job.lastSeen) latest.set(sn, Math.max(at, latest.get(sn) ?? at));
      const serials = [...latest.keys()].sort();
      if (serials.length === 0) return;
      await sql().run(
        `insert into terminals (sn, first_seen_at, last_seen_at) select sn, at, at from unnest($1::text[], $2::bigint[]) as s(sn, at)
         on conflict (sn) do update set last_seen_at = greatest(coalesce(terminals.last_seen_at, 0), excluded.last_seen_at)`,
        [serials, serials.map((sn) => latest.get(sn))],
      );
    },
    async register(job) {
      for (const sn of job.serials) {
        const learned = !(await people.known(sn));
        await sql().run('insert into terminals (sn, registered) values ($1, true) on conflict (sn) do update set registered = true', [sn]);
        if (learned) await people.learned(sn, Date.now());
      }
    },
    commands: commandRows.accept,
    'commands-published': commandRows.published,
    'commands-failed': commandRows.failed,
    'commands-interrupted': commandRows.interrupted,
    'command-sweep': commandRows.sweep,
    endpoint: outbox.upsertEndpoint,
    'endpoint-delete': outbox.deleteEndpointStep,
    async 'endpoint-state'(job) {
      const { changed, disabled } = await outbox.setEndpointState(job);
      const row = disabled && (await store(endpointDisabledEvent(job.id, withoutPassword(disabled.url), 'gone', Date.now()), job.id));
      return { changed, events: row ? [row] : [] };
    },
    async attempt(job) {
      const dead = await outbox.recordOutcome(job);
      if (!dead || ABOUT_DELIVERY.has(dead.eventType)) return { events: [] };
      return asEvents(await store(deadDeliveryEvent(dead, job.at), dead.endpointId));
    },
    'broker-drops': async (job) => asEvents(await store(brokerDropsEvent(job.dropped, job.source, job.sent, job.at))),
    'retry-delivery': outbox.retryDelivery,
    'redeliver-since': outbox.redeliverStep,
    async purge(job) {
      const started = performance.now();
      const { removed, more, after } = await outbox.purge(job);
      return { removed, more, after, ms: performance.now() - started };
    },
    async forget(job) {
      await people.forgotten(job.serials);
      return { removed: job.serials.length === 0 ? 0 : await sql().run('delete from terminals where sn = any($1::text[])', [job.serials]) };
    },
    'terminal-label': async (job) => ({ changed: (await sql().run('update terminals set label = $2 where sn = $1', [job.sn, job.label])) > 0 }),
    'token-add': async ({ token }) => ({
      added:
        (await sql().run('insert into tokens (id, name, role, hash, created_at) values ($1, $2, $3, $4, $5) on conflict do nothing', [
          token.id,
          token.name,
          token.role,
          token.hash,
          token.createdAt,
        ])) > 0,
    }),
    'token-delete': async (job) => ({ removed: (await sql().run('delete from tokens where id = $1', [job.id])) > 0 }),
    async 'forget-silent'(job) {
      // The same terms as terminals_forgettable, so it is the index walked; SKIP LOCKED: a row another replica forgets now is its.
      const forgotten = (
        await sql().rows<{ sn: string }>(
          `delete from terminals where sn in (select sn from terminals where not registered and not online and last_seen_at < $1
             order by last_seen_at limit $2 for update skip locked) returning sn`,
          [job.before, job.limit],
        )
      ).map((row) => row.sn);
      if (forgotten.length > 0) await people.forgotten(forgotten);
      return { forgotten };
    },
    'person-put': people.put,
    'person-delete': people.remove,
    'person-retry': people.retry,
    'person-send': people.send,
    'person-erase': people.erase,
  };

  /**
   * Records stored together: their events and deliveries in ONE statement,
   * their images in the next (a round trip per record would be most of a
   * batch's commit), then split back to each
   * message in order, each event to the first that carries its id, as if
   * each had been applied after the other (a retransmission in the same
   * batch stores nothing).
   */
  async function keepRecords(group: readonly Plain[]): Promise<Outcome[]> {
    const stored = new Map((await storeEvents(group.flatMap((record) => record.meaning.events))).map((row) => [row.id, row]));
    return group.map(({ meaning: { events, rejects, clockSkew, ...meaning } }) => {
      const mine: StoredEvent[] = [];
      for (const event of events) {
        const row = stored.get(event.id);
        if (!row) continue;
        stored.delete(event.id);
        mine.push(row);
      }
      return { ...meaning, events: mine, rejected: [], unkept: 0 };
    });
  }

  /** Attempts that kill no delivery, recorded in ONE statement. */
  async function recordAttempts(group: readonly AttemptJob[]): Promise<JobResults['attempt'][]> {
    await outbox.recordOutcomes(group);
    return group.map(() => ({ events: [] }));
  }

  /**
   * Applies a batch's jobs in order on `on`, the connection of its
   * transaction. With `together`, consecutive plain records (an uplink whose
   * interpretation is events only: no reply to pair, no reject to keep, no
   * clock to report) are stored in one statement, and so are consecutive
   * attempts that kill no delivery; everything else one job at a time. A
   * job's failure is thrown as JobFailed naming the jobs it may be of:
   * several when they were applied together, which the committer then
   * applies again one at a time to find it (committer.ts).
   */
  async function applyJobs(on: Sql, jobs: readonly Job[], together: boolean): Promise<JobResult[]> {
    current = on;
    try {
      const results: JobResult[] = [];
      let i = 0;
      while (i < jobs.length) {
        const job = jobs[i];
        const records = together ? plainRecords(jobs, i) : [];
        const attempts = together && records.length === 0 ? livingAttempts(jobs, i) : [];
        const group = records.length > 1 ? records : attempts.length > 1 ? attempts : undefined;
        try {
          if (group === records) results.push(...(await keepRecords(records)));
          else if (group === attempts) results.push(...(await recordAttempts(attempts)));
          else if (records.length === 1) results.push(await keep(job as Extract<Job, { kind: 'uplink' }>, records[0].meaning));
          else results.push(await (apply[job.kind] as (job: Job) => Promise<JobResult>)(job));
        } catch (err) {
          throw new JobFailed(
            Array.from({ length: group?.length ?? 1 }, (_, n) => i + n),
            err,
          );
        }
        i += group?.length ?? 1;
      }
      return results;
    } finally {
      current = undefined;
    }
  }

  /** The plain records from `from` on, each interpreted once (an interpretation that throws is left to apply alone). */
  function plainRecords(jobs: readonly Job[], from: number): Plain[] {
    const group: Plain[] = [];
    for (let i = from; i < jobs.length; i++) {
      const job = jobs[i];
      if (job.kind !== 'uplink') break;
      let meaning: Interpretation;
      try {
        meaning = interpret(job, policy);
      } catch {
        break;
      }
      if (meaning.reply !== undefined || meaning.rejects.length > 0 || meaning.clockSkew !== undefined) {
        // Interpreted already: the one job applied alone keeps it rather than parse it again.
        if (group.length === 0) group.push({ meaning, alone: true });
        break;
      }
      group.push({ meaning, alone: false });
    }
    // One that must be applied alone is never part of a group.
    return group.length > 1 && group[group.length - 1].alone ? group.slice(0, -1) : group;
  }

  /** The attempts from `from` on that kill no delivery, each delivery once (a second attempt of one is applied after the first). */
  function livingAttempts(jobs: readonly Job[], from: number): AttemptJob[] {
    const group: AttemptJob[] = [];
    const seqs = new Set<number>();
    for (let i = from; i < jobs.length; i++) {
      const job = jobs[i];
      if (job.kind !== 'attempt' || job.outcome === 'dead' || seqs.has(job.seq)) break;
      seqs.add(job.seq);
      group.push(job);
    }
    return group;
  }

  return { applyJobs };
}

type AttemptJob = Extract<Job, { kind: 'attempt' }>;
/** An uplink's interpretation, computed once for the batch; `alone`: not plain, applied by itself. */
interface Plain {
  meaning: Interpretation;
  alone: boolean;
}

/** A job's own error (not the database's), with the jobs it may be of: one, or those applied together. */
export class JobFailed extends Error {
  constructor(
    readonly jobs: number[],
    readonly reason: unknown,
  ) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}
