import type { EventType } from '../events/events.ts';

export interface EventRow {
  id: string;
  type: string;
  deviceSn: string;
  receivedAt: number;
  fields: string;
}

/**
 * The JSON an event is shown as (SPEC §Webhooks). A face event keeps the
 * original bridge's six fields with the terminal's values exactly as sent, so
 * a backend written for it keeps working; metadata comes beside them.
 * `img` is present only when given (IMAGES=inline and the event has one).
 */
export function eventView(row: EventRow, img?: string): Record<string, unknown> {
  const fields = JSON.parse(row.fields) as Record<string, unknown>;
  const meta = { type: row.type, id: row.id, device_sn: row.deviceSn };
  const receivedAt = new Date(row.receivedAt).toISOString();
  switch (row.type as EventType) {
    case 'face.verified':
    case 'face.rejected':
    case 'face.stranger':
      return {
        ...meta,
        user_id: fields.num,
        name: fields.name,
        img,
        verifiedCode: fields.verifiedCode,
        bot_time: fields.time,
        personType: fields.personType,
        received_at: receivedAt,
      };
    case 'device.online':
    case 'device.offline':
      return { ...meta, last_seen_at: fields.last_seen_at, received_at: receivedAt };
    case 'device.message':
      return { ...meta, message: fields, received_at: receivedAt };
  }
}

// Stands in for the image while the rest is serialized. Where it lands is
// found by the key and the quotes around it, which a string inside the JSON
// cannot contain unescaped.
const IMAGE_SLOT = 'facegate-image-slot';
const SLOT = `"img":"${IMAGE_SLOT}"`;

/**
 * The webhook body as bytes. The image (base64, ~36 KB) is copied in as the
 * bytes the database gave, never made a JavaScript string: at a thousand
 * deliveries a second, strings of that size were most of what the main
 * thread's heap grew by. It is stored ready for this: as JSON string content
 * (NewEvent.image).
 */
export function webhookBody(row: EventRow, image?: Buffer): Buffer {
  const json = JSON.stringify(eventView(row, image && IMAGE_SLOT));
  if (!image) return Buffer.from(json);
  const at = json.indexOf(SLOT) + '"img":"'.length;
  return Buffer.concat([Buffer.from(json.slice(0, at)), image, Buffer.from(json.slice(at + IMAGE_SLOT.length))]);
}
