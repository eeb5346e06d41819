import * as v from 'valibot';
import { ALERT_LANGS, ENDPOINT_FORMATS, type EndpointFormat } from '../delivery/chat/apps.ts';
import { ENDPOINT_LIMIT } from '../delivery/endpoints.ts';
import { maskSecret, secretProblem } from '../delivery/sign.ts';
import { webhookUrlProblem } from '../delivery/webhook-url.ts';
import { EVENT_TYPES } from '../events/events.ts';
import { randomId } from '../events/ids.ts';
import { withoutPassword } from '../lib/secrets.ts';
import { DISABLED_REASONS, type Endpoint } from '../store/store.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { parseTimestamp } from './events.ts';
import { Page } from './list.ts';
import { empty, error, json, type Route, route } from './route.ts';

/** A chat app's signing secret (Feishu, DingTalk) as the app shows it: any text, bounded. */
const CHAT_SECRET_CHARS = 256;

/**
 * Why a secret does not suit an endpoint of this format, or undefined
 * (README §Alerts in chat apps): a standard endpoint's is a Standard Webhooks
 * secret; Feishu's and DingTalk's is the one the robot's settings show; a
 * WeCom or Slack robot has none, its URL is the secret.
 */
export function endpointSecretProblem(format: EndpointFormat, secret: string): string | undefined {
  if (format === 'standard') return secretProblem(secret);
  if (format === 'wecom' || format === 'slack') return `a ${format} robot takes no secret: its URL is the secret`;
  if (secret.length === 0 || secret.length > CHAT_SECRET_CHARS) return `a ${format} secret has 1 to ${CHAT_SECRET_CHARS} characters`;
  return undefined;
}

export const EndpointSchema = v.pipe(
  v.object({
    url: v.pipe(
      v.string('url must be a string'),
      v.check(
        (s) => !webhookUrlProblem(s),
        (issue) => webhookUrlProblem(issue.input as string)!,
      ),
    ),
    event_types: v.optional(
      v.pipe(v.array(v.picklist(EVENT_TYPES, `event types are ${EVENT_TYPES.join(', ')}`)), v.minLength(1, 'event_types must not be empty')),
      ['face.verified'],
    ),
    secret: v.optional(v.string('secret must be a string')),
    format: v.optional(v.picklist(ENDPOINT_FORMATS, `format is one of ${ENDPOINT_FORMATS.join(', ')}`), 'standard'),
    lang: v.optional(v.picklist(ALERT_LANGS, `lang is one of ${ALERT_LANGS.join(', ')}`), 'zh-CN'),
  }),
  v.forward(
    v.partialCheck(
      [['format'], ['secret']],
      (input) => input.secret === undefined || !endpointSecretProblem(input.format, input.secret),
      (issue) => {
        const input = issue.input as { format: EndpointFormat; secret: string };
        return endpointSecretProblem(input.format, input.secret)!;
      },
    ),
    ['secret'],
  ),
);

const SINCE = 'since must be an ISO 8601 timestamp such as 2026-11-22T00:00:00Z';

export const RedeliverSchema = v.object({
  since: v.pipe(
    v.string('since must be a date'),
    v.isoTimestamp(SINCE),
    v.check((s) => !Number.isNaN(parseTimestamp(s)), SINCE),
  ),
});

/** An endpoint as the API shows it. */
export const EndpointViewSchema = v.object({
  id: v.string(),
  url: v.string(),
  event_types: v.array(v.string()),
  secret: v.nullable(v.string()),
  enabled: v.boolean(),
  disabled_reason: v.nullable(v.picklist(DISABLED_REASONS)),
  created_at: v.string(),
  format: v.picklist(ENDPOINT_FORMATS),
  lang: v.picklist(ALERT_LANGS),
});

/** What POST /api/webhooks/{id}/test answers: what the receiver answered. */
export const TestAnswerSchema = v.object({
  ok: v.boolean(),
  status: v.nullable(v.number()),
  body: v.string(),
  code: v.unknown(),
  error: v.nullable(v.string()),
});

/** What POST /api/webhooks/{id}/redeliver answers: how many deliveries it made. */
export const RedeliveredSchema = v.object({ endpoint_id: v.string(), since: v.string(), deliveries: v.number() });

const UNKNOWN = { 404: error('no such endpoint') };

// README §Webhooks: why an endpoint is disabled is a value.
const DISABLED = `\`enabled\` false with \`disabled_reason\` ${DISABLED_REASONS.map((reason) => `\`${reason}\``).join(', ')}: the default endpoint without WEBHOOK_URL, a receiver that answered 410, an admin's disable.`;

/** An endpoint as the API shows it: never the whole secret, nor a password in the URL (it goes out as Basic authorization). */
function view(row: Endpoint): v.InferOutput<typeof EndpointViewSchema> {
  return {
    id: row.id,
    url: withoutPassword(row.url),
    event_types: row.eventTypes,
    secret: row.secret ? maskSecret(row.secret) : null,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    created_at: new Date(row.createdAt).toISOString(),
    format: row.format,
    lang: row.lang,
  };
}

