import { randomId } from './ids.ts';

export const EVENT_TYPES = [
  'face.verified',
  'face.rejected',
  'face.stranger',
  'device.online',
  'device.offline',
  'device.message',
  // README §Commands with replies: a command's reply matched, none within REPLY_WINDOW, its ttl run out before it went out.
  'command.replied',
  'command.unanswered',
  'command.expired',
  // README §People on the terminals: every targeted terminal applied a person's change; a terminal refused it.
  'person.synced',
  'person.sync_failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const isEventType = (text: string): text is EventType => (EVENT_TYPES as readonly string[]).includes(text);

/** An event as the store holds it: its position in arrival order (the cursor of lists and of the live stream) and what it is. */
export interface StoredEvent {
  seq: number;
  id: string;
  type: EventType;
  deviceSn: string;
  receivedAt: number;
}

/** A stored event whole: its fields (JSON text, as NewEvent's) and whether an image is stored with it. */
export interface EventRecord extends StoredEvent {
  fields: string;
  hasImage: boolean;
}

/**
 * A stored event as lists and the live stream read it: its fields only when
 * they take at most SHOWN_BYTES (null otherwise), and their size in bytes.
 */
export interface ListedEvent extends StoredEvent {
  hasImage: boolean;
  fields: string | null;
  fieldsBytes: number;
}

/** An event about to be stored. `fields` is JSON text of what the terminal sent, minus the image. */
export interface NewEvent {
  id: string;
  type: EventType;
  deviceSn: string;
  receivedAt: number;
  fields: string;
  /**
   * The image as it stands between the quotes of a JSON string, which the
   * webhook body splices in as it is. For base64, which needs no escaping,
   * that is the base64 itself.
   */
  image?: string;
  /** The person it is about (a verified record's num, a person command's reply, a person.* event): what erasing a person finds it by. */
  person?: string;
}

export function presenceEvent(sn: string, online: boolean, at: number, lastSeenAt: number | null): NewEvent {
  return {
    id: randomId('evt'),
    type: online ? 'device.online' : 'device.offline',
    deviceSn: sn,
    receivedAt: at,
    fields: JSON.stringify({ last_seen_at: lastSeenAt === null ? null : new Date(lastSeenAt).toISOString() }),
  };
}
