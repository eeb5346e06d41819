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
  // README §Alerts in chat apps: a delivery gave up, a receiver's 410 disabled its endpoint, a terminal's clock is off.
  'delivery.dead',
  'endpoint.disabled',
  'device.clock_skew',
  // README §Broker settings you must set: an external broker drops messages it had queued (its start probe, or its own count).
  'broker.drops',
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
   * The image as it stands between the quotes of a JSON string (UTF-8),
   * which the webhook body splices in as it is. For base64, which needs no
   * escaping, that is the base64 itself: often a view of the payload's own
   * bytes (protocol/lifted-images.ts).
   */
  image?: Uint8Array;
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

/** README §Alerts in chat apps: what delivery.dead says of the delivery that gave up. */
export interface DeadDelivery {
  deliverySeq: number;
  eventId: string;
  eventType: EventType;
  endpointId: string;
  attempts: number;
  lastStatus: number | null;
}

/**
 * Events about deliveries and endpoints: a delivery of one of them that
 * gives up makes no delivery.dead, so two failing endpoints cannot feed
 * each other alerts about each other's alerts for ever.
 */
export const ABOUT_DELIVERY: ReadonlySet<EventType> = new Set(['delivery.dead', 'endpoint.disabled']);

export function deadDeliveryEvent(dead: DeadDelivery, at: number): NewEvent {
  return {
    id: randomId('evt'),
    type: 'delivery.dead',
    // About an endpoint, not a terminal: its body has no device_sn (README §What the backend receives), nor does GET /api/events?device= find it.
    deviceSn: '',
    receivedAt: at,
    fields: JSON.stringify({
      delivery_id: `dlv_${dead.deliverySeq}`,
      event_id: dead.eventId,
      endpoint_id: dead.endpointId,
      attempts: dead.attempts,
      last_status: dead.lastStatus,
    }),
  };
}

/** A receiver answered 410 and its endpoint is disabled; `url` is shown as the API shows it (password masked). */
export function endpointDisabledEvent(endpointId: string, url: string, reason: string, at: number): NewEvent {
  return { id: randomId('evt'), type: 'endpoint.disabled', deviceSn: '', receivedAt: at, fields: JSON.stringify({ endpoint_id: endpointId, url, reason }) };
}

/** An external broker dropped messages it had acknowledged and queued: in the start probe (`sent` of them) or by its own count. */
export function brokerDropsEvent(dropped: number, source: 'probe' | 'broker', sent: number | null, at: number): NewEvent {
  // About the broker, not a terminal: no device_sn, as delivery.dead.
  return { id: randomId('evt'), type: 'broker.drops', deviceSn: '', receivedAt: at, fields: JSON.stringify({ dropped, source, sent }) };
}

/** A terminal's record time differs from its receipt by more than CLOCK_SKEW: `skewSeconds` is record time − receipt. */
export function clockSkewEvent(sn: string, skewSeconds: number, recordTime: string, at: number): NewEvent {
  return {
    id: randomId('evt'),
    type: 'device.clock_skew',
    deviceSn: sn,
    receivedAt: at,
    fields: JSON.stringify({ skew_seconds: skewSeconds, record_time: recordTime }),
  };
}
