import { toJsonSchema } from '@valibot/to-json-schema';
import * as v from 'valibot';
import { VERSION } from '../lib/version.ts';
import { type Answer, type Contract, content, declaredAnswers, json, type Route, route } from './route.ts';

// The OpenAPI 3.1 document is made from the routes' contracts (route.ts):
// the very declarations that register the handlers and validate their input.

const jsonSchema = (schema: v.GenericSchema) => {
  const { $schema: _drop, ...rest } = toJsonSchema(schema, { errorMode: 'ignore', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

function answer({ description, ...body }: Answer) {
  if ('schema' in body) return { description, content: { 'application/json': { schema: jsonSchema(body.schema) } } };
  if ('type' in body) return { description, content: { [body.type]: {} } };
  return { description };
}

function operation(contract: Contract) {
  const parameters = [
    ...[...contract.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: contract.params ? jsonSchema(contract.params.entries[name]) : { type: 'string' },
    })),
    ...Object.entries(contract.query?.entries ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema: jsonSchema(schema) })),
  ];
  const body = contract.body && jsonSchema(contract.body);
  return {
    operationId: contract.operationId,
    summary: contract.summary,
    ...(contract.description && { description: contract.description }),
    tags: [contract.tag],
    ...(parameters.length > 0 && { parameters }),
    ...(body && {
      requestBody: {
        required: true,
        content: { 'application/json': { schema: body }, ...(contract.form && { 'application/x-www-form-urlencoded': { schema: body } }) },
      },
    }),
    responses: Object.fromEntries(Object.entries(declaredAnswers(contract)).map(([status, a]) => [status, answer(a)])),
    ...(contract.open && { security: [] }),
  };
}

export type OpenApiDocument = ReturnType<typeof openApiDocument>;

export function openApiDocument(contracts: readonly Contract[]) {
  const paths: Record<string, Record<string, ReturnType<typeof operation>>> = {};
  for (const contract of contracts) {
    paths[contract.path] ??= {};
    paths[contract.path][contract.method] = operation(contract);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'facegate',
      version: VERSION,
      description: 'Bridge between face-recognition door terminals (MQTT) and a building backend (signed webhooks).',
    },
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

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** A plain page listing the routes, readable offline: no script, no external asset. */
function docsPage(doc: OpenApiDocument): string {
  const rows = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const params = (operation.parameters ?? []).map((p) => `${escapeHtml(p.name)} (${p.in})`).join(', ');
      const body = operation.requestBody ? `<pre>${escapeHtml(JSON.stringify(operation.requestBody.content['application/json'].schema, null, 2))}</pre>` : '';
      const responses = Object.entries(operation.responses)
        .map(([status, r]) => `${status} ${escapeHtml(r.description)}`)
        .join(' · ');
      return `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td><td>${escapeHtml(operation.summary)}${operation.description ? `<br><small>${escapeHtml(operation.description)}</small>` : ''}${params ? `<br><small>${params}</small>` : ''}${body}<br><small>${responses}</small></td></tr>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>facegate API</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1d2430}table{border-collapse:collapse;width:100%}td{border-top:1px solid #dde2ea;padding:.5rem;vertical-align:top}pre{background:#f4f6f9;padding:.5rem;overflow:auto;font-size:12px}code{font-size:13px}</style>
</head><body><h1>facegate API ${escapeHtml(doc.info.version)}</h1><p>Authorization: <code>Bearer ADMIN_TOKEN</code>, or the console's session cookie. Errors are <code>{"error":{"code","message"}}</code>. The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<table>${rows.join('')}</table></body></html>`;
}

/**
 * GET /api/openapi.json and GET /api/docs: one document, made the first time
 * either is asked for, from every route's contract (these two included).
 */
export function openApiRoutes(contracts: () => readonly Contract[]): Route[] {
  let made: { doc: OpenApiDocument; page: string } | undefined;
  const document = () => {
    if (!made) {
      const doc = openApiDocument(contracts());
      made = { doc, page: docsPage(doc) };
    }
    return made;
  };
  return [
    route(
      {
        method: 'get',
        path: '/api/openapi.json',
        operationId: 'getOpenApi',
        tag: 'docs',
        summary: 'This document (OpenAPI 3.1)',
        open: true,
        responses: { 200: json(v.looseObject({ openapi: v.literal('3.1.0') }), 'the document') },
      },
      (c) => c.json(document().doc),
    ),
    route(
      {
        method: 'get',
        path: '/api/docs',
        operationId: 'getDocs',
        tag: 'docs',
        summary: 'The routes on a plain page, readable offline',
        open: true,
        responses: { 200: content('text/html', 'the page') },
      },
      // Its one style sheet is inline; nothing else may load or run.
      (c) => c.html(document().page, 200, { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'" }),
    ),
  ];
}
