import { ALERT_LANGS, ENDPOINT_FORMATS } from '../../delivery/chat/apps.ts';
import { EVENT_TYPES, type EventType } from '../../events/events.ts';
import { REJECT_REASONS } from '../../protocol/uplink.ts';
import { drizzleEntry } from '../drizzle.ts';
import { COMMAND_STATUSES, DELIVERY_STATUSES, DISABLED_REASONS, PERSON_OPS, ROLES, SYNC_STATUSES } from '../store.ts';

const { sql } = drizzleEntry('drizzle-orm');
const { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } = drizzleEntry('drizzle-orm/sqlite-core');

// Times are unix milliseconds (UTC). Terminal-supplied values stay inside
// `fields` exactly as the terminal sent them. A column of a closed set of
// values says which (`enum`): SQLite does not check them, the types of what
// is written and read do.

export const terminals = sqliteTable(
  'terminals',
  {
    sn: text('sn').primaryKey(),
    /** Listed in DEVICES: subscribed even before it was ever seen. */
    registered: integer('registered', { mode: 'boolean' }).notNull().default(false),
    firstSeenAt: integer('first_seen_at'),
    lastSeenAt: integer('last_seen_at'),
    online: integer('online', { mode: 'boolean' }).notNull().default(false),
    /** Where it stands, as an admin names it ("3F east door"): shown beside the serial in the API, the console and alerts. */
    label: text('label'),
  },
  (t) => [
    // FORGET_AFTER (README §Topics): only the rows that may be forgotten,
    // learned from traffic and offline. The last-seen times written every
    // second for online terminals never touch it.
    index('terminals_forgettable').on(t.lastSeenAt).where(sql`registered = 0 and online = 0`),
  ],
);

export const events = sqliteTable(
  'events',
  {
    /** Arrival order; the cursor of lists and of the live stream. */
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    /** `evt_…`, derived from the record's content for face records so a retransmission maps to the same id. */
    id: text('id').notNull().unique(),
    type: text('type', { enum: EVENT_TYPES }).notNull(),
    deviceSn: text('device_sn').notNull(),
    receivedAt: integer('received_at').notNull(),
    /**
     * The record (or message) as sent, minus its image: JSON text, and kept
     * text here rather than a JSON column. The decoder writes it once per
     * record (it is also what the 64 KB bound measures) and it is stored as
     * it is; lists read it only up to SHOWN_BYTES, as text, and measure the
     * rest in SQL. A JSON column would parse and serialise it again on every
     * insert and every read, in the writer thread at each message and on the
     * main thread at each delivery and list.
     */
    fields: text('fields').notNull(),
    hasImage: integer('has_image', { mode: 'boolean' }).notNull(),
    /** The person it is about: a verified record's `num`, a person command's reply, a person.* event. Erasing a person finds their events by it. */
    person: text('person'),
  },
  (t) => [
    index('events_type_seq').on(t.type, t.seq),
    index('events_device_seq').on(t.deviceSn, t.seq),
    index('events_received_at').on(t.receivedAt),
    // README §People on the terminals, ?erase=true: a person's events without a scan; only the rows that name one.
    index('events_person').on(t.person).where(sql`person is not null`),
  ],
);

/**
 * Face images apart from events: lists never read them, retention deletes
 * them first. The image itself is in a segment file of the data dir
 * (segment-files.ts, README §What survives what): a row says where.
 */
export const images = sqliteTable(
  'images',
  {
    eventSeq: integer('event_seq').primaryKey(),
    /**
     * As it goes between the quotes of the webhook's `img` (NewEvent.image):
     * the base64 itself, or the escaped text of what was not base64. Only
     * rows written before segments (and rows a backup brought back) hold it;
     * a row whose image is in a segment holds ''. Kept NOT NULL rather than
     * rebuilt as nullable: the rebuild would copy every stored image once
     * more at the first start of this version.
     */
    base64: text('base64').notNull(),
    /** The segment's number (segment-files.ts); null for a row that holds its text. */
    segment: integer('segment'),
    /** Where its bytes (the text above, UTF-8) start in the segment, and how many. */
    position: integer('position'),
    length: integer('length'),
  },
  // The segments still referenced, one probe each: retention unlinks the others (jobs.ts).
  (t) => [index('images_segment').on(t.segment).where(sql`segment is not null`)],
);

