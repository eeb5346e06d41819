import * as v from 'valibot';
import { EVENT_TYPES } from '../events/events.ts';
import { isSerial } from '../protocol/serial.ts';
import type { Terminal } from '../store/store.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { Limit, listPage, Page } from './list.ts';
import { empty, error, json, type Route, route } from './route.ts';
import { SerialParam } from './serial-param.ts';

type Row = Terminal;

export const DeviceListQuery = v.object({
  online: v.optional(
    v.pipe(
      v.picklist(['true', 'false'], 'online must be true or false'),
      v.transform((s) => s === 'true'),
    ),
  ),
  limit: Limit,
  // The cursor is the serial of the last item seen: the list is in serial order, so pages stay put while terminals come and go.
  cursor: v.optional(v.pipe(v.string(), v.check(isSerial, 'cursor must be a next_cursor of this list'))),
});

/** A label: 1 to 64 characters of text, no control character; null clears it. */
export const LabelBody = v.object({
  label: v.nullable(
    v.pipe(
      v.string('label must be a string or null'),
      v.trim(),
      v.minLength(1, 'label must not be empty (null clears it)'),
      v.maxLength(64, 'label must be at most 64 characters'),
      v.check((text) => !/\p{Cc}/u.test(text), 'label must not hold control characters'),
    ),
  ),
});

/** A terminal as the list shows it. */
export const TerminalSchema = v.object({
  sn: v.string(),
  label: v.nullable(v.string()),
  online: v.boolean(),
  registered: v.boolean(),
  first_seen_at: v.nullable(v.string()),
  last_seen_at: v.nullable(v.string()),
});

/** One terminal: with its events since local midnight, counted by type. */
export const TerminalTodaySchema = v.object({ ...TerminalSchema.entries, today: v.record(v.picklist(EVENT_TYPES), v.number()) });

/** Rows read at a time while looking for terminals in the online state asked for (it lives in presence, not in the table). */
const FILTERED_CHUNK = 500;

export function deviceRoutes({ store, presence, log }: AppDeps): Route[] {
  // Online state and last-seen come from presence, which is ahead of the
  // database by up to one sweep.
  const view = (row: Row): v.InferOutput<typeof TerminalSchema> => ({
    sn: row.sn,
    label: row.label,
    online: presence.isOnline(row.sn),
    registered: row.registered,
    first_seen_at: iso(row.firstSeenAt),
    last_seen_at: iso(presence.lastSeen(row.sn) ?? row.lastSeenAt),
  });

  // Paged like every list (README §Lists): a site has thousands of terminals, one page is never all of them.
  const list = route(
    {
      method: 'get',
      path: '/api/devices',
      operationId: 'listDevices',
      tag: 'devices',
      summary: 'Terminals with their online state, in serial order, paged',
      query: DeviceListQuery,
      responses: { 200: json(Page(TerminalSchema), 'a page of terminals') },
    },
    async (c, { query }) => {
      const { online, limit, cursor } = query;
      return listPage(c, {
        limit,
        keys: terminalsFrom(
          store,
          cursor,
          online === undefined ? limit + 1 : FILTERED_CHUNK,
          (row) => online === undefined || presence.isOnline(row.sn) === online,
        ),
        item: view,
        cursorOf: (row) => row.sn,
        rest: null,
      });
    },
  );

  const one = route(
    {
      method: 'get',
      path: '/api/devices/{sn}',
      operationId: 'getDevice',
      tag: 'devices',
      summary: 'One terminal',
      params: SerialParam,
      responses: { 200: json(TerminalTodaySchema, "the terminal, with today's events counted by type"), 404: error('no such terminal, or no serial') },
    },
    async (c, { params: { sn } }) => {
      const row = await store.terminal(sn);
      if (!row) throw new ApiError('not_found', `no terminal ${sn} is known`);
      // "Today" is the bridge's local day, the one its heartD answers and the terminals' clocks show.
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      const today = Object.fromEntries((await store.eventCounts(row.sn, midnight.getTime())).map(({ type, count }) => [type, count]));
      return c.json({ ...view(row), today });
    },
  );

  // The way back from a flood of made-up serials (README §HTTP API): the row
  // goes, its events stay until retention. A terminal in DEVICES is back at
  // the next start; one that still sends is learned again.
  const forget = route(
    {
      method: 'delete',
      path: '/api/devices/{sn}',
      operationId: 'forgetDevice',
      tag: 'devices',
      summary: 'Forget a terminal (its events stay); one in DEVICES is back at the next start, one still sending is learned again',
      params: SerialParam,
      responses: { 204: empty('forgotten'), 404: error('no such terminal, or no serial') },
    },
    async (c, { params: { sn } }) => {
      if (!presence.knows(sn) && !(await store.terminal(sn))) throw new ApiError('not_found', `no terminal ${sn} is known`);
      // Presence first: a message after this point is a new serial's, and its
      // writes queue behind the deletion.
      presence.forget(sn);
      await store.write({ kind: 'forget', serials: [sn] });
      log.info({ device: sn }, 'terminal forgotten by API');
      return c.body(null, 204);
    },
  );

  // README §HTTP API, labels: where a terminal stands, named once, shown beside its serial (the console, alerts in chat apps).
  const label = route(
    {
      method: 'put',
      path: '/api/devices/{sn}/label',
      operationId: 'labelDevice',
      tag: 'devices',
      summary: 'Name where a terminal stands ("3F east door"), or clear it with null',
      params: SerialParam,
      body: LabelBody,
      responses: { 200: json(TerminalSchema, 'the terminal, labelled'), 404: error('no such terminal, or no serial') },
    },
    async (c, { params: { sn }, body }) => {
      const { changed } = await store.write({ kind: 'terminal-label', sn, label: body.label });
      if (!changed) throw new ApiError('not_found', `no terminal ${sn} is known`);
      log.info({ device: sn, label: body.label }, 'terminal labelled');
      const row = await store.terminal(sn);
      if (!row) throw new ApiError('not_found', `no terminal ${sn} is known`);
      return c.json(view(row));
    },
  );

  return [list, one, forget, label];
}

/**
 * The terminals after a serial, in serial order, that pass `keep`: read
 * `chunk` rows at a time, as far as the page that takes them goes.
 */
async function* terminalsFrom(store: AppDeps['store'], after: string | undefined, chunk: number, keep: (row: Row) => boolean): AsyncGenerator<Row> {
  for (;;) {
    const rows = await store.terminalsAfter(after, chunk);
    for (const row of rows) if (keep(row)) yield row;
    if (rows.length < chunk) return;
    after = rows.at(-1)!.sn;
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
