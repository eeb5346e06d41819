import type pg from 'pg';
import type { EventRecord, EventType, ListedEvent } from '../../events/events.ts';
import {
  type ApiToken,
  type Command,
  type Delivery,
  type DeliveryStatus,
  type DueDelivery,
  type Endpoint,
  type EventFilter,
  type ListedCommand,
  type PeopleFilter,
  type Person,
  type PersonSync,
  type QueuedCommand,
  type Reject,
  type SeqBounds,
  type SeqRange,
  SHOWN_BYTES,
  type Store,
  type SyncStatus,
  type Terminal,
} from '../store.ts';
import { poolSql } from './open.ts';

// The store's reads on PostgreSQL, each on any connection of the pool: a
// statement sees what was committed when it began. The queries are those of
// sqlite/reads.ts and sqlite/list-queries.ts, through the same indexes.

type Reads = Omit<Store, 'write' | 'backlog' | 'healthy' | 'close'>;

const TERMINAL = 'sn, registered, first_seen_at as "firstSeenAt", last_seen_at as "lastSeenAt", online, label';
const EVENT = 'seq, id, type, device_sn as "deviceSn", received_at as "receivedAt", fields, has_image as "hasImage", person';
const E_EVENT = EVENT.replace(/(^|, )(\w)/g, '$1e.$2');
const COMMAND = `id, device_sn as "deviceSn", cmd, body, status, error, created_at as "createdAt", published_at as "publishedAt",
  replied_at as "repliedAt", expires_at as "expiresAt", batch, reply, actor, accepted_by as "acceptedBy"`;
const PERSON = `num, name, fields, photo is not null as "hasPhoto", hash, all_devices as "allDevices", deleted,
  created_at as "createdAt", updated_at as "updatedAt", actor`;
const P_PERSON = PERSON.replace(/(^|, |\n {2})(\w)/g, '$1p.$2');
const ENDPOINT = `id, url, secret, event_types as "eventTypes", enabled, disabled_reason as "disabledReason", created_at as "createdAt", format, lang`;
/** octet_length of text reads the whole value (PostgreSQL keeps no length apart): a list of huge messages costs more here than in SQLite. */
const shown = (column: string, as: string) =>
  `octet_length(${column}) as "${as}Bytes", case when octet_length(${column}) <= ${SHOWN_BYTES} then ${column} end as "${as}"`;