export const commands = sqliteTable(
  'commands',
  {
    id: text('id').primaryKey(),
    /** Acceptance order, given by the writer: the order a terminal's queued commands go out in (README §Commands with replies). */
    seq: integer('seq').notNull(),
    deviceSn: text('device_sn').notNull(),
    /** The command's name (its `cmd`): a reply `xxxU` is paired with the oldest `xxxD` waiting for one. */
    cmd: text('cmd').notNull(),
    /** As sent to the terminal, with REPLY_FIELD filled in when it was set and absent. */
    body: text('body').notNull(),
    /** README §Commands with replies: queued → published → replied or unanswered; expired; failed. */
    status: text('status', { enum: COMMAND_STATUSES }).notNull(),
    error: text('error'),
    createdAt: integer('created_at').notNull(),
    /** When the broker acknowledged it; REPLY_WINDOW counts from here. */
    publishedAt: integer('published_at'),
    repliedAt: integer('replied_at'),
    /** Past it a queued command is expired; null without a ttl. */
    expiresAt: integer('expires_at'),
    /** `bat_…` of a fan-out (POST /api/commands). */
    batch: text('batch'),
    /** The reply as stored (JSON text), once one was matched. */
    reply: text('reply'),
    /** README §Tokens and roles: the name of the token that sent it. */
    actor: text('actor'),
    /** The person (num) of an enrolment or removal command: its reply decides that terminal's sync state; erasing the person removes it. */
    person: text('person'),
    /**
     * The process that accepted it (README §Commands with replies, At most
     * once more): a queued command without a ttl fails `interrupted` only
     * once that process is gone. Null on rows of an earlier version.
     */
    acceptedBy: text('accepted_by'),
  },
  (t) => [
    uniqueIndex('commands_seq').on(t.seq),
    // The orders the list pages in, newest first: (created_at, id) is its cursor (README §HTTP API, Lists).
    index('commands_device_created').on(t.deviceSn, t.createdAt, t.id),
    index('commands_created').on(t.createdAt, t.id),
    index('commands_status_created').on(t.status, t.createdAt, t.id),
    index('commands_device_status_created').on(t.deviceSn, t.status, t.createdAt, t.id),
    index('commands_batch_created').on(t.batch, t.createdAt, t.id),
    // A terminal's queue, in acceptance order: only the rows still queued.
    index('commands_queue').on(t.deviceSn, t.seq).where(sql`status = 'queued'`),
    // Name pairing in the writer: the oldest command of a name on a terminal still waiting for its reply.
    index('commands_pairing').on(t.deviceSn, t.cmd, t.publishedAt).where(sql`status = 'published'`),
    // The sweeps: replies that did not come within REPLY_WINDOW, ttls that ran out.
    index('commands_unanswered').on(t.publishedAt).where(sql`status = 'published'`),
    index('commands_expiring').on(t.expiresAt).where(sql`status = 'queued'`),
    index('commands_person').on(t.person).where(sql`person is not null`),
  ],
);

/**
 * Numbers that only go up. `commands`: the last command seq given. Taken as
 * max(seq) + 1, a seq came again once the newest commands were deleted (a
 * person erased, retention), and the dispatcher, which remembers the last seq
 * it sent per terminal, skipped the next command. Seeded by its migration.
 */
export const counters = sqliteTable('counters', {
  name: text('name').primaryKey(),
  value: integer('value').notNull(),
});

/** README §People on the terminals: the people the backend enrols, one row each until they are removed from every terminal. */
export const people = sqliteTable(
  'people',
  {
    /** The path's string. */
    num: text('num').primaryKey(),
    name: text('name').notNull(),
    /** Every other field of the PUT body (not name, photo or devices), as JSON text, as given. */
    fields: text('fields').notNull(),
    /** The JPEG bytes, stored once: commands carry a marker where it goes (person-commands.ts). */
    photo: blob('photo', { mode: 'buffer' }),
    /** sha256 of name, fields and photo: the same content is the same hash, and syncs nothing again. */
    hash: text('hash').notNull(),
    /** devices "all": every terminal known, and every terminal seen later. */
    allDevices: integer('all_devices', { mode: 'boolean' }).notNull(),
    /** DELETE: shown with `deleted` until every terminal has applied the removal, then the row goes. */
    deleted: integer('deleted', { mode: 'boolean' }).notNull().default(false),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** README §Tokens and roles: the name of the token that made the last change. */
    actor: text('actor'),
  },
  // A terminal seen for the first time gets everyone meant for every terminal.
  (t) => [index('people_all_devices').on(t.num).where(sql`all_devices = 1 and deleted = 0`)],
);

/** One person on one terminal: what it should hold, what it confirmed, the command in flight. */
export const personSync = sqliteTable(
  'person_sync',
  {
    num: text('num').notNull(),
    deviceSn: text('device_sn').notNull(),
    /** What the terminal should do: hold the person (`want`) or not hold them. */
    op: text('op', { enum: PERSON_OPS }).notNull(),
    /** The hash the terminal should hold; null for a removal. */
    want: text('want'),
    /** pending → sent (published) → applied or failed (README §People on the terminals). */
    status: text('status', { enum: SYNC_STATUSES }).notNull(),
    /** The command made for it and not answered yet (queued or published); null when none is. */
    commandId: text('command_id'),
    /** What that command carries: its op and, for an upsert, the hash it was rendered from. */
    sentOp: text('sent_op', { enum: PERSON_OPS }),
    sentHash: text('sent_hash'),
    /** What the terminal last confirmed it holds; null when it holds nothing of the person's. */
    appliedHash: text('applied_hash'),
    /** The terminal's answer to a failed one: its code (JSON text) and message. */
    code: text('code'),
    message: text('message'),
    /** Unanswered tries since the last change: the backoff grows with them. */
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.num, t.deviceSn] }),
    // A terminal's queue: its rows waiting, oldest due first.
    index('person_sync_queue').on(t.deviceSn, t.nextAttemptAt).where(sql`status = 'pending'`),
    // The one timer: the next row due, all terminals together.
    index('person_sync_due').on(t.nextAttemptAt).where(sql`status = 'pending'`),
    index('person_sync_command').on(t.commandId).where(sql`command_id is not null`),
    // At most one person command in flight per terminal: whether it has one.
    index('person_sync_in_flight').on(t.deviceSn).where(sql`command_id is not null`),
    // GET /api/people?device=&status=, and the counts of /metrics.
    index('person_sync_device_status').on(t.deviceSn, t.status, t.num),
    index('person_sync_status').on(t.status, t.num),
  ],
);

