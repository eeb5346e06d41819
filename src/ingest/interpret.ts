import type { NewEvent, StoredEvent } from '../events/events.ts';
import { parseLocalTimestamp } from '../lib/units.ts';
import type { PersonCommands } from '../people/person-commands.ts';
import { type DecodeLimits, decodeUplink, type RejectReason } from '../protocol/uplink.ts';
import { type EventPolicy, eventsFromUplink } from './message-events.ts';

// The meaning of one upLink message, decided here and nowhere else: a pure
// function of the message and the policy. The store runs it where it
// commits (the SQLite writer thread: it is the costly part, JSON.parse of
// up to MAX_PAYLOAD and a hash per record) and keeps what it gives.

/** How messages are read and what they become: MAX_RECORDS, FORWARD, IMAGES, and how replies are matched (REPLY_FIELD, REPLY_WINDOW). */
export interface IngestPolicy extends EventPolicy, DecodeLimits {
  /** REPLY_FIELD: the field a reply echoes its command's id in; unset, replies are paired by name only. */
  replyField?: string;
  /** REPLY_WINDOW in ms: how long after it went out a command can still be matched. */
  replyWindowMs: number;
  /** PERSON_COMMANDS: how person commands are rendered and their replies judged; the built-in default unless given. */
  personCommands?: PersonCommands;
  /** CLOCK_SKEW in ms (README §Alerts in chat apps): a record time further than this from the receipt is a clock off; unset, not checked. */
  clockSkewMs?: number;
}

/** A face message whose last record's time is further from its receipt than CLOCK_SKEW: record time − receipt, whole seconds. */
export interface ClockSkew {
  seconds: number;
  recordTime: string;
}

/** An upLink message as it reached the bridge, from a serial's topic. */
export interface Message {
  sn: string;
  topic: string;
  payload: Uint8Array;
  receivedAt: number;
}

/** A malformed message, or one malformed record of a batch, to keep and count (README §Malformed messages). */
export type NewReject = { reason: RejectReason; detail: string } /** A message: its payload, or as much of its start as is kept, and its whole size. */ & (
  | { payload: Uint8Array; size: number }
  /** One record of a batch whose others are stored, kept as JSON (only when it is kept as a row). */
  | { record: unknown }
);

/**
 * A device message that may answer a command (README §Commands with
 * replies): by REPLY_FIELD, the command id it echoes; by name, the command
 * `xxxD` that an `xxxU` answers. The store matches it where it commits.
 */
export interface ReplyCandidate {
  /** The name of the command it would answer (`openDoorD` for `openDoorU`); absent when its name does not end in U. */
  cmd?: string;
  /** The value of REPLY_FIELD in it, when that is set and the value a string. */
  tag?: string;
}

/** A reply matched to its command, once committed: the command is `replied` and the reply its command.replied event. */
export interface Replied {
  commandId: string;
  sn: string;
  cmd: string;
  publishedAt: number;
  repliedAt: number;
  /** The reply as stored (JSON text). */
  reply: string;
  /** The person of an enrolment command (README §People on the terminals): that terminal's turn goes on. */
  person?: string;
}

/** What one message produces. */
export interface Interpretation {
  /** Its cmd, for facegate_messages_in_total; none for a message that has no readable one. */
  cmd?: string;
  /** A heartU: answered with heartD (README §Upstream messages). */
  heartbeat: boolean;
  events: NewEvent[];
  rejects: NewReject[];
  reply?: ReplyCandidate;
  /** Its terminal's clock is off (the store reports it at most once an hour per terminal). */
  clockSkew?: ClockSkew;
}

/**
 * What came of a message once the store committed it: its events as stored
 * (a retransmission's are left out), its rejects by reason, and how many of
 * those the store did not keep as rows (its bound on reject rows).
 */
export interface Outcome extends Omit<Interpretation, 'events' | 'rejects' | 'clockSkew'> {
  events: StoredEvent[];
  /** The command this message replied to, if it was matched. */
  replied?: Replied;
  rejected: RejectReason[];
  unkept: number;
  /**
   * Given back, nothing of it stored (an uplink job with `hold`): it would
   * pair with no published command yet, but a command it could answer is
   * queued for its terminal (README §Running several replicas, a reply
   * faster than the record of its publish). The payload, to send again.
   */
  held?: Uint8Array;
}

/**
 * A message's Outcome: what it meant, with what the store made of it. The
 * literal is written whole: on Node 20, `{ ...meaning, more }` made new
 * hidden classes for each message, garbage that only a full collection
 * frees (README §Performance, "The views' hidden classes").
 */
export function outcomeOf({ cmd, heartbeat, reply }: Interpretation, made: Pick<Outcome, 'events' | 'rejected' | 'unkept' | 'replied' | 'held'>): Outcome {
  return { cmd, heartbeat, reply, events: made.events, rejected: made.rejected, unkept: made.unkept, replied: made.replied, held: made.held };
}

/** A message that produces nothing but a reject, as the checks before the store find them. */
export function rejected(reject: NewReject): Interpretation {
  return { heartbeat: false, events: [], rejects: [reject] };
}

/** The events, rejects and answer one message stands for (README §Upstream messages, §Malformed messages). */
export function interpret({ sn, payload, receivedAt }: Message, policy: IngestPolicy): Interpretation {
  const decoded = decodeUplink(payload, policy);
  if (!decoded.ok) return rejected({ reason: decoded.reason, detail: decoded.detail, payload, size: payload.length });
  const { msg } = decoded;
  // In a batch, each malformed record is a reject of its own and the others are stored.
  const malformed = 'malformed' in msg ? msg.malformed : [];
  return {
    cmd: msg.cmd,
    heartbeat: msg.cmd === 'heartU',
    events: eventsFromUplink(sn, msg, receivedAt, policy),
    rejects: malformed.map(({ record, detail }) => ({ reason: 'invalid_fields', detail, record })),
    reply: 'body' in msg ? replyCandidate(msg.cmd, msg.body, policy.replyField) : undefined,
    clockSkew: 'records' in msg && policy.clockSkewMs !== undefined ? clockSkew(msg.records.at(-1)?.time, receivedAt, policy.clockSkewMs) : undefined,
  };
}

/**
 * The terminal's clock against the bridge's (README §Alerts in chat apps),
 * from the last record of a message only (the newest of a batch): one parse
 * per message. A record time that is no "YYYY-MM-DD HH:mm:ss" says nothing.
 */
export function clockSkew(time: unknown, receivedAt: number, limitMs: number): ClockSkew | undefined {
  if (typeof time !== 'string') return undefined;
  const at = parseLocalTimestamp(time);
  if (at === undefined || Math.abs(at - receivedAt) <= limitMs) return undefined;
  return { seconds: Math.round((at - receivedAt) / 1000), recordTime: time };
}

/**
 * What a device message could reply to (README §Commands with
 * replies): the command its REPLY_FIELD names, or by the protocol's
 * convention the command `xxxD` of an `xxxU`. Neither: it is only a message.
 */
export function replyCandidate(cmd: string, body: Record<string, unknown>, replyField: string | undefined): ReplyCandidate | undefined {
  const echoed = replyField === undefined ? undefined : body[replyField];
  const tag = typeof echoed === 'string' && echoed !== '' ? echoed : undefined;
  const named = cmd.length > 1 && cmd.endsWith('U') ? `${cmd.slice(0, -1)}D` : undefined;
  if (tag === undefined && named === undefined) return undefined;
  return { ...(named !== undefined && { cmd: named }), ...(tag !== undefined && { tag }) };
}