export function webhookRoutes({ store, endpoints, delivery }: AppDeps): Route[] {
  const found = async (id: string) => {
    const row = await endpoints.get(id);
    if (!row) throw new ApiError('not_found', `no webhook endpoint ${id}`);
    return row;
  };

  // At most ENDPOINT_LIMIT (+ ep_default): one page.
  const list = route(
    {
      method: 'get',
      path: '/api/webhooks',
      operationId: 'listWebhooks',
      tag: 'webhooks',
      summary: 'Webhook endpoints (secrets masked), all on one page',
      description: DISABLED,
      responses: { 200: json(Page(EndpointViewSchema), `every endpoint (${ENDPOINT_LIMIT} at most, and ep_default); next_cursor is null`) },
    },
    async (c) => c.json({ items: (await endpoints.list()).map(view), next_cursor: null }),
  );
  const one = route(
    {
      method: 'get',
      path: '/api/webhooks/{id}',
      operationId: 'getWebhook',
      tag: 'webhooks',
      summary: 'One endpoint',
      description: DISABLED,
      responses: { 200: json(EndpointViewSchema, 'the endpoint'), ...UNKNOWN },
    },
    async (c) => c.json(view(await found(c.req.param('id')))),
  );

  const add = route(
    {
      method: 'post',
      path: '/api/webhooks',
      operationId: 'addWebhook',
      tag: 'webhooks',
      summary: `Add an endpoint (at most ${ENDPOINT_LIMIT} in all)`,
      body: EndpointSchema,
      responses: { 201: json(EndpointViewSchema, 'added; its secret is never shown whole again'), 409: error(`${ENDPOINT_LIMIT} endpoints exist already`) },
    },
    async (c, { body }) => {
      const id = randomId('ep');
      const result = await endpoints.add({
        id,
        url: body.url,
        secret: body.secret ?? null,
        eventTypes: body.event_types,
        format: body.format,
        lang: body.lang,
      });
      if (!result.added) throw new ApiError('conflict', `${result.count} webhook endpoints exist, the most there may be (${ENDPOINT_LIMIT}); delete one first`);
      return c.json(view(await found(id)), 201);
    },
  );

  const remove = route(
    {
      method: 'delete',
      path: '/api/webhooks/{id}',
      operationId: 'removeWebhook',
      tag: 'webhooks',
      summary: 'Remove an endpoint and its deliveries',
      responses: { 204: empty('removed'), ...UNKNOWN },
    },
    async (c) => {
      await found(c.req.param('id'));
      await endpoints.remove(c.req.param('id'));
      return c.body(null, 204);
    },
  );

  // After a 410 (or an admin's pause), the waiting deliveries go out again.
  const enable = route(
    {
      method: 'post',
      path: '/api/webhooks/{id}/enable',
      operationId: 'enableWebhook',
      tag: 'webhooks',
      summary: 'Enable again (after a 410, or a disable); waiting deliveries go out',
      responses: { 200: json(EndpointViewSchema, 'the endpoint, enabled'), ...UNKNOWN },
    },
    async (c) => {
      await found(c.req.param('id'));
      await endpoints.enable(c.req.param('id'));
      return c.json(view(await found(c.req.param('id'))));
    },
  );

  // An admin's pause: nothing is sent to it, its deliveries wait as after a 410, until it is enabled.
  const disable = route(
    {
      method: 'post',
      path: '/api/webhooks/{id}/disable',
      operationId: 'disableWebhook',
      tag: 'webhooks',
      summary: 'Disable (disabled_reason admin): nothing is sent to it, its deliveries wait until it is enabled',
      responses: { 200: json(EndpointViewSchema, 'the endpoint, disabled'), ...UNKNOWN },
    },
    async (c) => {
      await found(c.req.param('id'));
      await endpoints.disable(c.req.param('id'), 'admin');
      return c.json(view(await found(c.req.param('id'))));
    },
  );

  const redeliver = route(
    {
      method: 'post',
      path: '/api/webhooks/{id}/redeliver',
      operationId: 'redeliverWebhook',
      tag: 'webhooks',
      summary: 'Send again every event of its types received since a time',
      body: RedeliverSchema,
      responses: { 202: json(RedeliveredSchema, 'the count of deliveries made'), ...UNKNOWN },
    },
    async (c, { body: { since } }) => {
      await found(c.req.param('id'));
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
    },
  );

  // README §Alerts in chat apps: is the robot (or the backend) set up right? Sent now, outside the outbox.
  const test = route(
    {
      method: 'post',
      path: '/api/webhooks/{id}/test',
      operationId: 'testWebhook',
      tag: 'webhooks',
      summary: 'Send one test message now, outside the outbox, and answer what the receiver answered',
      description:
        'A chat endpoint gets a short "facegate" test text in its format and lang; a standard one a signed {"type":"facegate.test","id":"msg_…","endpoint_id","sent_at"} (webhook-id is that id). ok: a 2xx and, for a chat app, its own code 0 or absent; code: that code; body: the start of the answer.',
      responses: {
        200: json(TestAnswerSchema, 'what the receiver answered'),
        409: error('the endpoint is not served (its URL, stored by an older version, is not valid)'),
        429: error("the chat app's robot may not post now (its limit, or a throttle answer): Retry-After says when"),
        ...UNKNOWN,
      },
    },
    async (c) => {
      const id = c.req.param('id');
      await found(id);
      const sent = await delivery.test(id);
      if (!sent) throw new ApiError('conflict', `webhook endpoint ${id} is not served: fix its URL or delete it`);
      if ('notBefore' in sent) {
        const seconds = Math.max(1, Math.ceil((sent.notBefore - Date.now()) / 1000));
        throw new ApiError('rate_limited', `the robot may not post for ${seconds} s (its app's limit)`, { retryAfterSeconds: seconds });
      }
      return c.json(sent);
    },
  );

  return [list, one, add, remove, enable, disable, redeliver, test];
}
