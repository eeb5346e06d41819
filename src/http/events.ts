import * as v from 'valibot';
import { eventView } from '../delivery/body.ts';
import { EVENT_TYPES } from '../events/events.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { Limit, listPage, PAGED, Page, seqWindow, shownShort } from './list.ts';
import { content, error, json, type Route, route } from './route.ts';

type Row = NonNullable<ReturnType<AppDeps['reads']['event']>>;
type Listed = NonNullable<ReturnType<AppDeps['reads']['listedEvent']>>;

/** An event as the API shows it: the webhook body without the image, `has_image` instead (SPEC §HTTP API). */
export function apiView(row: Row) {
  return { ...eventView(row), has_image: row.hasImage };
}

/**
 * An event as lists and the live stream show it: as apiView, or, when its
 * fields are over SHOWN_BYTES (a terminal's message of megabytes), short:
 * what it is, `truncated` and the size of its fields, which
 * GET /api/events/{id} gives whole (README §HTTP API, Lists).
 */
export function listView(row: Listed) {
  if (row.fields === null) {
    return { type: row.type, id: row.id, device_sn: row.deviceSn, received_at: new Date(row.receivedAt).toISOString(), has_image: row.hasImage, truncated: true, fields_bytes: row.fieldsBytes };
  }
  return apiView({ ...row, fields: row.fields });
}

/**
 * The instant of a text valibot's isoTimestamp let through, or NaN for a day
 * its month does not have. Date.parse alone misreads some of those texts: NaN
 * for a space before the offset or an offset of hours only, years 0–99 taken
 * as 19xx/20xx after a space separator, and 02-30 rolled over into March.
 */
export function parseTimestamp(text: string): number {
  const match = /^(\d{4}-\d\d-\d\d)[T ]([\d:.]+) ?(?:Z|([+-]\d\d):?(\d\d)?)$/.exec(text);
  if (!match) return NaN;
  const [, date, time, hours, minutes = '00'] = match;
  const day = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== date) return NaN;
  return Date.parse(`${date}T${time}${hours ? `${hours}:${minutes}` : 'Z'}`);
}

const timestamp = (name: string) => {
  const message = `${name} must be an ISO 8601 timestamp such as 2026-11-22T00:00:00Z`;
  return v.optional(v.pipe(v.string(), v.isoTimestamp(message), v.transform(parseTimestamp), v.check((ms) => !Number.isNaN(ms), message)));
};

/** Filters shared by the list and the live stream: `type` may be a comma list. */
export const EventFilter = v.object({
  type: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((t) => t.trim())),
      v.check((types) => types.every((t) => (EVENT_TYPES as readonly string[]).includes(t)), `type must be one of ${EVENT_TYPES.join(', ')}`),
    ),
  ),
  device: v.optional(v.pipe(v.string(), v.nonEmpty('device must not be empty'))),
});

export const EventListQuery = v.object({
  ...EventFilter.entries,
  since: timestamp('since'),
  until: timestamp('until'),
  limit: Limit,
  // The cursor is a seq: the page holds events before it. New events get higher ones, so pages stay put while events arrive.
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, 'cursor must be a next_cursor of this list'), v.transform(Number))),
});

// The views' shapes, for the API's document (SPEC §HTTP API, §Webhooks). A
// face event keeps the terminal's values as sent, whatever their type.
const shown = { id: v.string(), device_sn: v.string(), received_at: v.string(), has_image: v.boolean() };
const FaceEvent = v.object({
  type: v.picklist(['face.verified', 'face.rejected', 'face.stranger']),
  ...shown,
  user_id: v.optional(v.unknown()),
  name: v.optional(v.unknown()),
  verifiedCode: v.optional(v.unknown()),
  bot_time: v.optional(v.unknown()),
  personType: v.optional(v.unknown()),
});
const PresenceEvent = v.object({ type: v.picklist(['device.online', 'device.offline']), ...shown, last_seen_at: v.optional(v.unknown()) });
const MessageEvent = v.object({ type: v.literal('device.message'), ...shown, message: v.record(v.string(), v.unknown()) });
/** apiView's answer. */
export const EventSchema = v.union([FaceEvent, PresenceEvent, MessageEvent]);
/** listView's answer: whole, or short. */
export const ListedEventSchema = v.union([...EventSchema.options, v.object({ type: v.picklist(EVENT_TYPES), ...shown, truncated: v.literal(true), fields_bytes: v.number() })]);

