import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../support/bridge.ts';

let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
});

describe('OpenAPI', () => {
  it('describes every route with the schemas the routes validate with, without a token', async () => {
    bridge = await startBridge();
    const { status, json: doc } = await bridge.api('GET', '/api/openapi.json', undefined, { token: null });
    expect(status).toBe(200);
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/devices/{sn}/commands', '/', '/api/events', '/api/events/{id}/image', '/api/stream', '/api/webhooks', '/api/deliveries/{id}/retry', '/readyz', '/metrics']),
    );
    const command = doc.paths['/api/devices/{sn}/commands'].post;
    expect(command.requestBody.content['application/json'].schema).toMatchObject({ type: 'object', properties: { cmd: { type: 'string', minLength: 1 } }, required: ['cmd'] });
    expect(Object.keys(command.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '404', '413', '429', '503']));
    const endpoint = doc.paths['/api/webhooks'].post.requestBody.content['application/json'].schema;
    expect(endpoint.properties.event_types.items.enum).toContain('face.stranger');
    const listParams = doc.paths['/api/events'].get.parameters.map((p: any) => p.name);
    expect(listParams).toEqual(['type', 'device', 'since', 'until', 'limit', 'cursor']);
    expect(doc.paths['/api/devices'].get.parameters.map((p: any) => p.name)).toEqual(['online', 'limit', 'cursor']);
    expect(Object.keys(doc.paths['/api/devices/{sn}'].delete.responses)).toEqual(expect.arrayContaining(['204', '401', '404']));
    // What a client must know to read a list right: short pages with a cursor, items shown short.
    expect(doc.paths['/api/events'].get.description).toMatch(/may hold fewer, even none, and still have a `next_cursor`.*"truncated": true.*"fields_bytes"/);
    expect(doc.paths['/api/commands'].get.description).toMatch(/"body_bytes"/);
    expect(doc.paths['/api/commands/{id}'].get.responses).toHaveProperty('404');
    expect(doc.paths['/api/webhooks'].post.responses).toHaveProperty('409');
    expect(doc.paths['/api/webhooks/{id}/disable'].post.responses).toHaveProperty('404');
    expect(doc.paths['/api/webhooks'].get.description).toMatch(/`disabled_reason` `config`, `gone`, `admin`/);
  });

  it('serves a readable docs page', async () => {
    bridge = await startBridge();
    const res = await bridge.api('GET', '/api/docs', undefined, { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toContain('/api/devices/{sn}/commands');
  });

  it('answers the probes without a token', async () => {
    bridge = await startBridge();
    expect((await bridge.api('GET', '/healthz', undefined, { token: null })).json).toEqual({ status: 'ok' });
    expect((await bridge.api('GET', '/readyz', undefined, { token: null })).json).toEqual({ status: 'ready' });
  });

  it('does not open the rest of the API', async () => {
    bridge = await startBridge();
    expect((await bridge.api('GET', '/api/events', undefined, { token: null })).status).toBe(401);
  });
});
