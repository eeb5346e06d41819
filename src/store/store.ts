import type { AlertLang, EndpointFormat } from '../delivery/chat/apps.ts';
import type { EventRecord, EventType, ListedEvent, StoredEvent } from '../events/events.ts';
import type { Message, NewReject, Outcome } from '../ingest/interpret.ts';
import type { RejectReason } from '../protocol/uplink.ts';

// The store, in the words of the rest of the bridge: what it holds, every
// write as a plain-data job with the result of its kind, and the reads the
// bridge makes. An engine (store/sqlite/) commits jobs in batches (group
// commit), each resolving once it is durable; its reads are promises, so an
// engine that answers over a network fits behind the same interface.

/** README §Webhooks: waiting (for its first attempt or a retry), delivered, or given up after the last retry. */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * README §Commands with replies: `queued` (kept for a terminal that is
 * offline, or waiting for its turn) → `published` (the broker acknowledged
 * it) → `replied` or `unanswered` (no reply within REPLY_WINDOW); `expired`
 * (its ttl ran out before it could go out); `failed` (refused).
 */
export const COMMAND_STATUSES = ['queued', 'published', 'replied', 'unanswered', 'expired', 'failed'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

/**
 * Why a command was refused, its `error` (README §Commands with replies);
 * `interrupted`: queued without a ttl when the process (bridge or replica)
 * that accepted it stopped, it is not sent after the restart, nor by another
 * replica (Accepters).
 */
export type CommandError = 'unknown_device' | 'device_offline' | 'broker_unavailable' | 'interrupted';

/** README §People on the terminals: a person's state on one terminal. */
export const SYNC_STATUSES = ['pending', 'sent', 'applied', 'failed'] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];
/** What a terminal should do with a person: hold them (`upsert`) or not (`delete`). */
export const PERSON_OPS = ['upsert', 'delete'] as const;
export type PersonOp = (typeof PERSON_OPS)[number];

/**
 * README §Tokens and roles: what a named API token may do. `viewer` reads;
 * `operator` also sends commands and changes people; `admin` does
 * everything (ADMIN_TOKEN is one).
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A named API token as stored: the SHA-256 of its secret, never the secret. */
export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  hash: string;
  createdAt: number;
}

/** Commands the sweep turns unanswered or expired at most per run: one writer job stays short. */
export const SWEEP_LIMIT = 1000;

/** One command of an accepted request: queued for its terminal, or refused at once (`failed`, with its error). */
export interface NewCommand {
  id: string;
  sn: string;
  status: 'queued' | 'failed';
  error: CommandError | null;
}

/** A queued command as the dispatcher publishes it. */
export interface QueuedCommand {
  id: string;
  seq: number;
  body: string;
  expiresAt: number | null;
  /** The person of an enrolment: its photo is spliced into the body as it goes out (README §People on the terminals). */
  person: string | null;
}

/** README §People on the terminals: a person as stored, without the photo's bytes. */
export interface Person {
  num: string;
  name: string;
  /** The other fields of the PUT body, JSON text. */
  fields: string;
  hasPhoto: boolean;
  hash: string;
  allDevices: boolean;
  deleted: boolean;
  createdAt: number;
  updatedAt: number;
  /** The name of the token that made the last change (README §Tokens and roles). */
  actor: string | null;
}

/** A person's state on one terminal. */
export interface PersonSync {
  deviceSn: string;
  op: PersonOp;
  status: SyncStatus;
  /** The terminal's code (JSON text) and message when it refused. */
  code: string | null;
  message: string | null;
  updatedAt: number;
}

/** GET /api/people: each filter optional; num order after the cursor. */
export interface PeopleFilter {
  device?: string;
  status?: SyncStatus;
  after?: string;
  limit: number;
}

/** What ?erase=true erased (README §People on the terminals). */
export interface Erased {
  events: number;
  images: number;
  deliveries: number;
  photo: number;
  terminals: number;
}

/**
 * Why an endpoint is disabled (README §Webhooks): `config`, the default
 * endpoint without WEBHOOK_URL; `gone`, its receiver answered 410; `admin`,
 * by POST /api/webhooks/{id}/disable.
 */
export const DISABLED_REASONS = ['config', 'gone', 'admin'] as const;
export type DisabledReason = (typeof DISABLED_REASONS)[number];

/**
 * A listed item's stored text (an event's fields, a command's body) is read
 * only up to this size; a larger one is listed short, with its size
 * (README §HTTP API, Lists).
 */
export const SHOWN_BYTES = 64 * 1024;

