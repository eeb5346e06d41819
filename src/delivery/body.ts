import type { EventRecord } from '../events/events.ts';
import { eventView } from '../events/view.ts';

// Stands in for the image while the rest is serialized. Where it lands is
// found by the key and the quotes around it, which a string inside the JSON
// cannot contain unescaped.
const IMAGE_SLOT = 'facegate-image-slot';
const SLOT = `"img":"${IMAGE_SLOT}"`;

/**
 * The webhook body as bytes: the event's view (events/view.ts). The image (base64, ~36 KB) is copied in as the
 * bytes the database gave, never made a JavaScript string: at a thousand
 * deliveries a second, strings of that size were most of what the main
 * thread's heap grew by. It is stored ready for this: as JSON string content
 * (NewEvent.image).
 */
export function webhookBody(event: Pick<EventRecord, 'id' | 'type' | 'deviceSn' | 'receivedAt' | 'fields'>, image?: Buffer): Buffer {
  const json = JSON.stringify(eventView(event, image && IMAGE_SLOT));
  if (!image) return Buffer.from(json);
  const at = json.indexOf(SLOT) + '"img":"'.length;
  return Buffer.concat([Buffer.from(json.slice(0, at)), image, Buffer.from(json.slice(at + IMAGE_SLOT.length))]);
}
