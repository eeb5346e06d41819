import { Hono } from 'hono';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.ts';
import type { AppDeps, Env } from '../../src/http/deps.ts';
import { openApiDocument } from '../../src/http/openapi.ts';
import { empty, mount, route } from '../../src/http/route.ts';
import { createLogger } from '../../src/lib/log.ts';

// Each route is declared once (src/http/route.ts): the declaration registers
// it with hono and is its entry in the OpenAPI document. These tests hold
// the two together: what hono serves is what the document lists, and each
// entry lists the answers the declaration itself gives. Registering the
// routes asks nothing of the bridge's parts; only the document is served here.

const app = createApp({ log: createLogger('silent'), bodyLimit: 1024, adminToken: () => 'unused-admin-token-0123456789', devices: [] } as unknown as AppDeps);
const doc = (await (await app.request('/api/openapi.json')).json()) as { paths: Record<string, Record<string, Operation>> };

interface Operation {
  operationId: string;
  security?: unknown[];
  parameters?: { name: string; in: string; schema: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
}

/** `GET /api/events/{id}` for each route hono has, whatever middleware it has (app.use is ALL). */
const registered = (hono: Hono<Env>) =>
  [...new Set(hono.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`))].sort();
const documented = (paths: Record<string, Record<string, unknown>>) =>
  Object.entries(paths)
    .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, method, path, op })),
);

/** A JSON Schema of an object, or of one of several objects (a union). */
const isObjectSchema = (schema: Record<string, unknown> | undefined): boolean =>
  schema?.type === 'object' || (Array.isArray(schema?.anyOf) && schema.anyOf.every((option) => isObjectSchema(option as Record<string, unknown>)));

describe('routes and their document', () => {
  it('documents every route hono serves, and no other', () => {
    expect(registered(app)).toEqual(documented(doc.paths));
    // The README's routes and the ones a client of the console needs.
    expect(documented(doc.paths)).toEqual(
      expect.arrayContaining([
        'GET /api/session',
        'POST /',
        'POST /api/devices/{sn}/commands',
        'GET /api/devices',
        'DELETE /api/devices/{sn}',
        'GET /api/stream',
        'POST /ui/login',
        'GET /api/docs',
        'GET /metrics',
      ]),
    );
  });

  it('tells a route registered around its declaration from one declared', () => {
    const hono = new Hono<Env>();
    const routes = [
      route({ method: 'get', path: '/api/things/{id}', operationId: 'getThing', tag: 'things', summary: 'a thing', responses: { 204: empty('none') } }, (c) =>
        c.body(null, 204),
      ),
    ];
    mount(hono, routes, () => async (_c, next) => next());
    expect(registered(hono)).toEqual(documented(openApiDocument(routes.map((r) => r.contract)).paths));
    hono.get('/api/things', (c) => c.body(null, 204));
    expect(registered(hono)).not.toEqual(documented(openApiDocument(routes.map((r) => r.contract)).paths));
  });

  it('names each operation once', () => {
    const ids = operations.map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lists the answers the declaration gives: 401 unless open, 400 and 413 with a body, 400 with a query, and each path parameter', () => {
    for (const { name, method, path, op } of operations) {
      const statuses = Object.keys(op.responses);
      const open = Array.isArray(op.security) && op.security.length === 0;
      if (!open) expect(statuses, name).toContain('401');
      if (!open && method !== 'get') expect(statuses, name).toContain('403');
      if (op.requestBody) expect(statuses, name).toEqual(expect.arrayContaining(['400', '413']));
      if (op.parameters?.some((p) => p.in === 'query')) expect(statuses, name).toContain('400');
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map(([, param]) => param);
      expect(op.parameters?.filter((p) => p.in === 'path').map((p) => p.name) ?? [], name).toEqual(inPath);
      if (inPath.length > 0) expect(statuses, name).toContain('404');
      expect(
        statuses.some((status) => Number(status) < 400),
        name,
      ).toBe(true);
    }
  });

  it('gives every JSON answer a schema, every error the error shape, and every answer with a body its type', () => {
    const ErrorSchema = v.object(
      { type: v.literal('object'), properties: v.object({ error: v.looseObject({ required: v.tuple([v.literal('code'), v.literal('message')]) }) }) },
      'the error shape',
    );
    for (const { name, op } of operations) {
      for (const [status, answer] of Object.entries(op.responses)) {
        const where = `${name} ${status}`;
        expect(answer.description, where).toBeTruthy();
        // No body: a 204 or a redirect.
        if (!answer.content) {
          expect(Number(status) === 204 || (Number(status) >= 300 && Number(status) < 400), where).toBe(true);
          continue;
        }
        const json = answer.content['application/json'];
        if (json) expect(isObjectSchema(json.schema), where).toBe(true);
        if (Number(status) >= 400 && !(name === 'GET /readyz' && status === '503')) expect(v.is(ErrorSchema, json?.schema), where).toBe(true);
      }
    }
  });
});
