import { drizzleEntry } from '../drizzle.ts';
import type { PeopleFilter, Person, PersonSync, SyncStatus } from '../store.ts';
import { listQueries } from './list-queries.ts';
import { openDatabase, type Sync } from './open.ts';
import { commands, deliveries, endpoints, events, images, rejects, terminals, tokens } from './schema.ts';

const { and, asc, count, desc, eq, gt, gte, isNull, lt, lte, max, min, or, sql } = drizzleEntry('drizzle-orm');

export { SHOWN_BYTES } from './list-queries.ts';

/** The people's reads that run without a person's num, apart so that their plans can be checked (test/integration/query-plans.test.ts). */
export const PEOPLE_READ_SQL = {
  /**
   * Terminals with a row due: one probe of person_sync_queue per terminal
   * known (thousands), rather than a walk of every row due (millions after
   * a PUT to all of them). A serial not known is no terminal to send to.
   */
  dueSerials: `select sn from terminals t where t.sn > ? and exists
     (select 1 from person_sync s where s.device_sn = t.sn and s.status = 'pending' and s.next_attempt_at <= ?) order by t.sn limit ?`,
  /**
   * person_sync_due: the earliest row waiting out a backoff. Named: without
   * it SQLite took person_sync_status (status = 'pending'), every row waiting.
   */
  nextDueAfter: `select next_attempt_at as at from person_sync indexed by person_sync_due
     where status = 'pending' and next_attempt_at > ? order by next_attempt_at limit 1`,
} as const;

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
      and(eq(deliveries.endpointId, sql.placeholder('endpointId')), eq(deliveries.status, 'pending'), lte(deliveries.nextAttemptAt, sql.placeholder('now'))),
    )
    .orderBy(asc(deliveries.nextAttemptAt))
    .limit(sql.placeholder('limit'))
    .prepare();
  const nextDue = db
    .select({ at: min(deliveries.nextAttemptAt) })
    .from(deliveries)
    .where(and(eq(deliveries.endpointId, sql.placeholder('endpointId')), eq(deliveries.status, 'pending')))
    .prepare();
  const event = db
    .select()
    .from(events)
    .where(eq(events.seq, sql.placeholder('seq')))
    .prepare();
  // Where an image is (a segment), or, for a row of an earlier version, the
  // text itself as bytes (a Buffer, off the JavaScript heap), for webhook bodies.
  const imageColumns = {
    bytes: sql<Buffer>`cast(${images.base64} as blob)`,
    segment: images.segment,
    position: images.position,
    length: images.length,
  };
  const image = db
    .select(imageColumns)
    .from(images)
    .where(eq(images.eventSeq, sql.placeholder('seq')))
    .prepare();
  // A delivery's event with where its image is: one statement, not one for each.
  const eventAndImage = db
    .select({ event: events, image: imageColumns })
    .from(events)
    .leftJoin(images, eq(images.eventSeq, events.seq))
    .where(eq(events.seq, sql.placeholder('seq')))
    .prepare();

  // The dispatcher asks this for every few commands it publishes: prepared once.
  const queued = db
    .select({ id: commands.id, seq: commands.seq, body: commands.body, expiresAt: commands.expiresAt, person: commands.person })
    .from(commands)
    .where(
      and(
        eq(commands.status, 'queued'),
        eq(commands.deviceSn, sql.placeholder('sn')),
        gt(commands.seq, sql.placeholder('afterSeq')),
        or(isNull(commands.expiresAt), gt(commands.expiresAt, sql.placeholder('now'))),
      ),
    )
    .orderBy(asc(commands.seq))
    .limit(sql.placeholder('limit'))
    .prepare();

  // README §People on the terminals.
  const raw = sqlite;
  const PERSON = `num, name, fields, photo is not null as hasPhoto, hash, all_devices as allDevices, deleted, created_at as createdAt, updated_at as updatedAt, actor`;
  type PersonRead = Omit<Person, 'hasPhoto' | 'allDevices' | 'deleted'> & { hasPhoto: number; allDevices: number; deleted: number };
  const asPerson = <T extends PersonRead>(row: T) => ({ ...row, hasPhoto: row.hasPhoto === 1, allDevices: row.allDevices === 1, deleted: row.deleted === 1 });
  const person = raw.prepare<[string], PersonRead>(`select ${PERSON} from people where num = ?`);
  const personSyncs = raw.prepare<[string], PersonSync>(
    'select device_sn as deviceSn, op, status, code, message, updated_at as updatedAt from person_sync where num = ? order by device_sn',
  );
  const photo = raw.prepare<[string], { photo: Buffer | null }>('select photo from people where num = ?');
  const peopleAfter = raw.prepare<{ after: string; limit: number }, PersonRead>(`select ${PERSON} from people where num > @after order by num limit @limit`);
  // With device (and status): person_sync_device_status walks only that terminal's rows; with status alone, person_sync_status.
  const peopleOfDevice = raw.prepare<{ device: string; status: string | null; after: string; limit: number }, PersonRead & { status: SyncStatus }>(
    `select ${PERSON.replace(/(^|, )(\w)/g, '$1p.$2')}, s.status from person_sync s join people p on p.num = s.num
     where s.device_sn = @device and (@status is null or s.status = @status) and s.num > @after order by s.num limit @limit`,
  );
  const peopleInStatus = raw.prepare<{ status: string; after: string; limit: number }, PersonRead>(
    `select ${PERSON.replace(/(^|, )(\w)/g, '$1p.$2')} from people p where p.num in
       (select distinct num from person_sync where status = @status and num > @after order by num limit @limit) order by p.num`,
  );
  const dueSerials = raw.prepare<[string, number, number], { sn: string }>(PEOPLE_READ_SQL.dueSerials);
  const nextDueAfter = raw.prepare<[number], { at: number | null }>(PEOPLE_READ_SQL.nextDueAfter);
  // Kept by triggers (drizzle/0009_person_counts_triggers.sql): five rows, whatever the roster.
  const peopleCount = raw.prepare<[], { n: number }>(`select count as n from person_counts where key = 'people'`);
  const syncCounts = raw.prepare<[], { status: SyncStatus; count: number }>(`select key as status, count from person_counts where key <> 'people'`);

  const lists = listQueries(db);
  const listedEvent = lists.listedEvent().prepare();
  const listedCommand = lists.listedCommand().prepare();
  const eventKey = lists.eventKey().prepare();
  const delivery = lists.delivery().prepare();
  const depth = lists.outboxDepth().prepare();

  return {
    db,
    terminals: () => db.select().from(terminals).all(),
    terminal: (sn: string) => db.select().from(terminals).where(eq(terminals.sn, sn)).get(),
    /** Terminals in serial order after `after` (the cursor of GET /api/devices). */
    terminalsAfter: (after: string | undefined, limit: number) =>
      db
        .select()
        .from(terminals)
        .where(after === undefined ? undefined : gt(terminals.sn, after))
        .orderBy(asc(terminals.sn))
        .limit(limit)
        .all(),
    /** Keys of commands newest first, before a (created_at, id) position. */
    commandKeys: (filter: Parameters<typeof lists.commandKeys>[0]) => lists.commandKeys(filter).all(),
    /** One command as a list shows it: the body only up to SHOWN_BYTES. */
    listedCommand: (id: string) => listedCommand.get({ id }),
    command: (id: string) => db.select().from(commands).where(eq(commands.id, id)).get(),
    /** A terminal's queue (commands_queue): its queued commands after `afterSeq` whose ttl has not run out. */
    queuedCommands: (sn: string, afterSeq: number, now: number, limit: number) => queued.all({ sn, afterSeq, now, limit }),
    queuedSerials: () =>
      db
        .selectDistinct({ sn: commands.deviceSn })
        .from(commands)
        .where(eq(commands.status, 'queued'))
        .all()
        .map((row) => row.sn),
    queuedCount: () => db.select({ n: count() }).from(commands).where(eq(commands.status, 'queued')).get()?.n ?? 0,
    person: (num: string) => {
      const row = person.get(num);
      return row && asPerson(row);
    },
    personSyncs: (num: string) => personSyncs.all(num),
    personPhoto: (num: string) => photo.get(num)?.photo ?? undefined,
    people: ({ device, status, after = '', limit }: PeopleFilter) => {
      if (device !== undefined) return peopleOfDevice.all({ device, status: status ?? null, after, limit }).map(asPerson);
      if (status !== undefined) return peopleInStatus.all({ status, after, limit }).map(asPerson);
      return peopleAfter.all({ after, limit }).map(asPerson);
    },
    duePersonSerials: (now: number, limit: number, after: string) => dueSerials.all(after, now, limit).map((row) => row.sn),
    nextPersonDueAfter: (now: number) => nextDueAfter.get(now)?.at ?? undefined,
    peopleCount: () => peopleCount.get()?.n ?? 0,
    personSyncCounts: () => syncCounts.all(),
    endpoints: () => db.select().from(endpoints).orderBy(asc(endpoints.createdAt)).all(),
    endpointCount: () => db.select({ n: count() }).from(endpoints).get()?.n ?? 0,
    endpoint: (id: string) => db.select().from(endpoints).where(eq(endpoints.id, id)).get(),
    /** Pending deliveries of an endpoint whose time has come, oldest first. */
    dueDeliveries: (endpointId: string, now: number, limit: number) => due.all({ endpointId, now, limit }),
    /** When the endpoint's next pending delivery is due, if it has one. */
    nextDueAt: (endpointId: string) => nextDue.get({ endpointId })?.at ?? undefined,
    event: (seq: number) => event.get({ seq }),
    /** An event, and its image's row (null fields when it has none). */
    eventAndImage: (seq: number) => eventAndImage.get({ seq }),
    /** Events of one terminal since a time, counted by type. */
    eventCounts(sn: string, since: number) {
      // From the first seq received since then (lists.firstSeqFrom): a range of
      // events_device_seq, not the terminal's whole history.
      const from = lists.firstSeqFrom(since).get()?.seq;
      if (from === undefined) return [];
      return db
        .select({ type: events.type, count: count() })
        .from(events)
        .where(and(eq(events.deviceSn, sn), gte(events.seq, from)))
        .groupBy(events.type)
        .all();
    },
    eventById: (id: string) => db.select().from(events).where(eq(events.id, id)).get(),
    /** An event's position and whether it has an image, without reading its fields. */
    eventKey: (id: string) => eventKey.get({ id }),
    /** One event as lists and the live stream show it: the fields only up to SHOWN_BYTES. */
    listedEvent: (seq: number) => listedEvent.get({ seq }),
    /** The first and last seq stored, to bound a list's window. */
    eventBounds: () => ({ first: lists.firstEvent().get()?.seq ?? undefined, last: lists.lastEvent().get()?.seq ?? undefined }),
    firstSeqFrom: (at: number) => lists.firstSeqFrom(at).get()?.seq,
    lastSeqBefore: (at: number) => lists.lastSeqBefore(at).get()?.seq,
    eventSeqs: (filter: Parameters<typeof lists.eventSeqs>[0]) =>
      lists
        .eventSeqs(filter)
        .all()
        .map((row) => row.seq),
    eventSeqsAfter: (filter: Parameters<typeof lists.eventSeqsAfter>[0]) =>
      lists
        .eventSeqsAfter(filter)
        .all()
        .map((row) => row.seq),
    /** An image's row: its text when it holds it, else where its bytes are (sqlite-store.ts reads them). */
    image: (seq: number) => image.get({ seq }),
    delivery: (seq: number) => delivery.get({ seq }),
    /** The first and last delivery seq stored, to bound a list's window. */
    deliveryBounds: () => ({ first: lists.firstDelivery().get()?.seq ?? undefined, last: lists.lastDelivery().get()?.seq ?? undefined }),
    deliverySeqs: (filter: Parameters<typeof lists.deliverySeqs>[0]) =>
      lists
        .deliverySeqs(filter)
        .all()
        .map((row) => row.seq),
    /** Pending deliveries per endpoint, as the triggers keep them: a row per endpoint, whatever the backlog. */
    outboxDepth: () => depth.all(),
    tokens: () => db.select().from(tokens).orderBy(asc(tokens.name)).all(),
    reject: (seq: number) => db.select().from(rejects).where(eq(rejects.seq, seq)).get(),
    rejectBounds: () => {
      const row = db
        .select({ first: min(rejects.seq), last: max(rejects.seq) })
        .from(rejects)
        .get();
      return { first: row?.first ?? undefined, last: row?.last ?? undefined };
    },
    /** By the primary key, newest first; a terminal's checked row by row within the range the caller bounds (http/list.ts WINDOW). */
    rejectSeqs: ({ device, from, below, limit }: { device?: string; from: number; below: number; limit: number }) =>
      db
        .select({ seq: rejects.seq })
        .from(rejects)
        .where(and(gte(rejects.seq, from), lt(rejects.seq, below), device === undefined ? undefined : eq(rejects.deviceSn, device)))
        .orderBy(desc(rejects.seq))
        .limit(limit)
        .all()
        .map((row) => row.seq),
    close: () => sqlite.close(),
  };
}

export type Reads = ReturnType<typeof openReads>;
