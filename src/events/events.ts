import { createHash, randomBytes } from 'node:crypto';
import type { FaceRecord, Uplink } from '../protocol/uplink.ts';

export const EVENT_TYPES = ['face.verified', 'face.rejected', 'face.stranger', 'device.online', 'device.offline', 'device.message'] as const;
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
}

export interface EventPolicy {
  forward: 'passed' | 'all';
  images: 'inline' | 'omit';
}

/** SPEC §The terminal protocol: a record passes when personType is 1 (string or number) and verifiedCode is 0. */
export function isPassed(record: FaceRecord): boolean {
  return (record.personType === '1' || record.personType === 1) && record.verifiedCode === 0;
}

/** The events one decoded upLink message stands for (none for a heartbeat). */
export function eventsFromUplink(sn: string, msg: Uplink, receivedAt: number, policy: EventPolicy): NewEvent[] {
  if ('records' in msg) {
    return msg.records.map((record, i) => {
      const type: EventType =
        msg.cmd === 'strangerRecordU' ? 'face.stranger' : policy.forward === 'all' || isPassed(record) ? 'face.verified' : 'face.rejected';
      const { liveImageBase64 } = record;
      return {
        // Same serial and same record content (image included) → same id, so a
        // retransmitted or re-uploaded record is stored once (SPEC §The terminal protocol).
        id: contentId(sn, record),
        type,
        deviceSn: sn,
        receivedAt,
        // IMAGES=omit: no image of the record is kept, whatever its key (README §Configuration).
        fields: policy.images === 'omit' ? JSON.stringify(record, withoutImages) : msg.fields[i],
        image: policy.images === 'omit' || !liveImageBase64 ? undefined : msg.escaped ? jsonStringContent(liveImageBase64) : liveImageBase64,
      };
    });
  }
  if ('body' in msg) {
    // A device message has no time or image of its own: two identical replies
    // to two commands are two messages, so each gets an id of its own (a
    // retransmitted reply may then be kept twice, never lost).
    const fields = JSON.stringify(msg.body, policy.images === 'omit' ? withoutImages : undefined);
    return [{ id: randomId('evt'), type: 'device.message', deviceSn: sn, receivedAt, fields }];
  }
  return [];
}

/**
 * IMAGES=omit means no image leaves the bridge: a face record may carry more
 * than its liveImageBase64 (a snapshot, a photo), and a terminal's reply may
 * carry one too (a photo it was asked for, an enrolment echoed back). Text
 * under a key that names an image, a photo or base64, at any depth, is left out.
 */
const IMAGE_KEY = /image|photo|base64/i;
function withoutImages(key: string, value: unknown): unknown {
  return typeof value === 'string' && IMAGE_KEY.test(key) ? undefined : value;
}

/** Only for payloads with escapes: for a 36 KB image this costs ~60 µs. */
function jsonStringContent(text: string): string {
  return JSON.stringify(text).slice(1, -1);
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

function contentId(sn: string, record: Record<string, unknown>): string {
  // Key order is not content: a terminal may serialise a re-upload differently.
  // Strings (the image above all) are hashed as they are, not re-serialised;
  // the type tag keeps "1" and 1 apart.
  const parts = [sn];
  for (const key of Object.keys(record).sort()) {
    const value = record[key];
    parts.push(key, typeof value === 'string' ? `s${value}` : `j${JSON.stringify(value)}`);
  }
  return `evt_${digest(parts)}`;
}

function digest(parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('base64url').slice(0, 26);
}

// Each randomBytes call goes into OpenSSL (~8 µs here): 10,000 terminals
// coming online at once spent a quarter of their presence writes on it. One
// call fills the next 256 ids.
const ID_BYTES = 16;
const POOLED_IDS = 256;
let pool = Buffer.alloc(0);
let used = 0;

/** A random id with a type prefix: `cmd_…`, `evt_…` (128 random bits, 22 base64url characters). */
export function randomId(prefix: string): string {
  if (used === pool.length) {
    pool = randomBytes(ID_BYTES * POOLED_IDS);
    used = 0;
  }
  used += ID_BYTES;
  return `${prefix}_${pool.toString('base64url', used - ID_BYTES, used)}`;
}
