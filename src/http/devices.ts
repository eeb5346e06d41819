import { Hono } from 'hono';
import type { AppDeps, Env } from './app.ts';
import { ApiError } from './errors.ts';
import { serialParam } from './serial-param.ts';

type Row = NonNullable<ReturnType<AppDeps['reads']['terminal']>>;

export function deviceRoutes({ reads, presence }: AppDeps) {
  const app = new Hono<Env>();
  // Online state and last-seen come from presence, which is ahead of the
  // database by up to one sweep.
  const view = (row: Row) => ({
    sn: row.sn,
    online: presence.isOnline(row.sn),
    registered: row.registered,
    first_seen_at: iso(row.firstSeenAt),
    last_seen_at: iso(presence.lastSeen(row.sn) ?? row.lastSeenAt),
  });

  app.get('/', (c) => c.json({ items: reads.terminals().map(view), next_cursor: null }));
  app.get('/:sn', (c) => {
    const sn = serialParam(c.req.param('sn'));
    const row = reads.terminal(sn);
    if (!row) throw new ApiError('not_found', `no terminal ${sn} is known`);
    // "Today" is the bridge's local day, the one its heartD answers and the terminals' clocks show.
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const today = Object.fromEntries(reads.eventCounts(row.sn, midnight.getTime()).map(({ type, count }) => [type, count]));
    return c.json({ ...view(row), today });
  });
  return app;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
