import { Hono } from 'hono';
import * as v from 'valibot';
import { EVENT_TYPES } from '../events/events.ts';
import { randomId } from '../events/ids.ts';
import { maskSecret, secretProblem } from '../delivery/sign.ts';
import { ENDPOINT_LIMIT } from '../delivery/endpoints.ts';
import { webhookUrlProblem } from '../delivery/webhook-url.ts';
import { withoutPassword } from '../lib/secrets.ts';
import type { Endpoint } from '../store/store.ts';
import type { AppDeps, Env } from './deps.ts';
import { jsonBody } from './body.ts';
import { ApiError } from './errors.ts';
import { parseTimestamp } from './events.ts';

export const EndpointSchema = v.object({
  url: v.pipe(
    v.string('url must be a string'),
    v.check((s) => !webhookUrlProblem(s), (issue) => webhookUrlProblem(issue.input as string)!),
  ),
  event_types: v.optional(
    v.pipe(v.array(v.picklist(EVENT_TYPES, `event types are ${EVENT_TYPES.join(', ')}`)), v.minLength(1, 'event_types must not be empty')),
    ['face.verified'],
  ),
  secret: v.optional(v.pipe(v.string('secret must be a string'), v.check((secret) => !secretProblem(secret), (issue) => secretProblem(issue.input as string)!))),
});

const SINCE = 'since must be an ISO 8601 timestamp such as 2026-11-22T00:00:00Z';

export const RedeliverSchema = v.object({
  since: v.pipe(v.string('since must be a date'), v.isoTimestamp(SINCE), v.check((s) => !Number.isNaN(parseTimestamp(s)), SINCE)),
});

/** An endpoint as the API shows it: never the whole secret, nor a password in the URL (it goes out as Basic authorization). */
function view(row: Endpoint) {
  return {
    id: row.id,
    url: withoutPassword(row.url),
    event_types: row.eventTypes,
    secret: row.secret ? maskSecret(row.secret) : null,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    created_at: new Date(row.createdAt).toISOString(),
  };
}

export function webhookRoutes({ store, endpoints, delivery }: AppDeps) {
  const app = new Hono<Env>();
  const found = async (id: string) => {
    const row = await endpoints.get(id);
    if (!row) throw new ApiError('not_found', `no webhook endpoint ${id}`);
    return row;
  };

  // At most ENDPOINT_LIMIT (+ ep_default): one page.
  app.get('/', async (c) => c.json({ items: (await endpoints.list()).map(view), next_cursor: null }));
  app.get('/:id', async (c) => c.json(view(await found(c.req.param('id')))));

  app.post('/', async (c) => {
    const body = await jsonBody(c, EndpointSchema);
    const id = randomId('ep');
    const result = await endpoints.add({ id, url: body.url, secret: body.secret ?? null, eventTypes: body.event_types });
    if (!result.added) throw new ApiError('conflict', `${result.count} webhook endpoints exist, the most there may be (${ENDPOINT_LIMIT}); delete one first`);
    return c.json(view(await found(id)), 201);
  });

  app.delete('/:id', async (c) => {
    await found(c.req.param('id'));
    await endpoints.remove(c.req.param('id'));
    return c.body(null, 204);
  });

  // After a 410 (or an admin's pause), the waiting deliveries go out again.
  app.post('/:id/enable', async (c) => {
    await found(c.req.param('id'));
    await endpoints.enable(c.req.param('id'));
    return c.json(view(await found(c.req.param('id'))));
  });

  // An admin's pause: nothing is sent to it, its deliveries wait as after a 410, until it is enabled.
  app.post('/:id/disable', async (c) => {
    await found(c.req.param('id'));
    await endpoints.disable(c.req.param('id'), 'admin');
    return c.json(view(await found(c.req.param('id'))));
  });

  app.post('/:id/redeliver', async (c) => {
    await found(c.req.param('id'));
    const { since } = await jsonBody(c, RedeliverSchema);
    const job = { kind: 'redeliver-since', endpointId: c.req.param('id'), since: parseTimestamp(since), at: Date.now() } as const;
    let deliveries = 0;
    // In steps (ADMIN_STEP events each), the lanes sending what the first ones put back meanwhile.
    for (let after: number | undefined; ; ) {
      const step = await store.write({ ...job, after });
      deliveries += step.deliveries;
      delivery.wakeAll();
      if (!step.more) break;
      after = step.after;
    }
    return c.json({ endpoint_id: c.req.param('id'), since, deliveries }, 202);
  });

  return app;
}