export function eventRoutes({ reads }: AppDeps): Route[] {
  const found = (id: string) => {
    const row = reads.eventById(id);
    if (!row) throw new ApiError('not_found', `no event ${id}`);
    return row;
  };

  const list = route({
    method: 'get', path: '/api/events', operationId: 'listEvents', tag: 'events',
    summary: 'Events newest first, as webhook bodies without the image',
    description: `${PAGED} ${shownShort("stored fields (a terminal's message as sent) are", 'fields_bytes')} GET /api/events/{id} gives it whole. since and until are turned into positions in arrival order.`,
    query: EventListQuery,
    responses: { 200: json(Page(ListedEventSchema), 'a page of events') },
  }, (c, { query }) => {
    const { device, since, until, limit, cursor } = query;
    const types = query.type && [...new Set(query.type)];
    const empty = () => listPage(c, { limit, keys: [], item: () => undefined, cursorOf: String, rest: null });
    const stored = reads.eventBounds();
    if (stored.first === undefined || stored.last === undefined) return empty();
    // since and until are positions in arrival order (listQueries.firstSeqFrom): the list is seqs in [floor, below).
    let floor = stored.first;
    let below = Math.min(cursor ?? Infinity, stored.last + 1);
    if (since !== undefined) floor = Math.max(floor, reads.firstSeqFrom(since) ?? Infinity);
    if (until !== undefined) below = Math.min(below, (reads.lastSeqBefore(until) ?? -Infinity) + 1);
    if (below <= floor) return empty();
    // One type, or one terminal, is one index holding only matching events;
    // several types, or a type and a terminal, are checked row by row: within a window.
    const windowed = (types?.length ?? 0) > 1 || (types !== undefined && device !== undefined);
    const range = seqWindow(below, floor, windowed);
    const seqs = reads.eventSeqs({ types, device, from: range.from, below: range.below, limit: limit + 1 });
    return listPage(c, {
      limit,
      keys: seqs,
      item: (seq) => {
        const row = reads.listedEvent(seq);
        return row && listView(row);
      },
      cursorOf: String,
      rest: range.rest ? String(range.from) : null,
    });
  });

  const one = route({
    method: 'get', path: '/api/events/{id}', operationId: 'getEvent', tag: 'events',
    summary: 'One event, whole',
    responses: { 200: json(EventSchema, 'the event'), 404: error('no such event') },
  }, (c) => c.json(apiView(found(c.req.param('id')))));

  const image = route({
    method: 'get', path: '/api/events/{id}/image', operationId: 'getEventImage', tag: 'events',
    summary: 'The face image (image/jpeg)',
    responses: { 200: content('image/jpeg', 'the JPEG'), 404: error('no such event, or it has no image') },
  }, (c) => {
    const id = c.req.param('id');
    // Its key only: the fields (a message may be megabytes) are not needed here.
    const row = reads.eventKey(id);
    if (!row) throw new ApiError('not_found', `no event ${id}`);
    const stored = row.hasImage ? reads.image(row.seq) : undefined;
    if (!stored) throw new ApiError('not_found', `event ${id} has no image`);
    // Stored as JSON string content (NewEvent.image): escapes, such as the
    // line breaks of base64 wrapped at 76 columns, are undone first.
    const base64 = stored.includes('\\') ? (JSON.parse(`"${stored}"`) as string) : stored;
    return c.body(Buffer.from(base64, 'base64'), 200, { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=86400' });
  });

  return [list, one, image];
}
