import * as v from 'valibot';
import type { Delivery } from '../store/store.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { Limit, listPage, PAGED, Page, seqWindow } from './list.ts';
import { error, json, type Route, route } from './route.ts';

export const DeliveryListQuery = v.object({
  status: v.optional(v.picklist(['pending', 'delivered', 'dead'], 'status is pending, delivered or dead')),
  endpoint: v.optional(v.pipe(v.string(), v.nonEmpty('endpoint must not be empty'))),
  event: v.optional(v.pipe(v.string(), v.nonEmpty('event must not be empty'))),
  limit: Limit,
  cursor: v.optional(v.pipe(v.string(), v.regex(/^dlv_\d+$/, 'cursor must be a next_cursor of this list'))),
});

const Timestamp = v.nullable(v.string());

/** view's answer. */
export const DeliverySchema = v.object({
  id: v.string(),
  event_id: v.string(),
  event_type: v.string(),
  endpoint_id: v.string(),
  status: v.picklist(['pending', 'delivered', 'dead']),
  attempts: v.number(),
  next_attempt_at: Timestamp,
  last_attempt_at: Timestamp,
  last_status: v.nullable(v.number()),
  last_error: v.nullable(v.string()),
  created_at: Timestamp,
  delivered_at: Timestamp,
});

type Row = Delivery;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function view(row: Row): v.InferOutput<typeof DeliverySchema> {
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

export function deliveryRoutes({ store, delivery }: AppDeps): Route[] {
  const list = route(
    {
      method: 'get',
      path: '/api/deliveries',
      operationId: 'listDeliveries',
      tag: 'deliveries',
      summary: 'Deliveries newest first',
      description: PAGED,
      query: DeliveryListQuery,
      responses: { 200: json(Page(DeliverySchema), 'a page of deliveries') },
    },
    async (c, { query }) => {
      const { status, endpoint, event, limit, cursor } = query;
      const empty = () => listPage(c, { limit, keys: [], item: () => undefined, cursorOf: String, rest: null });
      const stored = await store.deliveryBounds();
      if (stored.first === undefined || stored.last === undefined) return empty();
      let eventSeq: number | undefined;
      if (event !== undefined) {
        eventSeq = (await store.eventKey(event))?.seq;
        if (eventSeq === undefined) return empty();
      }
      const below = Math.min(cursor !== undefined ? seqOf(cursor) : Infinity, stored.last + 1);
      if (below <= stored.first) return empty();
      // An endpoint is checked row by row (listQueries.deliverySeqs): within a window. An event has a handful of deliveries.
      const range = seqWindow(below, stored.first, endpoint !== undefined && eventSeq === undefined);
      const seqs = await store.deliverySeqs({ status, endpointId: endpoint, eventSeq, from: range.from, below: range.below, limit: limit + 1 });
      return listPage(c, {
        limit,
        keys: seqs,
        item: async (seq) => {
          const row = await store.delivery(seq);
          return row && view(row);
        },
        cursorOf: (seq) => `dlv_${seq}`,
        rest: range.rest ? `dlv_${range.from}` : null,
      });
    },
  );

  const one = route(
    {
      method: 'get',
      path: '/api/deliveries/{id}',
      operationId: 'getDelivery',
      tag: 'deliveries',
      summary: 'One delivery',
      responses: { 200: json(DeliverySchema, 'the delivery'), 404: error('no such delivery') },
    },
    async (c) => {
      const row = await store.delivery(seqOf(c.req.param('id')));
      if (!row) throw new ApiError('not_found', `no delivery ${c.req.param('id')}`);
      return c.json(view(row));
    },
  );

  // A dead delivery goes back to the queue, due now; its attempts so far stay counted.
  const retry = route(
    {
      method: 'post',
      path: '/api/deliveries/{id}/retry',
      operationId: 'retryDelivery',
      tag: 'deliveries',
      summary: 'A dead delivery back to pending',
      responses: { 202: json(DeliverySchema, 'pending again, due now'), 404: error('no such delivery'), 409: error('it is not dead') },
    },
    async (c) => {
      const seq = seqOf(c.req.param('id'));
      const row = await store.delivery(seq);
      if (!row) throw new ApiError('not_found', `no delivery ${c.req.param('id')}`);
      if (row.status !== 'dead') throw new ApiError('conflict', `delivery ${c.req.param('id')} is ${row.status}, not dead`);
      await store.write({ kind: 'retry-delivery', seq, at: Date.now() });
      delivery.wakeAll();
      return c.json(view((await store.delivery(seq))!), 202);
    },
  );

  return [list, one, retry];
}
