import type { EventRecord, ListedEvent } from './events.ts';

// The one view of an event (README §What the backend receives, §HTTP API): the webhook body,
// the API's items and the live stream's data are all this, so a backend
// and an API client see the same event the same way.

/**
 * The JSON an event is shown as. A face event keeps the original bridge's six
 * fields with the terminal's values exactly as sent, so a backend written for
 * it keeps working; metadata comes beside them. `img` is present only when
 * given (a webhook with IMAGES=inline, the event having one).
 */
export function eventView(event: Pick<EventRecord, 'id' | 'type' | 'deviceSn' | 'receivedAt' | 'fields'>, img?: string): Record<string, unknown> {
  const fields = JSON.parse(event.fields) as Record<string, unknown>;
  // Each literal is written out whole: on Node 20, `{ ...meta, more }` made
  // new hidden classes for every event, garbage that only a full collection
  // frees, 1.8 KB a webhook (README §Performance, "The views' hidden classes").
  const { type, id } = event;
  const device_sn = event.deviceSn;
  const receivedAt = new Date(event.receivedAt).toISOString();
  switch (type) {
    case 'face.verified':
    case 'face.rejected':
    case 'face.stranger':
      return {
        type,
        id,
        device_sn,
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
      return { type, id, device_sn, last_seen_at: fields.last_seen_at, received_at: receivedAt };
    case 'device.message':
      return { type, id, device_sn, message: fields, received_at: receivedAt };
    // README §Commands with replies: `reply` is the reply message, null for unanswered and expired.
    case 'command.replied':
    case 'command.unanswered':
    case 'command.expired':
      return { type, id, device_sn, command_id: fields.command_id, cmd: fields.cmd, reply: fields.reply ?? null, received_at: receivedAt };
    // README §People on the terminals: a person is about every terminal once synced (no device_sn), one terminal when it refused.
    case 'person.synced':
      return {
        type,
        id,
        num: fields.num,
        ...(fields.deleted === true && { deleted: true }),
        code: null,
        message: null,
        received_at: receivedAt,
      };
    case 'person.sync_failed':
      return { type, id, device_sn, num: fields.num, code: fields.code ?? null, message: fields.message ?? null, received_at: receivedAt };
    // README §Alerts in chat apps: the bodies of these three as SPEC lists them; the first two are about no terminal.
    case 'delivery.dead':
      return {
        type,
        id,
        delivery_id: fields.delivery_id,
        event_id: fields.event_id,
        endpoint_id: fields.endpoint_id,
        attempts: fields.attempts,
        last_status: fields.last_status,
        received_at: receivedAt,
      };
    case 'endpoint.disabled':
      return { type, id, endpoint_id: fields.endpoint_id, url: fields.url, reason: fields.reason };
    case 'broker.drops':
      return { type, id, dropped: fields.dropped, source: fields.source, sent: fields.sent ?? null, received_at: receivedAt };
    case 'device.clock_skew':
      return { type, id, device_sn, skew_seconds: fields.skew_seconds, record_time: fields.record_time, received_at: receivedAt };
  }
}

/** An event as the API shows it: the webhook body without the image, `has_image` instead (README §HTTP API). */
export function apiView(event: EventRecord): Record<string, unknown> {
  return Object.assign(eventView(event), { has_image: event.hasImage });
}

/**
 * An event as lists and the live stream show it: as apiView, or, when its
 * fields are over SHOWN_BYTES (a terminal's message of megabytes), short:
 * what it is, `truncated` and the size of its fields, which
 * GET /api/events/{id} gives whole (README §HTTP API, Lists).
 */
export function listedView(event: ListedEvent): Record<string, unknown> {
  if (event.fields === null) {
    return {
      type: event.type,
      id: event.id,
      device_sn: event.deviceSn,
      received_at: new Date(event.receivedAt).toISOString(),
      has_image: event.hasImage,
      truncated: true,
      fields_bytes: event.fieldsBytes,
    };
  }
  return apiView({ ...event, fields: event.fields });
}
