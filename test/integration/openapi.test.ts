import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandViewSchema, ListedCommandSchema, SentSchema } from '../../src/http/commands.ts';
import { DeliverySchema } from '../../src/http/deliveries.ts';
import { TerminalSchema, TerminalTodaySchema } from '../../src/http/devices.ts';
import { ErrorBody } from '../../src/http/errors.ts';
import { EventSchema, ListedEventSchema } from '../../src/http/events.ts';
import { InfoSchema } from '../../src/http/info.ts';
import { Page } from '../../src/http/list.ts';
import { RejectSchema } from '../../src/http/rejects.ts';
import { EndpointViewSchema, RedeliveredSchema } from '../../src/http/webhooks.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { VERSION } from '../../src/lib/version.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { startReceiver } from '../support/receiver.ts';

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
      expect.arrayContaining([
        '/api/devices/{sn}/commands',
        '/',
        '/api/events',
        '/api/events/{id}/image',
        '/api/stream',
        '/api/webhooks',
        '/api/deliveries/{id}/retry',
        '/readyz',
        '/metrics',
        '/api/people',
        '/api/people/{num}',
        '/api/people/{num}/photo',
        '/api/people/{num}/retry',
      ]),
    );
    expect(Object.keys(doc.paths['/api/people/{num}'])).toEqual(expect.arrayContaining(['put', 'get', 'delete']));
    expect(doc.paths['/api/people/{num}'].put.requestBody.content['application/json'].schema.required).toEqual(['name']);
    const command = doc.paths['/api/devices/{sn}/commands'].post;
    expect(command.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object',
      properties: { cmd: { type: 'string', minLength: 1 } },
      required: ['cmd'],
    });
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
    expect(Object.keys(doc.paths['/'].post.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '409', '413', '429', '503']));
    expect(doc.paths['/api/session'].get.responses).toHaveProperty('401');
    expect(doc.paths['/api/events/{id}'].get.responses['200'].content['application/json'].schema.anyOf).toHaveLength(7);
  });

  it('answers in the shapes its document gives: each view, each list, short items, errors', async () => {
    bridge = await startBridge({ DEVICES: 'DOC1' });
    const receiver = await startReceiver();
    const terminal = await connectTerminal(bridge.brokerUrl, 'DOC1');
    try {
      await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
      await terminal.send({ cmd: 'strangerRecordU', data: [verifiedRecord({ num: '1002', name: 'stranger' })] });
      // Over SHOWN_BYTES (64 KB): listed short.
      await terminal.send({ cmd: 'logU', text: 'x'.repeat(70 * 1024) });
      await terminal.send({ cmd: 'logU', text: 'short' });
      const events = await bridge.eventsStored(5);
      const shaped = async (schema: v.GenericSchema, method: string, path: string, body?: unknown, status = 200) => {
        const answer = await bridge!.api(method, path, body);
        expect(answer.status, `${method} ${path}`).toBe(status);
        const result = v.safeParse(schema, answer.json);
        expect(result.issues?.map((issue) => `${v.getDotPath(issue)}: ${issue.message}`) ?? [], `${method} ${path}`).toEqual([]);
        return answer.json;
      };

      const list = await shaped(Page(ListedEventSchema), 'GET', '/api/events');
      expect(list.items.filter((item: any) => item.truncated)).toHaveLength(1);
      for (const event of events) await shaped(EventSchema, 'GET', `/api/events/${event.id}`);
      expect(new Set(events.map((event) => event.type))).toEqual(new Set(['device.online', 'face.verified', 'face.stranger', 'device.message']));

      const sent = await shaped(SentSchema, 'POST', '/api/devices/DOC1/commands', { cmd: 'openDoor' }, 202);
      await shaped(SentSchema, 'POST', '/api/devices/DOC1/commands', { cmd: 'addUser', photo: 'x'.repeat(70 * 1024) }, 202);
      const commands = await shaped(Page(ListedCommandSchema), 'GET', '/api/commands');
      expect(commands.items.filter((item: any) => item.truncated)).toHaveLength(1);
      await shaped(CommandViewSchema, 'GET', `/api/commands/${sent.id}`);

      const info = await shaped(InfoSchema, 'GET', '/api/info');
      expect(info).toMatchObject({ version: VERSION, time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone, broker: 'embedded' });
      expect(info.utc_offset).toMatch(/^[+-]\d{2}:\d{2}$/);
      await shaped(Page(TerminalSchema), 'GET', '/api/devices');
      await shaped(TerminalTodaySchema, 'GET', '/api/devices/DOC1');

      const endpoint = await shaped(
        EndpointViewSchema,
        'POST',
        '/api/webhooks',
        { url: receiver.url, event_types: ['face.verified'], secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
        201,
      );
      await shaped(Page(EndpointViewSchema), 'GET', '/api/webhooks');
      await shaped(EndpointViewSchema, 'POST', `/api/webhooks/${endpoint.id}/enable`);
      await shaped(RedeliveredSchema, 'POST', `/api/webhooks/${endpoint.id}/redeliver`, { since: '2000-01-01T00:00:00Z' }, 202);
      await until(async () => (await bridge!.api('GET', `/api/deliveries?endpoint=${endpoint.id}&status=delivered`)).json.items.length === 1);
      const deliveries = await shaped(Page(DeliverySchema), 'GET', '/api/deliveries');
      await shaped(DeliverySchema, 'GET', `/api/deliveries/${deliveries.items[0].id}`);

      // README §What a terminal really sent: a message that is not JSON, kept and listed.
      await terminal.client.publishAsync('fungxi_DOC1_upLink', 'not json {', { qos: 1 });
      await until(async () => (await bridge!.api('GET', '/api/rejects')).json.items.length === 1);
      const rejects = await shaped(Page(RejectSchema), 'GET', '/api/rejects?device=DOC1');
      expect(rejects.items).toEqual([expect.objectContaining({ device_sn: 'DOC1', reason: 'not_json', sample: 'not json {', size: 10 })]);
      await shaped(RejectSchema, 'GET', `/api/rejects/${rejects.items[0].id}`);
      expect((await shaped(Page(RejectSchema), 'GET', '/api/rejects?device=OTHER1')).items).toEqual([]);
      await shaped(ErrorBody, 'GET', '/api/rejects/rej_999999', undefined, 404);
      await shaped(ErrorBody, 'GET', '/api/events/evt_none', undefined, 404);
      const refused = await shaped(ErrorBody, 'POST', '/api/webhooks', { url: 'not a url' }, 400);
      expect(refused.error.issues.length).toBeGreaterThan(0);
      // An issue of the whole body has no path.
      const notAnObject = await shaped(ErrorBody, 'POST', '/', [1], 400);
      expect(notAnObject.error.issues).toEqual([{ path: null, message: 'body must be a JSON object' }]);
    } finally {
      await terminal.client.endAsync(true);
      await receiver.close();
    }
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
