import type { NewEvent } from '../events/events.ts';
import type { Replied, ReplyCandidate } from '../ingest/interpret.ts';
import type { Job } from './store.ts';

// The text of a command row and of its events, the same in both engines
// (README §Commands with replies): REPLY_FIELD filled in, and what a
// command.* event carries.

/** Whether the body (a JSON object's text) has REPLY_FIELD already. */
export function hasReplyField(body: string, field: string | undefined): boolean {
  return field !== undefined && Object.hasOwn(JSON.parse(body) as object, field);
}

/**
 * The command's body with its id in REPLY_FIELD, unless it carries that field
 * already (`present`). The body is a JSON object written by JSON.stringify,
 * so the field goes in right after its `{`.
 */
export function withReplyField(body: string, field: string | undefined, id: string, present: boolean): string {
  if (field === undefined || present) return body;
  const entry = `${JSON.stringify(field)}:${JSON.stringify(id)}`;
  return body === '{}' ? `{${entry}}` : `{${entry},${body.slice(1)}`;
}

/** The fields of a command.* event: what the view shows beside type, id, device_sn and received_at. */
export function commandEventFields(commandId: string, cmd: string, reply: string | null): string {
  return `{"command_id":${JSON.stringify(commandId)},"cmd":${JSON.stringify(cmd)},"reply":${reply ?? 'null'}}`;
}

/** A command row as both engines insert it. */
export type CommandRowValues = {
  id: string;
  sn: string;
  cmd: string;
  body: string;
  status: 'queued' | 'failed';
  error: string | null;
  at: number;
  expiresAt: number | null;
  batch: string | null;
  person: string | null;
  actor: string | null;
  /** The process that accepted it (Accepters, store.ts). */
  acceptedBy: string | null;
};

/** The process a store serves, as its command rows name it; unset, they name none. */
export interface Accepting {
  replica?: string;
}

/** The rows of an accepted request (one command, or a fan-out's): one per terminal, each with its id as REPLY_FIELD unless the body has it. */
export function acceptedRows(job: Extract<Job, { kind: 'commands' }>, acceptedBy: string | null): CommandRowValues[] {
  // Whether the client's body carries REPLY_FIELD itself: then it is sent as it is.
  const present = hasReplyField(job.body, job.replyField);
  return job.rows.map((row) => ({
    id: row.id,
    sn: row.sn,
    cmd: job.cmd,
    body: withReplyField(job.body, job.replyField, row.id, present),
    status: row.status,
    error: row.error,
    at: job.at,
    expiresAt: job.expiresAt,
    batch: job.batch,
    person: null,
    actor: job.actor,
    acceptedBy,
  }));
}

/**
 * A reply matched to its command: its command.replied event and what the
 * waiters hear. A person command's reply is about that person: erasing them
 * takes it too.
 */
export function matchedReply(
  match: { id: string; cmd: string; publishedAt: number | null; person: string | null },
  sn: string,
  message: NewEvent,
  receivedAt: number,
): { event: NewEvent; replied: Replied } {
  const person = match.person ?? undefined;
  return {
    event: { ...message, type: 'command.replied', fields: commandEventFields(match.id, match.cmd, message.fields), person },
    replied: {
      commandId: match.id,
      sn,
      cmd: match.cmd,
      publishedAt: match.publishedAt ?? receivedAt,
      repliedAt: receivedAt,
      reply: message.fields,
      ...(person !== undefined && { person }),
    },
  };
}

/**
 * README §Running several replicas, a reply faster than the record of its
 * publish: whether a message that paired with nothing may be given back to
 * be held (a reply candidate, sent by ingest with `hold`), if a command it
 * could answer is queued. Both engines ask this, then their queue.
 */
export function mayHold(
  message: { hold?: boolean; payload?: Uint8Array },
  reply: ReplyCandidate | undefined,
  events: readonly unknown[],
): reply is ReplyCandidate {
  return message.hold === true && message.payload !== undefined && reply !== undefined && events.length === 1;
}
