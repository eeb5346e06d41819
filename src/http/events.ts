import * as v from 'valibot';
import { EVENT_TYPES, type EventType, isEventType } from '../events/events.ts';
import { apiView, listedView } from '../events/view.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { Limit, listPage, PAGED, Page, seqWindow, shownShort } from './list.ts';
import { content, error, json, type Route, route } from './route.ts';

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
  return v.optional(
    v.pipe(
      v.string(),
      v.isoTimestamp(message),
      v.transform(parseTimestamp),
      v.check((ms) => !Number.isNaN(ms), message),
    ),
  );
};

/** Filters shared by the list and the live stream: `type` may be a comma list. */
export const EventFilter = v.object({
  type: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((t) => t.trim())),
      v.check((types) => types.every(isEventType), `type must be one of ${EVENT_TYPES.join(', ')}`),
      v.transform((types) => types as EventType[]),
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

// The views' shapes, for the API's document (README §HTTP API, §What the backend receives). A
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
// README §Alerts in chat apps.
const DeadEvent = v.object({
  type: v.literal('delivery.dead'),
  id: v.string(),
  received_at: v.string(),
  has_image: v.boolean(),
  delivery_id: v.string(),
  event_id: v.string(),
  endpoint_id: v.string(),
  attempts: v.number(),
  last_status: v.nullable(v.number()),
});
const DisabledEvent = v.object({
  type: v.literal('endpoint.disabled'),
  id: v.string(),
  has_image: v.boolean(),
  endpoint_id: v.string(),
  url: v.string(),
  reason: v.string(),
});
const ClockSkewEvent = v.object({ type: v.literal('device.clock_skew'), ...shown, skew_seconds: v.number(), record_time: v.string() });
const BrokerDropsEvent = v.object({
  type: v.literal('broker.drops'),
  id: v.string(),
  has_image: v.boolean(),
  dropped: v.number(),
  source: v.picklist(['probe', 'broker']),
  sent: v.nullable(v.number()),
  received_at: v.string(),
});
/** apiView's answer. */
export const EventSchema = v.union([FaceEvent, PresenceEvent, MessageEvent, DeadEvent, DisabledEvent, ClockSkewEvent, BrokerDropsEvent]);
/** listedView's answer: whole, or short. */
export const ListedEventSchema = v.union([
  ...EventSchema.options,
  v.object({ type: v.picklist(EVENT_TYPES), ...shown, truncated: v.literal(true), fields_bytes: v.number() }),
]);

export function eventRoutes({ store }: AppDeps): Route[] {
  const found = async (id: string) => {
    const row = await store.eventById(id);
    if (!row) throw new ApiError('not_found', `no event ${id}`);
    return row;
  };

  const list = route(
    {
      method: 'get',
      path: '/api/events',
      operationId: 'listEvents',
      tag: 'events',
      summary: 'Events newest first, as webhook bodies without the image',
      description: `${PAGED} ${shownShort("stored fields (a terminal's message as sent) are", 'fields_bytes')} GET /api/events/{id} gives it whole. since and until are turned into positions in arrival order.`,
      query: EventListQuery,
      responses: { 200: json(Page(ListedEventSchema), 'a page of events') },
    },
    async (c, { query }) => {
      const { device, since, until, limit, cursor } = query;
      const types = query.type && [...new Set(query.type)];
      const empty = () => listPage(c, { limit, keys: [], item: () => undefined, cursorOf: String, rest: null });
      const stored = await store.eventBounds();
      if (stored.first === undefined || stored.last === undefined) return empty();
      // since and until are positions in arrival order (listQueries.firstSeqFrom): the list is seqs in [floor, below).
      let floor = stored.first;
      let below = Math.min(cursor ?? Infinity, stored.last + 1);
      if (since !== undefined) floor = Math.max(floor, (await store.firstSeqFrom(since)) ?? Infinity);
      if (until !== undefined) below = Math.min(below, ((await store.lastSeqBefore(until)) ?? -Infinity) + 1);
      if (below <= floor) return empty();
      // One type, or one terminal, is one index holding only matching events;
      // several types, or a type and a terminal, are checked row by row: within a window.
      const windowed = (types?.length ?? 0) > 1 || (types !== undefined && device !== undefined);
      const range = seqWindow(below, floor, windowed);
      const seqs = await store.eventSeqs({ types, device, from: range.from, below: range.below, limit: limit + 1 });
      return listPage(c, {
        limit,
        keys: seqs,
        item: async (seq) => {
          const row = await store.listedEvent(seq);
          return row && listedView(row);
        },
        cursorOf: String,
        rest: range.rest ? String(range.from) : null,
      });
    },
  );

  const one = route(
    {
      method: 'get',
      path: '/api/events/{id}',
      operationId: 'getEvent',
      tag: 'events',
      summary: 'One event, whole',
      responses: { 200: json(EventSchema, 'the event'), 404: error('no such event') },
    },
    async (c) => c.json(apiView(await found(c.req.param('id')))),
  );

  const image = route(
    {
      method: 'get',
      path: '/api/events/{id}/image',
      operationId: 'getEventImage',
      tag: 'events',
      summary: 'The face image (image/jpeg)',
      responses: { 200: content('image/jpeg', 'the JPEG'), 404: error('no such event, or it has no image') },
    },
    async (c) => {
      const id = c.req.param('id');
      // Its key only: the fields (a message may be megabytes) are not needed here.
      const row = await store.eventKey(id);
      if (!row) throw new ApiError('not_found', `no event ${id}`);
      const stored = row.hasImage ? await store.image(row.seq) : undefined;
      if (!stored) throw new ApiError('not_found', `event ${id} has no image`);
      // Stored as JSON string content (NewEvent.image): escapes, such as the
      // line breaks of base64 wrapped at 76 columns, are undone first.
      const base64 = stored.includes('\\') ? (JSON.parse(`"${stored}"`) as string) : stored;
      return c.body(Buffer.from(base64, 'base64'), 200, { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=86400' });
    },
  );

  return [list, one, image];
}
