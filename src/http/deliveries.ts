import { Hono } from 'hono';
import * as v from 'valibot';
import type { AppDeps, Env } from './app.ts';
import { ApiError, invalid } from './errors.ts';

export const DeliveryListQuery = v.object({
  status: v.optional(v.picklist(['pending', 'delivered', 'dead'], 'status is pending, delivered or dead')),
  endpoint: v.optional(v.pipe(v.string(), v.nonEmpty('endpoint must not be empty'))),
  event: v.optional(v.pipe(v.string(), v.nonEmpty('event must not be empty'))),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, 'limit must be a whole number'), v.transform(Number), v.minValue(1), v.maxValue(500)), '50'),
  cursor: v.optional(v.pipe(v.string(), v.regex(/^dlv_\d+$/, 'cursor must be a next_cursor of this list'))),
});

type Row = ReturnType<AppDeps['reads']['deliveries']>[number];

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function view(row: Row) {
  return {
    id: `dlv_${row.seq}`,
    event_id: row.eventId,
    event_type: row.eventType,
    endpoint_id: row.endpointId,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.status === 'pending' ? iso(row.nextAttemptAt) : null,
    last_attempt_at: iso(row.lastAttemptAt),
    last_status: row.lastStatus,
    last_error: row.lastError,
    created_at: iso(row.createdAt),
    delivered_at: iso(row.deliveredAt),
  };
}

function seqOf(id: string): number {
  const match = /^dlv_(\d+)$/.exec(id);
  if (!match) throw new ApiError('not_found', `no delivery ${id}`);
  return Number(match[1]);
}

export function deliveryRoutes({ reads, writer, delivery }: AppDeps) {
  const app = new Hono<Env>();

  app.get('/', (c) => {
    const query = v.safeParse(DeliveryListQuery, c.req.query());
    if (!query.success) throw invalid(query.issues);
    const { status, endpoint, event, limit, cursor } = query.output;
    const rows = reads.deliveries({ status, endpointId: endpoint, eventId: event, before: cursor !== undefined ? seqOf(cursor) : undefined, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return c.json({ items: page.map(view), next_cursor: rows.length > limit ? `dlv_${page.at(-1)!.seq}` : null });
  });

  app.get('/:id', (c) => {
    const row = reads.delivery(seqOf(c.req.param('id')));
    if (!row) throw new ApiError('not_found', `no delivery ${c.req.param('id')}`);
    return c.json(view(row));
  });

  // A dead delivery goes back to the queue, due now; its attempts so far stay counted.
  app.post('/:id/retry', async (c) => {
    const seq = seqOf(c.req.param('id'));
    const row = reads.delivery(seq);
    if (!row) throw new ApiError('not_found', `no delivery ${c.req.param('id')}`);
    if (row.status !== 'dead') throw new ApiError('conflict', `delivery ${c.req.param('id')} is ${row.status}, not dead`);
    await writer.write({ kind: 'retry-delivery', seq, at: Date.now() });
    delivery.wakeAll();
    return c.json(view(reads.delivery(seq)!), 202);
  });

  return app;
}