/** Of a malformed message, the store keeps this much of its start (README §Malformed messages). */
export const SAMPLE_BYTES = 2048;

/**
 * A write that ended the store's writer on its own (README §What survives
 * what): applying it again would end it again, so it is never committed.
 * It carries the start of its payload and its size, for the reject that
 * stands for it.
 */
export class Unprocessable extends Error {
  constructor(
    readonly detail: string,
    readonly sample: Uint8Array,
    readonly size: number,
  ) {
    super(`database write failed: ${detail}`);
  }
}

/** A webhook endpoint: the default one from WEBHOOK_URL (`ep_default`) and those added by API (README §Webhooks). */
export interface Endpoint {
  id: string;
  url: string;
  secret: string | null;
  eventTypes: EventType[];
  enabled: boolean;
  /** Why it is disabled; null while it is enabled. */
  disabledReason: DisabledReason | null;
  createdAt: number;
  /** README §Alerts in chat apps: what its requests are, Standard Webhooks JSON or a chat app's message, and in which language. */
  format: EndpointFormat;
  lang: AlertLang;
}

/** Where a purge has got to among the events past retention: the last one a step looked at, in order of receipt. */
export interface PurgeCursor {
  at: number;
  seq: number;
}

/**
 * A message to interpret (ingest/interpret.ts) and keep what it gives, in the
 * commit. `hold`: a reply that pairs with no published command while one it
 * could answer is still queued is given back unstored (Outcome.held), to be
 * sent again once a command of its terminal is recorded published.
 */
export type UplinkJob = { kind: 'uplink'; hold?: boolean } & Message;

/**
 * Whose accepted commands are still theirs (README §Commands with replies,
 * At most once more): a queued command without a ttl accepted by anyone
 * else fails `interrupted`. `self`: this process alone (its store is its
 * own; at start every other row is a dead process's). `members`: the
 * replicas holding a membership lock under this key (PostgreSQL's
 * pg_locks, cluster/pg-leases.ts), the lock's second key their replica id.
 */
export type Accepters = { self: string } | { members: number };
/** A message that the checks before the store found malformed, or that could not be applied (`unprocessable`). */
export type RejectJob = { kind: 'reject'; sn: string; topic: string; receivedAt: number; reject: NewReject };

/** A terminal came online or went offline. */
export type PresenceFlip = { sn: string; online: boolean; at: number; lastSeenAt: number | null };

