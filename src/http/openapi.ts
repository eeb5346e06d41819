import { toJsonSchema } from '@valibot/to-json-schema';
import { Hono } from 'hono';
import type * as v from 'valibot';
import { CommandSchema } from '../commands/commands.ts';
import { VERSION } from '../lib/version.ts';
import type { Env } from './deps.ts';
import { CommandListQuery } from './commands.ts';
import { DeliveryListQuery } from './deliveries.ts';
import { DeviceListQuery } from './devices.ts';
import { SHOWN_BYTES } from '../store/store.ts';
import { DISABLED_REASONS } from '../store/store.ts';
import { EventFilter, EventListQuery } from './events.ts';
import { PAGE_BYTES, WINDOW } from './list.ts';
import { Login } from './session.ts';
import { EndpointSchema, RedeliverSchema } from './webhooks.ts';
import { ENDPOINT_LIMIT } from '../delivery/endpoints.ts';

// The OpenAPI document is built from the very valibot schemas the routes
// validate with, so the two cannot drift apart; only the prose is written here.

type Schema = v.GenericSchema;

interface Route {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  /** More than the summary: what a client must know to read the answer right. */
  description?: string;
  tag: string;
  body?: Schema;
  query?: v.ObjectSchema<v.ObjectEntries, undefined>;
  /** Status → description; the error statuses share one schema. */
  responses: Record<number, string>;
  open?: boolean;
}

// README §HTTP API, Lists.
const PAGED = `A page holds at most \`limit\` items and about ${PAGE_BYTES / 1024 / 1024} MB of JSON; it may hold fewer, even none, and still have a \`next_cursor\` (a filter that an index cannot answer alone is checked within a window of ${WINDOW.toLocaleString('en-US')} positions per request). Follow \`next_cursor\` until it is null to see every item once.`;
const DISABLED = `\`enabled\` false with \`disabled_reason\` ${DISABLED_REASONS.map((reason) => `\`${reason}\``).join(', ')}: the default endpoint without WEBHOOK_URL, a receiver that answered 410, an admin's disable.`;
const SHORT = (whatIs: string, size: string) =>
  `An item whose ${whatIs} over ${SHOWN_BYTES / 1024} KB is shown short: without it, with \`"truncated": true\` and \`"${size}"\` (its size in bytes).`;

const ROUTES: Route[] = [
  { method: 'post', path: '/api/devices/{sn}/commands', tag: 'commands', summary: 'Send a command to a terminal (QoS 1); 202 once the broker acknowledged it', body: CommandSchema, responses: { 202: 'published', 400: 'invalid body', 404: 'unknown terminal', 413: 'body over BODY_LIMIT', 429: 'over COMMAND_RATE (Retry-After)', 503: 'broker unreachable or terminal not connected' } },
  { method: 'get', path: '/api/commands', tag: 'commands', summary: 'Commands sent, newest first', description: `${PAGED} ${SHORT('body is', 'body_bytes')} GET /api/commands/{id} gives it whole.`, query: CommandListQuery, responses: { 200: 'list', 400: 'invalid filter' } },
  { method: 'get', path: '/api/commands/{id}', tag: 'commands', summary: 'One command, with its whole body', responses: { 200: 'command', 404: 'unknown' } },
  { method: 'post', path: '/', tag: 'commands', summary: 'The original relay: the JSON body goes to DEFAULT_DEVICE, or the only terminal in DEVICES (never one only seen on the wire); answers "ok"', responses: { 200: 'ok', 400: 'not a JSON object', 404: 'no DEFAULT_DEVICE and none in DEVICES, or that terminal was forgotten', 409: 'several in DEVICES and no DEFAULT_DEVICE', 413: 'body over BODY_LIMIT', 429: 'over COMMAND_RATE (Retry-After)', 503: 'not sent' } },
  { method: 'get', path: '/api/devices', tag: 'devices', summary: 'Terminals with their online state, in serial order, paged', query: DeviceListQuery, responses: { 200: 'list', 400: 'invalid filter' } },
  { method: 'get', path: '/api/devices/{sn}', tag: 'devices', summary: 'One terminal', responses: { 200: 'terminal', 404: 'unknown, or no serial' } },
  { method: 'delete', path: '/api/devices/{sn}', tag: 'devices', summary: 'Forget a terminal (its events stay); one in DEVICES is back at the next start, one still sending is learned again', responses: { 204: 'forgotten', 404: 'unknown, or no serial' } },
  { method: 'get', path: '/api/events', tag: 'events', summary: 'Events newest first, as webhook bodies without the image', description: `${PAGED} ${SHORT('stored fields (a terminal\'s message as sent) are', 'fields_bytes')} GET /api/events/{id} gives it whole. since and until are turned into positions in arrival order.`, query: EventListQuery, responses: { 200: 'list', 400: 'invalid filter' } },
  { method: 'get', path: '/api/events/{id}', tag: 'events', summary: 'One event, whole', responses: { 200: 'event', 404: 'unknown' } },
  { method: 'get', path: '/api/events/{id}/image', tag: 'events', summary: 'The face image (image/jpeg)', responses: { 200: 'JPEG', 404: 'no image' } },
  { method: 'get', path: '/api/stream', tag: 'events', summary: 'Server-Sent Events of new events; resumable with Last-Event-ID', description: `Each event as in GET /api/events: ${SHORT('stored fields are', 'fields_bytes')}`, query: EventFilter, responses: { 200: 'text/event-stream', 400: 'invalid filter' } },
  { method: 'get', path: '/api/webhooks', tag: 'webhooks', summary: 'Webhook endpoints (secrets masked), all on one page', description: DISABLED, responses: { 200: 'list' } },
  { method: 'post', path: '/api/webhooks', tag: 'webhooks', summary: `Add an endpoint (at most ${ENDPOINT_LIMIT} in all)`, body: EndpointSchema, responses: { 201: 'created', 400: 'invalid body', 409: `${ENDPOINT_LIMIT} endpoints exist already` } },
  { method: 'get', path: '/api/webhooks/{id}', tag: 'webhooks', summary: 'One endpoint', description: DISABLED, responses: { 200: 'endpoint', 404: 'unknown' } },
  { method: 'delete', path: '/api/webhooks/{id}', tag: 'webhooks', summary: 'Remove an endpoint and its deliveries', responses: { 204: 'removed', 404: 'unknown' } },
  { method: 'post', path: '/api/webhooks/{id}/enable', tag: 'webhooks', summary: 'Enable again (after a 410, or a disable); waiting deliveries go out', responses: { 200: 'endpoint', 404: 'unknown' } },
  { method: 'post', path: '/api/webhooks/{id}/disable', tag: 'webhooks', summary: 'Disable (disabled_reason admin): nothing is sent to it, its deliveries wait until it is enabled', responses: { 200: 'endpoint', 404: 'unknown' } },
  { method: 'post', path: '/api/webhooks/{id}/redeliver', tag: 'webhooks', summary: 'Send again every event of its types received since a time', body: RedeliverSchema, responses: { 202: 'count of deliveries', 400: 'invalid body', 404: 'unknown' } },
  { method: 'get', path: '/api/deliveries', tag: 'deliveries', summary: 'Deliveries newest first', description: PAGED, query: DeliveryListQuery, responses: { 200: 'list', 400: 'invalid filter' } },
  { method: 'get', path: '/api/deliveries/{id}', tag: 'deliveries', summary: 'One delivery', responses: { 200: 'delivery', 404: 'unknown' } },
  { method: 'post', path: '/api/deliveries/{id}/retry', tag: 'deliveries', summary: 'A dead delivery back to pending', responses: { 202: 'pending again', 404: 'unknown', 409: 'not dead' } },
  { method: 'post', path: '/ui/login', tag: 'console', summary: 'Trade the admin token for a session cookie (JSON or form)', body: Login, responses: { 204: 'cookie set', 303: 'form: to /ui', 401: 'wrong token' }, open: true },
  { method: 'post', path: '/ui/logout', tag: 'console', summary: 'Clear the session cookie', responses: { 204: 'cleared' }, open: true },
  { method: 'get', path: '/healthz', tag: 'probes', summary: 'The process is alive', responses: { 200: 'ok' }, open: true },
  { method: 'get', path: '/readyz', tag: 'probes', summary: 'Database writable and broker connected', responses: { 200: 'ready', 503: 'not ready' }, open: true },
  { method: 'get', path: '/metrics', tag: 'probes', summary: 'Prometheus metrics', responses: { 200: 'text format' }, open: true },
];

