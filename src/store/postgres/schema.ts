import type { AlertLang, EndpointFormat } from '../../delivery/chat/apps.ts';
import type { EventType } from '../../events/events.ts';
import type { RejectReason } from '../../protocol/uplink.ts';
import { drizzleEntry } from '../drizzle.ts';
import type { CommandStatus, DeliveryStatus, DisabledReason, PersonOp, Role, SyncStatus } from '../store.ts';

const { sql } = drizzleEntry('drizzle-orm');
const { bigint, boolean, customType, index, integer, jsonb, pgSequence, pgTable, primaryKey, text, uniqueIndex } = drizzleEntry('drizzle-orm/pg-core');

// The tables of sqlite/schema.ts on PostgreSQL: the same names, so the two
// engines read alike. Times are unix milliseconds (UTC) in bigint, read as
// numbers (they stay far below 2^53). A closed set of values is text typed
// with its TypeScript union, as in SQLite: the code that writes it is typed.

/** Unix milliseconds, read as a number. */
const ms = (name: string) => bigint(name, { mode: 'number' });
/** A seq: an identity column, read as a number. */
const seq = (name: string) => bigint(name, { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity();
const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

export const terminals = pgTable(
  'terminals',
  {
    sn: text('sn').primaryKey(),
    registered: boolean('registered').notNull().default(false),
    firstSeenAt: ms('first_seen_at'),
    lastSeenAt: ms('last_seen_at'),
    online: boolean('online').notNull().default(false),
    label: text('label'),
  },
  // FORGET_AFTER (README §Topics): only the rows that may be forgotten.
  (t) => [index('terminals_forgettable').on(t.lastSeenAt).where(sql`not registered and not online`)],
);

export const events = pgTable(
  'events',
  {
    /** Arrival order; the cursor of lists and of the live stream (made visible in order: jobs.ts, SEQ_LOCK). */
    seq: seq('seq'),
    id: text('id').notNull().unique(),
    type: text('type').$type<EventType>().notNull(),
    deviceSn: text('device_sn').notNull(),
    receivedAt: ms('received_at').notNull(),
    /** JSON text as the terminal sent it, kept text for the reasons given in sqlite/schema.ts. */
    fields: text('fields').notNull(),
    hasImage: boolean('has_image').notNull(),
    person: text('person'),
  },
  (t) => [
    index('events_type_seq').on(t.type, t.seq),
    index('events_device_seq').on(t.deviceSn, t.seq),
    index('events_received_at').on(t.receivedAt, t.seq),
    index('events_person').on(t.person).where(sql`person is not null`),
  ],
);

export const images = pgTable('images', {
  eventSeq: bigint('event_seq', { mode: 'number' }).primaryKey(),
  base64: text('base64').notNull(),
});

/** Command seqs: acceptance order, and only ever up (sqlite/schema.ts, counters). */
export const commandSeq = pgSequence('command_seq');

export const commands = pgTable(
  'commands',
  {
    id: text('id').primaryKey(),
    seq: bigint('seq', { mode: 'number' }).notNull().default(sql`nextval('command_seq')`),
    deviceSn: text('device_sn').notNull(),
    cmd: text('cmd').notNull(),
    body: text('body').notNull(),
    status: text('status').$type<CommandStatus>().notNull(),
    error: text('error'),
    createdAt: ms('created_at').notNull(),
    publishedAt: ms('published_at'),
    repliedAt: ms('replied_at'),
    expiresAt: ms('expires_at'),
    batch: text('batch'),
    reply: text('reply'),
    actor: text('actor'),
    person: text('person'),
    /** The replica that accepted it (sqlite/schema.ts): its queued commands without a ttl fail only once it holds no membership lock. */
    acceptedBy: text('accepted_by'),
  },
  (t) => [
    uniqueIndex('commands_seq').on(t.seq),
    index('commands_device_created').on(t.deviceSn, t.createdAt, t.id),
    index('commands_created').on(t.createdAt, t.id),
    index('commands_status_created').on(t.status, t.createdAt, t.id),
    index('commands_device_status_created').on(t.deviceSn, t.status, t.createdAt, t.id),
    index('commands_batch_created').on(t.batch, t.createdAt, t.id),
    index('commands_queue').on(t.deviceSn, t.seq).where(sql`status = 'queued'`),
    index('commands_pairing').on(t.deviceSn, t.cmd, t.publishedAt).where(sql`status = 'published'`),
    index('commands_unanswered').on(t.publishedAt).where(sql`status = 'published'`),
    index('commands_expiring').on(t.expiresAt).where(sql`status = 'queued'`),
    index('commands_person').on(t.person).where(sql`person is not null`),
  ],
);

export const people = pgTable(
  'people',
  {
    num: text('num').primaryKey(),
    name: text('name').notNull(),
    fields: text('fields').notNull(),
    photo: bytea('photo'),
    hash: text('hash').notNull(),
    allDevices: boolean('all_devices').notNull(),
    deleted: boolean('deleted').notNull().default(false),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
    actor: text('actor'),
  },
  (t) => [index('people_all_devices').on(t.num).where(sql`all_devices and not deleted`)],
);

export const personSync = pgTable(
  'person_sync',
  {
    num: text('num').notNull(),
    deviceSn: text('device_sn').notNull(),
    op: text('op').$type<PersonOp>().notNull(),
    want: text('want'),
    status: text('status').$type<SyncStatus>().notNull(),
    commandId: text('command_id'),
    sentOp: text('sent_op').$type<PersonOp>(),
    sentHash: text('sent_hash'),
    appliedHash: text('applied_hash'),
    code: text('code'),
    message: text('message'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ms('next_attempt_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.num, t.deviceSn] }),
    index('person_sync_queue').on(t.deviceSn, t.nextAttemptAt).where(sql`status = 'pending'`),
    index('person_sync_due').on(t.nextAttemptAt).where(sql`status = 'pending'`),
    index('person_sync_command').on(t.commandId).where(sql`command_id is not null`),
    index('person_sync_in_flight').on(t.deviceSn).where(sql`command_id is not null`),
    index('person_sync_device_status').on(t.deviceSn, t.status, t.num),
    index('person_sync_status').on(t.status, t.num),
  ],
);

export const rejects = pgTable(
  'rejects',
  {
    seq: seq('seq'),
    receivedAt: ms('received_at').notNull(),
    topic: text('topic').notNull(),
    deviceSn: text('device_sn'),
    reason: text('reason').$type<RejectReason>().notNull(),
    detail: text('detail').notNull(),
    size: integer('size').notNull(),
    sample: text('sample').notNull(),
  },
  (t) => [index('rejects_received_at').on(t.receivedAt)],
);

export const endpoints = pgTable('endpoints', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  secret: text('secret'),
  /** jsonb: an event's deliveries are made by one INSERT … SELECT over the endpoints taking its type (`?`), in every replica alike. */
  eventTypes: jsonb('event_types').$type<EventType[]>().notNull(),
  enabled: boolean('enabled').notNull().default(true),
  disabledReason: text('disabled_reason').$type<DisabledReason>(),
  createdAt: ms('created_at').notNull(),
  format: text('format').$type<EndpointFormat>().notNull().default('standard'),
  lang: text('lang').$type<AlertLang>().notNull().default('zh-CN'),
});

export const deliveries = pgTable(
  'deliveries',
  {
    seq: seq('seq'),
    eventSeq: bigint('event_seq', { mode: 'number' }).notNull(),
    endpointId: text('endpoint_id').notNull(),
    status: text('status').$type<DeliveryStatus>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ms('next_attempt_at').notNull(),
    lastAttemptAt: ms('last_attempt_at'),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    createdAt: ms('created_at').notNull(),
    deliveredAt: ms('delivered_at'),
  },
  (t) => [
    uniqueIndex('deliveries_event_endpoint').on(t.eventSeq, t.endpointId),
    index('deliveries_due').on(t.endpointId, t.status, t.nextAttemptAt),
    index('deliveries_status').on(t.status, t.seq),
  ],
);

/** facegate_outbox_depth, kept by triggers (drizzle/postgres/0001_counts_triggers.sql) as in SQLite. */
export const outboxDepth = pgTable('outbox_depth', {
  endpointId: text('endpoint_id').primaryKey(),
  pending: bigint('pending', { mode: 'number' }).notNull().default(0),
});

/** facegate_people and facegate_person_sync, kept by triggers as in SQLite. */
export const personCounts = pgTable('person_counts', {
  key: text('key').primaryKey(),
  count: bigint('count', { mode: 'number' }).notNull().default(0),
});

export const tokens = pgTable('tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  role: text('role').$type<Role>().notNull(),
  hash: text('hash').notNull().unique(),
  createdAt: ms('created_at').notNull(),
});