export type Job =
  | UplinkJob
  | RejectJob
  /**
   * Terminals that came online or went offline, in the order they did (those
   * of one turn of the event loop together, presence.ts): each one's row,
   * and its device.online or device.offline event.
   */
  | { kind: 'presence'; flips: PresenceFlip[] }
  /** Last-seen times of terminals heard from since the last sweep. */
  | { kind: 'seen'; lastSeen: [sn: string, at: number][] }
  /** DEVICES and DEFAULT_DEVICE, at start. */
  | { kind: 'register'; serials: string[] }
  /**
   * Commands accepted together (one, or a fan-out's): one row each, in this
   * order, with the same body, into which the writer puts each one's id as
   * REPLY_FIELD when it is set and the body lacks it.
   */
  | {
      kind: 'commands';
      at: number;
      cmd: string;
      /** JSON text of the command as the client sent it. */
      body: string;
      replyField?: string;
      expiresAt: number | null;
      batch: string | null;
      /** Who sent them (README §Tokens and roles): the token's name. */
      actor: string | null;
      rows: NewCommand[];
    }
  /** Commands the broker acknowledged, and when (README §Commands with replies: REPLY_WINDOW counts from then). */
  | { kind: 'commands-published'; published: { id: string; at: number }[] }
  /** Queued commands that could not go out and had no ttl to wait with. */
  | { kind: 'commands-failed'; failed: { id: string; error: CommandError }[] }
  /** Commands queued without a ttl by a process that is gone fail (`interrupted`); the ttl's go out. */
  | { kind: 'commands-interrupted'; live: Accepters }
  /** Published commands past REPLY_WINDOW become unanswered, queued ones past their ttl expired: at most SWEEP_LIMIT of each. */
  | { kind: 'command-sweep'; now: number }
  /**
   * PUT /api/people/{num}: the person (the photo's bytes, the hash of the
   * content), and a sync row for each terminal targeted, the devices no
   * longer targeted turned into removals (README §People on the terminals).
   */
  | {
      kind: 'person-put';
      num: string;
      name: string;
      /** JSON text of the other fields. */
      fields: string;
      photo: Uint8Array | null;
      hash: string;
      devices: 'all' | string[];
      at: number;
      /** Who made the change (README §Tokens and roles). */
      actor: string | null;
    }
  /** DELETE /api/people/{num}: a removal for every terminal that has or may have the person; those that never had them forget the row. */
  | { kind: 'person-delete'; num: string; at: number; actor: string | null }
  /** POST /api/people/{num}/retry: failed rows (of one terminal) pending again. */
  | { kind: 'person-retry'; num: string; device?: string; at: number }
  /** Terminals' turns (people/sync.ts): each one's oldest due row becomes its one person command in flight, unless it has one. */
  | { kind: 'person-send'; serials: string[]; at: number }
  /** ?erase=true, one step: up to a bounded number of the person's events, then (the last step) commands, photo and person. */
  | { kind: 'person-erase'; num: string; at: number }
  /** An endpoint added, or changed (ep_default from WEBHOOK_URL at start); `at` is its creation time if it is new. */
  | { kind: 'endpoint'; endpoint: Omit<Endpoint, 'createdAt'>; at: number }
  /** One step of removing an endpoint: its row (the first time) and up to ADMIN_STEP of its deliveries. */
  | { kind: 'endpoint-delete'; id: string }
  | { kind: 'endpoint-state'; id: string; enabled: boolean; reason: DisabledReason | null }
  /** The outcome of one delivery attempt (delivery/policy.ts). */
  | {
      kind: 'attempt';
      seq: number;
      at: number;
      status: number | null;
      error: string | null;
      outcome: 'delivered' | 'retry' | 'dead' | 'gone';
      nextAttemptAt: number;
    }
  /** A dead delivery back to pending, due at `at`. */
  | { kind: 'retry-delivery'; seq: number; at: number }
  /** One step of a redelivery: up to ADMIN_STEP events from the first received at `since`, or after the seq `after`. */
  | { kind: 'redeliver-since'; endpointId: string; since: number; at: number; after?: number }
  /** Retention, one step: deletes up to `limit` of what is older than `before`, looking at events after `after`. */
  | { kind: 'purge'; before: number; limit: number; after?: PurgeCursor }
  /** These serials' rows, registered or not (DELETE /api/devices/{sn}, or no serial at all). */
  | { kind: 'forget'; serials: string[] }
  /** A named API token made (its name free) or revoked. */
  | { kind: 'token-add'; token: ApiToken }
  | { kind: 'token-delete'; id: string }
  /** A terminal's label set, or cleared (null). */
  | { kind: 'terminal-label'; sn: string; label: string | null }
  /** FORGET_AFTER: up to `limit` terminals learned from traffic, offline and last seen before `before`. */
  | { kind: 'forget-silent'; before: number; limit: number }
  /** An external broker dropped queued messages (README §Broker settings you must set): its broker.drops event. */
  | { kind: 'broker-drops'; dropped: number; source: 'probe' | 'broker'; sent: number | null; at: number };

export type JobKind = Job['kind'];

/** What each kind of job gives once it is committed. */
export interface JobResults {
  uplink: Outcome;
  reject: Outcome;
  /** The device.online or device.offline event. */
  presence: { events: StoredEvent[] };
  seen: undefined;
  register: undefined;
  commands: undefined;
  'commands-published': undefined;
  'commands-failed': undefined;
  /** How many failed. */
  'commands-interrupted': { failed: number };
  /** Their command.unanswered and command.expired events; whether more are left for the next run; terminals whose person command went unanswered. */
  'command-sweep': { events: StoredEvent[]; unanswered: number; expired: number; more: boolean; people: string[] };
  /** Whether the content changed; the person's rows now; terminals with a row pending. */
  'person-put': { changed: boolean; items: { deviceSn: string; status: SyncStatus }[]; wake: string[] };
  /** Whether there was such a person; their rows now (none: the person is gone); terminals with a row pending. */
  'person-delete': { found: boolean; items: { deviceSn: string; status: SyncStatus }[]; wake: string[] };
  'person-retry': { found: boolean; retried: number; wake: string[] };
  /** The terminals a command was made for (for the others one is in flight, or nothing is due). */
  'person-send': { queued: string[] };
  /** Counted so far by this step; `more`: another step is needed. */
  'person-erase': Erased & { more: boolean; wake: string[] };
  endpoint: undefined;
  /** Whether another step is needed. */
  'endpoint-delete': { more: boolean };
  /** Whether there was such an endpoint; the endpoint.disabled event of a 410 (README §Alerts in chat apps). */
  'endpoint-state': { changed: boolean; events: StoredEvent[] };
  /** The delivery.dead event of a delivery that gave up (README §Alerts in chat apps), if one was made. */
  attempt: { events: StoredEvent[] };
  /** Whether there was such a delivery, and dead. */
  'retry-delivery': { changed: boolean };
  /** Deliveries made or put back by this step; whether another is needed, and after which seq. */
  'redeliver-since': { deliveries: number; more: boolean; after?: number };
  /** Rows this step deleted; whether another is needed, and where it goes on; how long it held the writer (ms, before the commit). */
  purge: { removed: number; more: boolean; after?: PurgeCursor; ms: number };
  /** Rows deleted. */
  forget: { removed: number };
  /** Whether there was such a terminal. */
  'terminal-label': { changed: boolean };
  /** False when the name is taken. */
  'token-add': { added: boolean };
  'token-delete': { removed: boolean };
  /** Serials whose rows went. */
  'forget-silent': { forgotten: string[] };
  /** The broker.drops event. */
  'broker-drops': { events: StoredEvent[] };
}