const jsonSchema = (schema: Schema) => {
  const { $schema: _drop, ...rest } = toJsonSchema(schema, { errorMode: 'ignore', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

const ERROR = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, issues: { type: 'array', items: { type: 'object' } } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
};

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const parameters = [
      ...[...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...Object.entries(route.query?.entries ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema: jsonSchema(schema) })),
    ];
    const responses = Object.fromEntries(
      Object.entries(route.responses).map(([status, description]) => [
        status,
        Number(status) >= 400 ? { description, content: { 'application/json': { schema: ERROR } } } : { description },
      ]),
    );
    if (!route.open) responses[401] = { description: 'missing or wrong token', content: { 'application/json': { schema: ERROR } } };
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      ...(route.description && { description: route.description }),
      tags: [route.tag],
      ...(parameters.length > 0 && { parameters }),
      ...(route.body && { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } }),
      responses,
      ...(route.open && { security: [] }),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'facegate', version: VERSION, description: 'Bridge between face-recognition door terminals (MQTT) and a building backend (signed webhooks).' },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        session: { type: 'apiKey', in: 'cookie', name: 'facegate_session', description: 'the console session, from POST /ui/login' },
      },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}

const escape = (s: string) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** A plain page listing the routes, readable offline: no script, no external asset. */
function docsPage(doc: ReturnType<typeof openApiDocument>): string {
  const rows = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const operation = op as { summary: string; description?: string; parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { description: string }> };
      const params = (operation.parameters ?? []).map((p) => `${escape(p.name)} (${p.in})`).join(', ');
      const body = operation.requestBody ? `<pre>${escape(JSON.stringify(operation.requestBody.content['application/json'].schema, null, 2))}</pre>` : '';
      const responses = Object.entries(operation.responses).map(([status, r]) => `${status} ${escape(r.description)}`).join(' · ');
      return `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escape(path)}</code></td><td>${escape(operation.summary)}${operation.description ? `<br><small>${escape(operation.description)}</small>` : ''}${params ? `<br><small>${params}</small>` : ''}${body}<br><small>${responses}</small></td></tr>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>facegate API</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1d2430}table{border-collapse:collapse;width:100%}td{border-top:1px solid #dde2ea;padding:.5rem;vertical-align:top}pre{background:#f4f6f9;padding:.5rem;overflow:auto;font-size:12px}code{font-size:13px}</style>
</head><body><h1>facegate API ${escape(doc.info.version)}</h1><p>Authorization: <code>Bearer ADMIN_TOKEN</code>, or the console's session cookie. Errors are <code>{"error":{"code","message"}}</code>. The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<table>${rows.join('')}</table></body></html>`;
}

export function openApiRoutes() {
  const app = new Hono<Env>();
  const doc = openApiDocument();
  const page = docsPage(doc);
  app.get('/openapi.json', (c) => c.json(doc));
  app.get('/docs', (c) => c.html(page));
  return app;
}
