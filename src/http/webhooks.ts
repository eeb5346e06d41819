import * as v from 'valibot';
import { EVENT_TYPES, randomId } from '../events/events.ts';
import { maskSecret, secretProblem } from '../delivery/sign.ts';
import { webhookUrlProblem } from '../delivery/webhook-url.ts';
import { withoutPassword } from '../lib/secrets.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { parseTimestamp } from './events.ts';
import { Page } from './list.ts';
import { empty, error, json, type Route, route } from './route.ts';

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

/**
 * Endpoints in all, ep_default included: each has a delivery lane (a
 * connection pool, a queue) and a delivery per event of its types, and
 * GET /api/webhooks lists them all on one page. WEBHOOK_URL's endpoint is
 * kept even past it: the configuration wins over what was added by API.
 */
export const ENDPOINT_LIMIT = 64;

/** An endpoint as the API shows it. */
export const EndpointViewSchema = v.object({
  id: v.string(),
  url: v.string(),
  event_types: v.array(v.string()),
  secret: v.nullable(v.string()),
  enabled: v.boolean(),
  disabled_reason: v.nullable(v.string()),
  created_at: v.string(),
});

/** What POST /api/webhooks/{id}/redeliver answers: how many deliveries it made. */
export const RedeliveredSchema = v.object({ endpoint_id: v.string(), since: v.string(), deliveries: v.number() });

const UNKNOWN = { 404: error('no such endpoint') };

type Row = NonNullable<ReturnType<AppDeps['reads']['endpoint']>>;

/** An endpoint as the API shows it: never the whole secret, nor a password in the URL (it goes out as Basic authorization). */
function view(row: Row): v.InferOutput<typeof EndpointViewSchema> {
  return {
    id: row.id,
    url: withoutPassword(row.url),
    event_types: JSON.parse(row.eventTypes) as string[],
    secret: row.secret ? maskSecret(row.secret) : null,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    created_at: new Date(row.createdAt).toISOString(),
  };
}

export function webhookRoutes({ reads, writer, delivery }: AppDeps): Route[] {
  const found = (id: string) => {
    const row = reads.endpoint(id);
    if (!row) throw new ApiError('not_found', `no webhook endpoint ${id}`);
    return row;
  };

  // At most ENDPOINT_LIMIT (+ ep_default): one page.
  const list = route({
    method: 'get', path: '/api/webhooks', operationId: 'listWebhooks', tag: 'webhooks',
    summary: 'Webhook endpoints (secrets masked), all on one page',
    responses: { 200: json(Page(EndpointViewSchema), `every endpoint (${ENDPOINT_LIMIT} at most, and ep_default); next_cursor is null`) },
  }, (c) => c.json({ items: reads.endpoints().map(view), next_cursor: null }));
  const one = route({
    method: 'get', path: '/api/webhooks/{id}', operationId: 'getWebhook', tag: 'webhooks',
    summary: 'One endpoint',
    responses: { 200: json(EndpointViewSchema, 'the endpoint'), ...UNKNOWN },
  }, (c) => c.json(view(found(c.req.param('id')))));

  // One addition at a time: the count and the insert must not interleave
  // with another request's, or two at once would both pass at 63.
  let adding: Promise<unknown> = Promise.resolve();
  const add = route({
    method: 'post', path: '/api/webhooks', operationId: 'addWebhook', tag: 'webhooks',
    summary: `Add an endpoint (at most ${ENDPOINT_LIMIT} in all)`,
    body: EndpointSchema,
    responses: { 201: json(EndpointViewSchema, 'added; its secret is never shown whole again'), 409: error(`${ENDPOINT_LIMIT} endpoints exist already`) },
  }, async (c, { body }) => {
    const id = randomId('ep');
    const endpoint = { id, url: body.url, secret: body.secret ?? null, eventTypes: body.event_types, enabled: true, disabledReason: null };
    const added = adding.then(async () => {
      const count = reads.endpointCount();
      if (count >= ENDPOINT_LIMIT) throw new ApiError('conflict', `${count} webhook endpoints exist, the most there may be (${ENDPOINT_LIMIT}); delete one first`);
      await writer.write({ kind: 'endpoint', endpoint, at: Date.now() });
    });
    adding = added.catch(() => {});
    await added;
    delivery.refresh();
    return c.json(view(found(id)), 201);
  });

  const remove = route({
    method: 'delete', path: '/api/webhooks/{id}', operationId: 'removeWebhook', tag: 'webhooks',
    summary: 'Remove an endpoint and its deliveries',
    responses: { 204: empty('removed'), ...UNKNOWN },
  }, async (c) => {
    found(c.req.param('id'));
    // In steps (ADMIN_STEP deliveries each): the lanes let go of it after the first, which removes the endpoint.
    for (let first = true; ; first = false) {
      const { step } = await writer.write({ kind: 'endpoint-delete', id: c.req.param('id') });
      if (first) delivery.refresh();
      if (!step?.more) break;
    }
    return c.body(null, 204);
  });

  // After a 410 (or an admin's pause), the waiting deliveries go out again.
  const enable = route({
    method: 'post', path: '/api/webhooks/{id}/enable', operationId: 'enableWebhook', tag: 'webhooks',
    summary: 'Enable again (after a 410); waiting deliveries go out',
    responses: { 200: json(EndpointViewSchema, 'the endpoint, enabled'), ...UNKNOWN },
  }, async (c) => {
    found(c.req.param('id'));
    await writer.write({ kind: 'endpoint-state', id: c.req.param('id'), enabled: true, reason: null });
    delivery.refresh();
    return c.json(view(found(c.req.param('id'))));
  });

  const redeliver = route({
    method: 'post', path: '/api/webhooks/{id}/redeliver', operationId: 'redeliverWebhook', tag: 'webhooks',
    summary: 'Send again every event of its types received since a time',
    body: RedeliverSchema,
    responses: { 202: json(RedeliveredSchema, 'the count of deliveries made'), ...UNKNOWN },
  }, async (c, { body: { since } }) => {
    found(c.req.param('id'));
    const job = { kind: 'redeliver-since', endpointId: c.req.param('id'), since: parseTimestamp(since), at: Date.now() } as const;
    let deliveries = 0;
    // In steps (ADMIN_STEP events each), the lanes sending what the first ones put back meanwhile.
    for (let after: number | undefined; ; ) {
      const { changes = 0, step } = await writer.write({ ...job, after });
      deliveries += changes;
      delivery.wakeAll();
      if (!step?.more) break;
      after = step.after;
    }
    return c.json({ endpoint_id: c.req.param('id'), since, deliveries }, 202);
  });

  return [list, one, add, remove, enable, redeliver];
}
