import * as v from 'valibot';
import { REJECT_REASONS } from '../protocol/uplink.ts';
import type { Reject } from '../store/store.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { Limit, listPage, PAGED, Page, seqWindow } from './list.ts';
import { error, json, type Route, route } from './route.ts';

// README §What a terminal really sent: the malformed upLink messages kept
// (§Malformed messages), so an installer sees what a terminal sends.

export const RejectListQuery = v.object({
  device: v.optional(v.pipe(v.string(), v.nonEmpty('device must not be empty'), v.maxLength(64, 'device is a serial of at most 64 characters'))),
  limit: Limit,
  cursor: v.optional(v.pipe(v.string(), v.regex(/^rej_\d+$/, 'cursor must be a next_cursor of this list'))),
});

export const RejectSchema = v.object({
  id: v.string(),
  device_sn: v.nullable(v.string()),
  topic: v.string(),
  reason: v.picklist(REJECT_REASONS),
  detail: v.string(),
  /** The start of the message as it came, at most 2 KB. */
  sample: v.string(),
  size: v.number(),
  received_at: v.string(),
});

function view(row: Reject): v.InferOutput<typeof RejectSchema> {
  return {
    id: `rej_${row.seq}`,
    device_sn: row.deviceSn,
    topic: row.topic,
    reason: row.reason,
    detail: row.detail,
    sample: row.sample,
    size: row.size,
    received_at: new Date(row.receivedAt).toISOString(),
  };
}

function seqOf(id: string): number {
  const match = /^rej_(\d+)$/.exec(id);
  if (!match) throw new ApiError('not_found', `no reject ${id}`);
  return Number(match[1]);
}

export function rejectRoutes({ store }: AppDeps): Route[] {
  const list = route(
    {
      method: 'get',
      path: '/api/rejects',
      operationId: 'listRejects',
      tag: 'rejects',
      summary: 'Malformed upLink messages, newest first',
      description: PAGED,
      query: RejectListQuery,
      responses: { 200: json(Page(RejectSchema), 'a page of rejected messages') },
    },
    async (c, { query }) => {
      const { device, limit, cursor } = query;
      const stored = await store.rejectBounds();
      const below = Math.min(cursor !== undefined ? seqOf(cursor) : Infinity, (stored.last ?? 0) + 1);
      if (stored.first === undefined || below <= stored.first) return listPage(c, { limit, keys: [], item: () => undefined, cursorOf: String, rest: null });
      // A terminal's rejects are checked row by row: within a window.
      const range = seqWindow(below, stored.first, device !== undefined);
      const seqs = await store.rejectSeqs({ device, from: range.from, below: range.below, limit: limit + 1 });
      return listPage(c, {
        limit,
        keys: seqs,
        item: async (seq) => {
          const row = await store.reject(seq);
          return row && view(row);
        },
        cursorOf: (seq) => `rej_${seq}`,
        rest: range.rest ? `rej_${range.from}` : null,
      });
    },
  );

  const one = route(
    {
      method: 'get',
      path: '/api/rejects/{id}',
      operationId: 'getReject',
      tag: 'rejects',
      summary: 'One rejected message',
      responses: { 200: json(RejectSchema, 'the rejected message'), 404: error('no such reject') },
    },
    async (c) => {
      const row = await store.reject(seqOf(c.req.param('id')));
      if (!row) throw new ApiError('not_found', `no reject ${c.req.param('id')}`);
      return c.json(view(row));
    },
  );

  return [list, one];
}