/** Malformed upLink messages, kept (truncated) so an installer can see what a terminal really sends. */
export const rejects = sqliteTable(
  'rejects',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    receivedAt: integer('received_at').notNull(),
    topic: text('topic').notNull(),
    deviceSn: text('device_sn'),
    reason: text('reason', { enum: REJECT_REASONS }).notNull(),
    detail: text('detail').notNull(),
    size: integer('size').notNull(),
    sample: text('sample').notNull(),
  },
  (t) => [index('rejects_received_at').on(t.receivedAt)],
);

/** Webhook receivers: the default one from WEBHOOK_URL (`ep_default`) and those added by API. */
export const endpoints = sqliteTable('endpoints', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  secret: text('secret'),
  /** The event types it receives, as a JSON array: parsed here, and nowhere else. */
  eventTypes: text('event_types', { mode: 'json' }).$type<EventType[]>().notNull(),
  /** Disabled endpoints (a 410 answer, WEBHOOK_URL unset, or by an admin) keep their deliveries waiting. */
  enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
  /** Why it is disabled; null while it is enabled. */
  disabledReason: text('disabled_reason', { enum: DISABLED_REASONS }),
  createdAt: integer('created_at').notNull(),
  /** README §Alerts in chat apps: `standard` (Standard Webhooks JSON) or a chat app's message. */
  format: text('format', { enum: ENDPOINT_FORMATS }).notNull().default('standard'),
  /** The language of a chat app's message. */
  lang: text('lang', { enum: ALERT_LANGS }).notNull().default('zh-CN'),
});

/** One event × one endpoint: the outbox. Written in the same transaction as the event. */
export const deliveries = sqliteTable(
  'deliveries',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    eventSeq: integer('event_seq').notNull(),
    endpointId: text('endpoint_id').notNull(),
    status: text('status', { enum: DELIVERY_STATUSES }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at').notNull(),
    lastAttemptAt: integer('last_attempt_at'),
    /** HTTP status of the last answer, null when there was none (timeout, network error). */
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    createdAt: integer('created_at').notNull(),
    deliveredAt: integer('delivered_at'),
  },
  (t) => [
    uniqueIndex('deliveries_event_endpoint').on(t.eventSeq, t.endpointId),
    index('deliveries_due').on(t.endpointId, t.status, t.nextAttemptAt),
    index('deliveries_status').on(t.status, t.seq),
  ],
);

/**
 * Deliveries waiting (`pending`) per endpoint: facegate_outbox_depth. Kept up
 * to date by triggers on `deliveries` (drizzle/0004_outbox_depth_triggers.sql),
 * so a scrape reads a row per endpoint instead of counting a backlog that a
 * receiver outage grows to millions. Triggers rather than counts kept by the
 * writer thread: every statement that changes a delivery (each job's, or
 * a later one's) moves the count in its own transaction, where the
 * writer would have to mirror each of them by hand and a crash could part
 * the two.
 */
export const outboxDepth = sqliteTable('outbox_depth', {
  endpointId: text('endpoint_id').primaryKey(),
  pending: integer('pending').notNull().default(0),
});

/**
 * facegate_people and facegate_person_sync: `people` (enrolled, not deleted)
 * and each sync state's rows, kept by triggers
 * (drizzle/0009_person_counts_triggers.sql) as outbox_depth is, so a scrape
 * reads five rows instead of counting a million sync rows on the main thread.
 */
export const personCounts = sqliteTable('person_counts', {
  key: text('key').primaryKey(),
  count: integer('count').notNull().default(0),
});

/** README §Tokens and roles: named API tokens, each kept as the SHA-256 of its secret. */
export const tokens = sqliteTable('tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  role: text('role', { enum: ROLES }).notNull(),
  hash: text('hash').notNull().unique(),
  createdAt: integer('created_at').notNull(),
});

// Rows as the tables hold them, for the code of this store.
export type TerminalRow = typeof terminals.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type CommandRow = typeof commands.$inferSelect;
export type PersonRow = typeof people.$inferSelect;
export type PersonSyncRow = typeof personSync.$inferSelect;
export type EndpointRow = typeof endpoints.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;
