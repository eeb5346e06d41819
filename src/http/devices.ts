import { Hono } from 'hono';
import * as v from 'valibot';
import { isSerial } from '../protocol/serial.ts';
import type { Terminal } from '../store/store.ts';
import type { AppDeps, Env } from './deps.ts';
import { ApiError, invalid } from './errors.ts';
import { serialParam } from './serial-param.ts';


export const DeviceListQuery = v.object({
  online: v.optional(v.pipe(v.picklist(['true', 'false'], 'online must be true or false'), v.transform((s) => s === 'true'))),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, 'limit must be a whole number'), v.transform(Number), v.minValue(1, 'limit must be 1 to 500'), v.maxValue(500, 'limit must be 1 to 500')), '50'),
  // The cursor is the serial of the last item seen: the list is in serial order, so pages stay put while terminals come and go.
  cursor: v.optional(v.pipe(v.string(), v.check(isSerial, 'cursor must be a next_cursor of this list'))),
});

/** Rows read at a time while looking for terminals in the online state asked for (it lives in presence, not in the table). */
const FILTERED_CHUNK = 500;

export function deviceRoutes({ store, presence, log }: AppDeps) {
  const app = new Hono<Env>();
  // Online state and last-seen come from presence, which is ahead of the
  // database by up to one sweep.
  const view = (row: Terminal) => ({
    sn: row.sn,
    online: presence.isOnline(row.sn),
    registered: row.registered,
    first_seen_at: iso(row.firstSeenAt),
    last_seen_at: iso(presence.lastSeen(row.sn) ?? row.lastSeenAt),
  });

  // Paged like every list (SPEC §HTTP API): a site has thousands of terminals, one page is never all of them.
  app.get('/', async (c) => {
    const query = v.safeParse(DeviceListQuery, c.req.query());
    if (!query.success) throw invalid(query.issues);
    const { online, limit, cursor } = query.output;
    const chunk = online === undefined ? limit + 1 : FILTERED_CHUNK;
    const found: Terminal[] = [];
    let after = cursor;
    for (;;) {
      const rows = await store.terminalsAfter(after, chunk);
      for (const row of rows) if (found.length <= limit && (online === undefined || presence.isOnline(row.sn) === online)) found.push(row);
      if (found.length > limit || rows.length < chunk) break;
      after = rows.at(-1)!.sn;
    }
    const page = found.slice(0, limit);
    return c.json({ items: page.map(view), next_cursor: found.length > limit ? page.at(-1)!.sn : null });
  });

  app.get('/:sn', async (c) => {
    const sn = serialParam(c.req.param('sn'));
    const row = await store.terminal(sn);
    if (!row) throw new ApiError('not_found', `no terminal ${sn} is known`);
    // "Today" is the bridge's local day, the one its heartD answers and the terminals' clocks show.
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const today = Object.fromEntries((await store.eventCounts(row.sn, midnight.getTime())).map(({ type, count }) => [type, count]));
    return c.json({ ...view(row), today });
  });

  // The way back from a flood of made-up serials (README §HTTP API): the row
  // goes, its events stay until retention. A terminal in DEVICES is back at
  // the next start; one that still sends is learned again.
  app.delete('/:sn', async (c) => {
    const sn = serialParam(c.req.param('sn'));
    if (!presence.knows(sn) && !(await store.terminal(sn))) throw new ApiError('not_found', `no terminal ${sn} is known`);
    // Presence first: a message after this point is a new serial's, and its
    // writes queue behind the deletion.
    presence.forget(sn);
    await store.write({ kind: 'forget', serials: [sn] });
    log.info({ device: sn }, 'terminal forgotten by API');
    return c.body(null, 204);
  });
  return app;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