export type JobResult<J extends Job = Job> = JobResults[J['kind']];

/** A terminal as stored: learned from traffic, or listed in DEVICES (`registered`). */
export interface Terminal {
  sn: string;
  registered: boolean;
  firstSeenAt: number | null;
  lastSeenAt: number | null;
  online: boolean;
  /** As an admin named it; null when not. */
  label: string | null;
}

export interface Command {
  id: string;
  deviceSn: string;
  cmd: string;
  body: string;
  status: CommandStatus;
  error: string | null;
  createdAt: number;
  publishedAt: number | null;
  repliedAt: number | null;
  expiresAt: number | null;
  batch: string | null;
  /** The reply as stored (JSON text), or null. */
  reply: string | null;
  /** The token's name that sent it; for a person's command, the one that last changed the person; null from before tokens had names. */
  actor: string | null;
  /** The process (replica) that accepted it (Accepters); null from before rows said so. Not shown by the API. */
  acceptedBy: string | null;
}

/**
 * A command as lists show it: its body and its reply each only when it takes
 * at most SHOWN_BYTES (null otherwise), and their sizes in bytes.
 */
export interface ListedCommand extends Omit<Command, 'body' | 'reply' | 'acceptedBy'> {
  body: string | null;
  bodyBytes: number;
  reply: string | null;
  replyBytes: number | null;
}

/** GET /api/commands: each filter optional, all combined. */
export interface CommandFilter {
  device?: string;
  status?: CommandStatus;
  batch?: string;
}

/** A pending delivery whose time has come: what an attempt needs to start. */
export interface DueDelivery {
  seq: number;
  eventSeq: number;
  attempts: number;
}

/** A delivery with its event's id and type. */
export interface Delivery {
  seq: number;
  eventId: string;
  eventType: EventType;
  endpointId: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

/** The first and last seq stored, to bound a list's window. */
export interface SeqBounds {
  first: number | undefined;
  last: number | undefined;
}

/** Newest first: seqs in [from, below). */
export interface SeqRange {
  from: number;
  below: number;
}

/** A malformed upLink message as kept (README §Malformed messages): the start of it, SAMPLE_BYTES at most. */
export interface Reject {
  seq: number;
  receivedAt: number;
  topic: string;
  deviceSn: string | null;
  reason: RejectReason;
  detail: string;
  /** The whole message's size in bytes. */
  size: number;
  sample: string;
}

export interface EventFilter {
  types?: EventType[];
  device?: string;
}

export interface Store {
  /** Resolves once the job is committed durably together with whatever else was waiting (group commit), with what its kind gives. */
  write<J extends Job>(job: J): Promise<JobResult<J>>;
  /** Jobs waiting or being committed. */
  readonly backlog: number;
  /** Its last commit succeeded and the one in progress (if any) is not stuck. */
  readonly healthy: boolean;

  terminals(): Promise<Terminal[]>;
  terminal(sn: string): Promise<Terminal | undefined>;
  /** Terminals in serial order after `after` (the cursor of GET /api/devices). */
  terminalsAfter(after: string | undefined, limit: number): Promise<Terminal[]>;
  /** A terminal's events since a time, counted by type. */
  eventCounts(sn: string, since: number): Promise<{ type: EventType; count: number }[]>;

