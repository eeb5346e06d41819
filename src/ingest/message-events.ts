import type { EventType, NewEvent } from '../events/events.ts';
import { contentId, randomId } from '../events/ids.ts';
import type { FaceRecord, Uplink } from '../protocol/uplink.ts';

// What a decoded upLink message stands for, as events (README §Upstream
// messages): a face record each, typed by FORWARD, with its image unless
// IMAGES=omit; anything else one device message.

/** FORWARD and IMAGES (README §Configuration): what a record becomes, and whether its images are kept. */
export interface EventPolicy {
  forward: 'passed' | 'all';
  images: 'inline' | 'omit';
}

/** README §Upstream messages: a record passes when personType is 1 (string or number) and verifiedCode is 0. */
export function isPassed(record: FaceRecord): boolean {
  return (record.personType === '1' || record.personType === 1) && record.verifiedCode === 0;
}

/** The events one decoded upLink message stands for (none for a heartbeat). */
export function eventsFromUplink(sn: string, msg: Uplink, receivedAt: number, policy: EventPolicy): NewEvent[] {
  if ('records' in msg) {
    return msg.records.map((record, i) => {
      const type: EventType =
        msg.cmd === 'strangerRecordU' ? 'face.stranger' : policy.forward === 'all' || isPassed(record) ? 'face.verified' : 'face.rejected';
      const image = msg.images[i];
      return {
        // Same serial and same record content (image included) → same id, so a
        // retransmitted or re-uploaded record is stored once (README §Events and their ids).
        id: contentId(sn, record, image?.text),
        type,
        deviceSn: sn,
        receivedAt,
        // IMAGES=omit: no image of the record is kept, whatever its key (README §Configuration).
        fields: policy.images === 'omit' ? JSON.stringify(record, withoutImages) : msg.fields[i],
        image: policy.images === 'omit' || !image?.content.length ? undefined : image.content,
        // README §People on the terminals, ?erase=true: a person's passes are found by their num.
        person: msg.cmd === 'verifiedRecordU' ? personOf(record.num) : undefined,
      };
    });
  }
  if ('body' in msg) {
    // A device message has no time or image of its own: two identical replies
    // to two commands are two messages, so each gets an id of its own (a
    // retransmitted reply may then be kept twice, never lost).
    const fields = JSON.stringify(msg.body, policy.images === 'omit' ? withoutImages : undefined);
    // A message naming a person (a late answer to an enrolment): erasing them takes it too.
    const num = msg.body.num;
    const person = typeof num === 'string' || typeof num === 'number' ? personOf(num) : undefined;
    return [{ id: randomId('evt'), type: 'device.message', deviceSn: sn, receivedAt, fields, person }];
  }
  return [];
}

/** A record's num as the API's `{num}` names it (1 to 64 characters), or none. */
function personOf(num: string | number | undefined): string | undefined {
  if (num === undefined) return undefined;
  const text = String(num);
  // No person's number holds a NUL (the API refuses one), and PostgreSQL's text column could not hold it.
  return text.length > 0 && text.length <= 64 && !text.includes('\u0000') ? text : undefined;
}

/**
 * IMAGES=omit means no image leaves the bridge: a face record may carry more
 * than its liveImageBase64 (a snapshot, a photo), and a terminal's reply may
 * carry one too (a photo it was asked for, an enrolment echoed back). Text
 * under a key that names an image, a photo or base64, at any depth, is left out.
 */
const IMAGE_LIKE_KEY = /image|photo|base64/i;
function withoutImages(key: string, value: unknown): unknown {
  return typeof value === 'string' && IMAGE_LIKE_KEY.test(key) ? undefined : value;
}