export function createReads(pool: pg.Pool): Reads {
  const sql = poolSql(pool);
  const seqs = async (text: string, values: unknown[]) => (await sql.rows<{ seq: number }>(text, values)).map((row) => row.seq);
  const image = async (seq: number) => (await sql.one<{ base64: string }>('select base64 from images where event_seq = $1', [seq]))?.base64;
  /** The conditions of an event filter, numbered from `n`. */
  const eventFilter = (filter: EventFilter, n: number) => {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.types?.length) {
      values.push(filter.types);
      where.push(`type = any($${n + values.length - 1}::text[])`);
    }
    if (filter.device !== undefined) {
      values.push(filter.device);
      where.push(`device_sn = $${n + values.length - 1}`);
    }
    return { where: where.map((w) => ` and ${w}`).join(''), values };
  };
  const bounds = async (table: string): Promise<SeqBounds> => {
    // Apart: each of min() and max() is one seek of the key.
    const first = await sql.one<{ seq: number | null }>(`select min(seq) as seq from ${table}`);
    const last = await sql.one<{ seq: number | null }>(`select max(seq) as seq from ${table}`);
    return { first: first?.seq ?? undefined, last: last?.seq ?? undefined };
  };

  return {
    terminals: () => sql.rows<Terminal>(`select ${TERMINAL} from terminals`),
    terminal: (sn) => sql.one<Terminal>(`select ${TERMINAL} from terminals where sn = $1`, [sn]),
    terminalsAfter: (after, limit) =>
      sql.rows<Terminal>(`select ${TERMINAL} from terminals where ($1::text is null or sn > $1) order by sn limit $2`, [after ?? null, limit]),
    async eventCounts(sn, since) {
      const from = (await sql.one<{ seq: number }>('select seq from events where received_at >= $1 order by received_at, seq limit 1', [since]))?.seq;
      if (from === undefined) return [];
      return sql.rows<{ type: EventType; count: number }>('select type, count(*) as count from events where device_sn = $1 and seq >= $2 group by type', [
        sn,
        from,
      ]);
    },

    async commandKeys(filter) {
      const where: string[] = [];
      const values: unknown[] = [];
      const add = (clause: (n: number) => string, ...value: unknown[]) => {
        const n = values.length + 1;
        values.push(...value);
        where.push(clause(n));
      };
      if (filter.device !== undefined) add((n) => `device_sn = $${n}`, filter.device);
      if (filter.status !== undefined) add((n) => `status = $${n}`, filter.status);
      if (filter.batch !== undefined) add((n) => `batch = $${n}`, filter.batch);
      if (filter.before) add((n) => `(created_at, id) < ($${n}, $${n + 1})`, filter.before.at, filter.before.id);
      values.push(filter.limit);
      return sql.rows<{ id: string; createdAt: number }>(
        `select id, created_at as "createdAt" from commands ${where.length ? `where ${where.join(' and ')}` : ''}
         order by created_at desc, id desc limit $${values.length}`,
        values,
      );
    },
    listedCommand: (id) =>
      sql.one<ListedCommand>(
        `select id, device_sn as "deviceSn", cmd, status, error, created_at as "createdAt", published_at as "publishedAt",
           replied_at as "repliedAt", expires_at as "expiresAt", batch, actor, ${shown('body', 'body')}, ${shown('reply', 'reply')}
         from commands where id = $1`,
        [id],
      ),
    command: (id) => sql.one<Command>(`select ${COMMAND} from commands where id = $1`, [id]),
    queuedCommands: (sn, afterSeq, now, limit) =>
      sql.rows<QueuedCommand>(
        `select id, seq, body, expires_at as "expiresAt", person from commands
         where status = 'queued' and device_sn = $1 and seq > $2 and (expires_at is null or expires_at > $3) order by seq limit $4`,
        [sn, afterSeq, now, limit],
      ),
    queuedSerials: async () => (await sql.rows<{ sn: string }>(`select distinct device_sn as sn from commands where status = 'queued'`)).map((r) => r.sn),
    queuedCount: async () => (await sql.one<{ n: number }>(`select count(*) as n from commands where status = 'queued'`))?.n ?? 0,

    person: (num) => sql.one<Person>(`select ${PERSON} from people where num = $1`, [num]),
    personSyncs: (num) =>
      sql.rows<PersonSync>(
        'select device_sn as "deviceSn", op, status, code, message, updated_at as "updatedAt" from person_sync where num = $1 order by device_sn',
        [num],
      ),
    personPhoto: async (num) => (await sql.one<{ photo: Buffer | null }>('select photo from people where num = $1', [num]))?.photo ?? undefined,
    people: ({ device, status, after = '', limit }: PeopleFilter) => {
      if (device !== undefined)
        return sql.rows<Person & { status: SyncStatus }>(
          `select ${P_PERSON}, s.status from person_sync s join people p on p.num = s.num
           where s.device_sn = $1 and ($2::text is null or s.status = $2) and s.num > $3 order by s.num limit $4`,
          [device, status ?? null, after, limit],
        );
      if (status !== undefined)
        return sql.rows<Person>(
          `select ${P_PERSON} from people p where p.num in
             (select distinct num from person_sync where status = $1 and num > $2 order by num limit $3) order by p.num`,
          [status, after, limit],
        );
      return sql.rows<Person>(`select ${PERSON} from people where num > $1 order by num limit $2`, [after, limit]);
    },
    duePersonSerials: async (now, limit, after) =>
      (
        await sql.rows<{ sn: string }>(
          `select sn from terminals t where t.sn > $3 and exists
             (select 1 from person_sync s where s.device_sn = t.sn and s.status = 'pending' and s.next_attempt_at <= $1) order by t.sn limit $2`,
          [now, limit, after],
        )
      ).map((row) => row.sn),
    nextPersonDueAfter: async (now) =>
      (
        await sql.one<{ at: number }>(
          `select next_attempt_at as at from person_sync where status = 'pending' and next_attempt_at > $1 order by next_attempt_at limit 1`,
          [now],
        )
      )?.at,
    peopleCount: async () => (await sql.one<{ n: number }>(`select count as n from person_counts where key = 'people'`))?.n ?? 0,
    personSyncCounts: () => sql.rows<{ status: SyncStatus; count: number }>(`select key as status, count from person_counts where key <> 'people'`),

    endpoints: () => sql.rows<Endpoint>(`select ${ENDPOINT} from endpoints order by created_at`),
    endpointCount: async () => (await sql.one<{ n: number }>('select count(*) as n from endpoints'))?.n ?? 0,
    endpoint: (id) => sql.one<Endpoint>(`select ${ENDPOINT} from endpoints where id = $1`, [id]),

    dueDeliveries: (endpointId, now, limit) =>
      sql.rows<DueDelivery>(
        `select seq, event_seq as "eventSeq", attempts from deliveries
         where endpoint_id = $1 and status = 'pending' and next_attempt_at <= $2 order by next_attempt_at limit $3`,
        [endpointId, now, limit],
      ),
    nextDueAt: async (endpointId) =>
      (await sql.one<{ at: number | null }>(`select min(next_attempt_at) as at from deliveries where endpoint_id = $1 and status = 'pending'`, [endpointId]))
        ?.at ?? undefined,
    delivery: (seq) =>
      sql.one<Delivery>(
        `select d.seq, e.id as "eventId", e.type as "eventType", d.endpoint_id as "endpointId", d.status, d.attempts,
           d.next_attempt_at as "nextAttemptAt", d.last_attempt_at as "lastAttemptAt", d.last_status as "lastStatus",
           d.last_error as "lastError", d.created_at as "createdAt", d.delivered_at as "deliveredAt"
         from deliveries d join events e on e.seq = d.event_seq where d.seq = $1`,
        [seq],
      ),
    deliveryBounds: () => bounds('deliveries'),
    deliverySeqs: (filter: { status?: DeliveryStatus; endpointId?: string; eventSeq?: number } & SeqRange & { limit: number }) =>
      seqs(
        `select seq from deliveries where seq >= $1 and seq < $2 and ($3::bigint is null or event_seq = $3)
           and ($4::text is null or status = $4) and ($5::text is null or endpoint_id = $5)
         order by seq desc limit $6`,
        [filter.from, filter.below, filter.eventSeq ?? null, filter.status ?? null, filter.endpointId ?? null, filter.limit],
      ),
    outboxDepth: () => sql.rows<{ endpointId: string; pending: number }>('select endpoint_id as "endpointId", pending from outbox_depth'),

    event: (seq) => sql.one<EventRecord>(`select ${EVENT} from events where seq = $1`, [seq]),
    eventById: (id) => sql.one<EventRecord>(`select ${EVENT} from events where id = $1`, [id]),
    eventKey: (id) => sql.one<{ seq: number; hasImage: boolean }>('select seq, has_image as "hasImage" from events where id = $1', [id]),
    listedEvent: (seq) =>
      sql.one<ListedEvent>(
        `select seq, id, type, device_sn as "deviceSn", received_at as "receivedAt", has_image as "hasImage", ${shown('fields', 'fields')}
         from events where seq = $1`,
        [seq],
      ),
    eventBounds: () => bounds('events'),
    firstSeqFrom: async (at) => (await sql.one<{ seq: number }>('select seq from events where received_at >= $1 order by received_at, seq limit 1', [at]))?.seq,
    lastSeqBefore: async (at) =>
      (await sql.one<{ seq: number }>('select seq from events where received_at < $1 order by received_at desc, seq desc limit 1', [at]))?.seq,
    eventSeqs: (filter) => {
      const { where, values } = eventFilter(filter, 4);
      return seqs(`select seq from events where seq >= $1 and seq < $2${where} order by seq desc limit $3`, [
        filter.from,
        filter.below,
        filter.limit,
        ...values,
      ]);
    },
    eventSeqsAfter: (filter) => {
      const { where, values } = eventFilter(filter, 4);
      return seqs(`select seq from events where seq > $1 and seq <= $2${where} order by seq limit $3`, [filter.after, filter.upTo, filter.limit, ...values]);
    },
    image,
    // One round trip for a delivery's event and its image, prepared once
    // per connection (open.ts). The image as text, then its bytes: a bytea
    // comes back as hex in the text format, twice the bytes for the server
    // to write and the bridge to parse.
    eventWithImage: async (seq, withImage) => {
      if (!withImage) {
        const event = await sql.one<EventRecord>(`select ${EVENT} from events where seq = $1`, [seq], 'delivery_event');
        return event && { event, image: undefined };
      }
      const row = await sql.one<EventRecord & { image: string | null }>(
        `select ${E_EVENT}, i.base64 as image from events e left join images i on i.event_seq = e.seq where e.seq = $1`,
        [seq],
        'delivery_event_image',
      );
      if (!row) return undefined;
      const { image: text, ...event } = row;
      return { event, image: event.hasImage && text !== null ? Buffer.from(text) : undefined };
    },

    tokens: () => sql.rows<ApiToken>('select id, name, role, hash, created_at as "createdAt" from tokens order by name'),
    reject: (seq) =>
      sql.one<Reject>('select seq, received_at as "receivedAt", topic, device_sn as "deviceSn", reason, detail, size, sample from rejects where seq = $1', [
        seq,
      ]),
    rejectBounds: () => bounds('rejects'),
    rejectSeqs: ({ device, from, below, limit }) =>
      seqs('select seq from rejects where seq >= $1 and seq < $2 and ($3::text is null or device_sn = $3) order by seq desc limit $4', [
        from,
        below,
        device ?? null,
        limit,
      ]),
  };
}