  /** Keys of commands newest first, before a (created_at, id) position. */
  commandKeys(filter: CommandFilter & { before?: { at: number; id: string }; limit: number }): Promise<{ id: string; createdAt: number }[]>;
  listedCommand(id: string): Promise<ListedCommand | undefined>;
  command(id: string): Promise<Command | undefined>;
  /** A terminal's queued commands after `afterSeq` in acceptance order, those whose ttl has not run out at `now`. */
  queuedCommands(sn: string, afterSeq: number, now: number, limit: number): Promise<QueuedCommand[]>;
  /** Serials with queued commands (at start, and when the broker is back). */
  queuedSerials(): Promise<string[]>;
  /** Commands queued (facegate_commands_queued). */
  queuedCount(): Promise<number>;

  person(num: string): Promise<Person | undefined>;
  /** A person's rows, in serial order (at most MAX_TERMINALS and those of terminals gone). */
  personSyncs(num: string): Promise<PersonSync[]>;
  /** The photo's bytes. */
  personPhoto(num: string): Promise<Buffer | undefined>;
  /** People in num order after `after`; with `device`, each with its status there. */
  people(filter: PeopleFilter): Promise<(Person & { status?: SyncStatus })[]>;
  /** Terminals with a row due by `now` (at start, on the timer), in serial order after `after`, at most `limit`. */
  duePersonSerials(now: number, limit: number, after: string): Promise<string[]>;
  /** When the next row waiting after `now` is due. */
  nextPersonDueAfter(now: number): Promise<number | undefined>;
  /** facegate_people and facegate_person_sync. */
  peopleCount(): Promise<number>;
  personSyncCounts(): Promise<{ status: SyncStatus; count: number }[]>;

  endpoints(): Promise<Endpoint[]>;
  endpointCount(): Promise<number>;
  endpoint(id: string): Promise<Endpoint | undefined>;

  /** Pending deliveries of an endpoint whose time has come, oldest first. */
  dueDeliveries(endpointId: string, now: number, limit: number): Promise<DueDelivery[]>;
  /** When the endpoint's next pending delivery is due, if it has one. */
  nextDueAt(endpointId: string): Promise<number | undefined>;
  delivery(seq: number): Promise<Delivery | undefined>;
  deliveryBounds(): Promise<SeqBounds>;
  /** Seqs of the deliveries that match, newest first. */
  deliverySeqs(filter: { status?: DeliveryStatus; endpointId?: string; eventSeq?: number } & SeqRange & { limit: number }): Promise<number[]>;
  /** Pending deliveries per endpoint (facegate_outbox_depth). */
  outboxDepth(): Promise<{ endpointId: string; pending: number }[]>;

  event(seq: number): Promise<EventRecord | undefined>;
  eventById(id: string): Promise<EventRecord | undefined>;
  /** An event's position and whether it has an image, without reading its fields. */
  eventKey(id: string): Promise<{ seq: number; hasImage: boolean } | undefined>;
  /** One event as lists and the live stream show it: its fields only up to SHOWN_BYTES. */
  listedEvent(seq: number): Promise<ListedEvent | undefined>;
  eventBounds(): Promise<SeqBounds>;
  /** `since` and `until` as positions in arrival order. */
  firstSeqFrom(at: number): Promise<number | undefined>;
  lastSeqBefore(at: number): Promise<number | undefined>;
  /** Seqs of the events that match, newest first. */
  eventSeqs(filter: EventFilter & SeqRange & { limit: number }): Promise<number[]>;
  /** Seqs of the events that match in (after, upTo], oldest first: the live stream's replay. */
  eventSeqsAfter(filter: EventFilter & { after: number; upTo: number; limit: number }): Promise<number[]>;
  /** An event's image as it goes between the quotes of a JSON string. */
  image(seq: number): Promise<string | undefined>;
  /**
   * An event and, when asked for and it has one, its image as the bytes a
   * webhook body carries: what a delivery reads, in one read of the
   * database (README §Performance, Compiled once, read once).
   */
  eventWithImage(seq: number, image: boolean): Promise<{ event: EventRecord; image: Buffer | undefined } | undefined>;

  /** Named API tokens, by name. */
  tokens(): Promise<ApiToken[]>;
  reject(seq: number): Promise<Reject | undefined>;
  rejectBounds(): Promise<SeqBounds>;
  /** Seqs of the rejects in [from, below), of one terminal when `device` is given, newest first. */
  rejectSeqs(filter: { device?: string } & SeqRange & { limit: number }): Promise<number[]>;

  /** Commits what waits, then closes. */
  close(): Promise<void>;
}
