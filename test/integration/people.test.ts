import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { Page } from '../../src/http/list.ts';
import { PersonSummarySchema, PersonViewSchema, PutAnswerSchema } from '../../src/http/people.ts';
import { loadFixtures } from '../../src/kit/fixtures.ts';
import { stampJpeg } from '../../src/kit/jpeg.ts';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { openStream } from '../support/sse.ts';

// README §People on the terminals: real terminals (MQTT clients) get the
// enrolment commands of the real bridge and answer them here, in the test:
// they read addPersonD (or a custom name) and publish its reply.

let bridge: TestBridge | undefined;
let mosquitto: Mosquitto | undefined;
let terminals: Terminal[] = [];
let streams: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(streams.map((s) => s.close()));
  streams = [];
  await Promise.all(terminals.map((t) => t.stop(0)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
  await mosquitto?.dispose();
  mosquitto = undefined;
});

const [face] = await loadFixtures();
const photo = stampJpeg(face, 'people-test');

/** How a terminal answers an enrolment or a removal: code 0, unless told otherwise. */
type Answer = (body: Record<string, any>) => Record<string, unknown> | undefined;
const accept: Answer = () => ({ code: 0 });

/**
 * A terminal that answers person commands (`xxxD` → `xxxU` with `num` and
 * what `answer` says; undefined: no answer) and keeps each one it got.
 */
function answering(t: Terminal, answer: Answer = accept, names = ['addPersonD', 'deletePersonD']) {
  const got: Record<string, any>[] = [];
  t.onMessage(({ cmd, body }) => {
    if (!cmd || !body || !names.includes(cmd)) return;
    got.push(body);
    const reply = answer(body);
    if (reply) void t.send({ cmd: `${cmd.slice(0, -1)}U`, num: body.num ?? body.id, ...reply });
  });
  return got;
}

/** A terminal that is online: connected, subscribed, its first message stored as device.online. */
async function online(b: TestBridge, url: string, sn: string) {
  const t = await connectTerminal(url, sn);
  terminals.push(t);
  const came = b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === sn);
  await t.send({ cmd: 'heartU' });
  await came;
  return t;
}

const statuses = async (b: TestBridge, num: string) =>
  Object.fromEntries(((await b.api('GET', `/api/people/${num}`)).json.devices as { device_sn: string; status: string }[]).map((d) => [d.device_sn, d.status]));

describe.each([
  ['embedded', () => startBridge()],
  [
    'Mosquitto',
    async () => {
      mosquitto = await startMosquitto();
      return startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: `facegate-people-${Date.now()}` });
    },
  ],
])('enrolment (%s)', (_name, start) => {
  it('enrols on three terminals, one refusing: failed with its code, then synced after a retry', async () => {
    bridge = await start();
    const b = bridge;
    const url = mosquitto?.url ?? b.brokerUrl;
    const [t1, t2, t3] = [await online(b, url, 'P1'), await online(b, url, 'P2'), await online(b, url, 'P3')];
    const got1 = answering(t1);
    answering(t2);
    let refuse = true;
    const got3 = answering(t3, () => (refuse ? { code: 7, msg: 'no face found' } : { code: 0 }));
    // The live stream too: a reply's person events are stored while it is matched, before its own event, and must not be skipped.
    const live = await openStream(`http://127.0.0.1:${b.httpPort}/api/stream`, { authorization: `Bearer ${TOKEN}` });
    streams.push(live);

    const put = await b.api('PUT', '/api/people/1001', { name: 'Zhang San', photo: photo.toString('base64'), card: 'C-42' });
    expect(put.status).toBe(202);
    expect(put.json.person).toMatchObject({ num: '1001', name: 'Zhang San', has_photo: true, deleted: false, fields: { card: 'C-42' } });
    // Each answer in the shape the API's document gives.
    v.parse(PutAnswerSchema, put.json);
    expect(put.json.items).toEqual([
      { device_sn: 'P1', status: 'pending' },
      { device_sn: 'P2', status: 'pending' },
      { device_sn: 'P3', status: 'pending' },
    ]);

    const [failed] = await b.eventsStored(1, (e) => e.type === 'person.sync_failed');
    expect((await b.api('GET', `/api/events/${failed.id}`)).json).toMatchObject({
      type: 'person.sync_failed',
      num: '1001',
      device_sn: 'P3',
      code: 7,
      message: 'no face found',
    });
    await until(async () => Object.values(await statuses(b, '1001')).every((s) => s === 'applied' || s === 'failed'));
    const person = v.parse(PersonViewSchema, (await b.api('GET', '/api/people/1001')).json);
    v.parse(Page(PersonSummarySchema), (await b.api('GET', '/api/people?status=failed')).json);
    expect((await b.api('GET', '/api/people?status=failed')).json.items.map((p: { num: string }) => p.num)).toEqual(['1001']);
    expect((await b.api('GET', '/api/people?status=pending')).json).toEqual({ items: [], next_cursor: null });
    const fetched = await fetch(`http://127.0.0.1:${b.httpPort}/api/people/1001/photo`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(fetched.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await fetched.arrayBuffer()).equals(photo)).toBe(true);
    expect(person.devices).toEqual([
      expect.objectContaining({ device_sn: 'P1', status: 'applied', code: null, message: null }),
      expect.objectContaining({ device_sn: 'P2', status: 'applied' }),
      expect.objectContaining({ device_sn: 'P3', status: 'failed', code: 7, message: 'no face found' }),
    ]);
    expect(b.stored.filter((e) => e.type === 'person.synced')).toEqual([]);
    // The terminal got the photo itself, spliced in as it went out, and every other field.
    expect(got1[0]).toEqual({ cmd: 'addPersonD', num: '1001', name: 'Zhang San', photo: photo.toString('base64'), card: 'C-42' });
    expect(got3).toHaveLength(1);

    refuse = false;
    expect((await b.api('POST', '/api/people/1001/retry')).json).toEqual({ num: '1001', retried: 1 });
    const [synced] = await b.eventsStored(1, (e) => e.type === 'person.synced');
    await live.until(() => live.events.some((e) => e.event === 'person.synced'));
    expect(live.events.map((e) => e.event).filter((type) => type?.startsWith('person.'))).toEqual(['person.sync_failed', 'person.synced']);
    expect((await b.api('GET', `/api/events/${synced.id}`)).json).toEqual({
      type: 'person.synced',
      id: synced.id,
      num: '1001',
      code: null,
      message: null,
      received_at: expect.any(String),
      has_image: false,
    });
    expect(await statuses(b, '1001')).toEqual({ P1: 'applied', P2: 'applied', P3: 'applied' });
    expect(got3).toHaveLength(2);
    expect(await b.metric('facegate_person_sync')).toMatch(/facegate_person_sync\{status="applied"\} 3/);
    expect(await b.metric('facegate_people')).toMatch(/^facegate_people 1$/m);

    // The same content again sends nothing.
    const again = await b.api('PUT', '/api/people/1001', { name: 'Zhang San', photo: photo.toString('base64'), card: 'C-42' });
    expect(again.json.items.map((i: { status: string }) => i.status)).toEqual(['applied', 'applied', 'applied']);
    // Nothing is pending, so no terminal has a turn: the four commands are those of before.
    expect(b.count('commands', 'person = ?', '1001')).toBe(4);
  });
});

describe('catching up', () => {
  it('keeps a change pending for a terminal that is gone, and sends it when it is back (embedded)', async () => {
    bridge = await startBridge();
    const b = bridge;
    const t = await online(b, b.brokerUrl, 'C1');
    await t.stop(0);
    terminals = [];
    const put = await b.api('PUT', '/api/people/2001', { name: 'Li Si', devices: ['C1'] });
    expect(put.json.items).toEqual([{ device_sn: 'C1', status: 'pending' }]);
    expect(b.count('commands', 'person = ?', '2001')).toBe(0);

    const back = await connectTerminal(b.brokerUrl, 'C1');
    terminals.push(back);
    const got = answering(back);
    await b.eventsStored(1, (e) => e.type === 'person.synced');
    expect(got).toEqual([{ cmd: 'addPersonD', num: '2001', name: 'Li Si' }]);
    expect(await statuses(b, '2001')).toEqual({ C1: 'applied' });
  });

  it('keeps a pending change across a restart and sends it when the terminal is back', async () => {
    bridge = await startBridge();
    const first = bridge;
    const t = await online(first, first.brokerUrl, 'R1');
    await t.stop(0);
    terminals = [];
    await first.api('PUT', '/api/people/2101', { name: 'Across', devices: ['R1'] });
    await first.stop({ keepData: true });
    bridge = await startBridge({}, first.dataDir);
    const b = bridge;
    const back = await connectTerminal(b.brokerUrl, 'R1');
    terminals.push(back);
    const got = answering(back);
    await back.send({ cmd: 'heartU' });
    await b.eventsStored(1, (e) => e.type === 'person.synced');
    expect(got).toEqual([{ cmd: 'addPersonD', num: '2101', name: 'Across' }]);
  });

  it('against Mosquitto: offline after HEARTBEAT_TIMEOUT, pending, sent once the terminal is heard from again', async () => {
    mosquitto = await startMosquitto();
    bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-people-offline', HEARTBEAT_TIMEOUT: '1' });
    const b = bridge;
    const t = await online(b, mosquitto.url, 'C2');
    const got = answering(t);
    await b.eventsStored(1, (e) => e.type === 'device.offline' && e.deviceSn === 'C2');
    expect((await b.api('PUT', '/api/people/2002', { name: 'Wang Wu' })).json.items).toEqual([{ device_sn: 'C2', status: 'pending' }]);
    expect(b.count('commands', 'person = ?', '2002')).toBe(0);
    await t.send({ cmd: 'heartU' });
    await b.eventsStored(1, (e) => e.type === 'person.synced');
    expect(got.map((c) => c.num)).toEqual(['2002']);
  });

  it('gives a terminal seen for the first time everyone meant for every terminal, and says synced again', async () => {
    bridge = await startBridge();
    const b = bridge;
    answering(await online(b, b.brokerUrl, 'N1'));
    await b.api('PUT', '/api/people/3001', { name: 'A', devices: 'all' });
    await b.api('PUT', '/api/people/3002', { name: 'B', devices: ['N1'] });
    await b.eventsStored(2, (e) => e.type === 'person.synced');

    const t = await connectTerminal(b.brokerUrl, 'N2');
    terminals.push(t);
    const got = answering(t);
    await t.send({ cmd: 'heartU' });
    await b.eventsStored(3, (e) => e.type === 'person.synced');
    expect(got.map((c) => c.num)).toEqual(['3001']);
    expect(await statuses(b, '3001')).toEqual({ N1: 'applied', N2: 'applied' });
    expect(await statuses(b, '3002')).toEqual({ N1: 'applied' });
    const list = (await b.api('GET', '/api/people?device=N2')).json;
    expect(list.items.map((p: { num: string; status: string }) => [p.num, p.status])).toEqual([['3001', 'applied']]);
  });
});

describe('changes', () => {
  it('sends a change made while the previous one is out after its reply, and says synced once', async () => {
    bridge = await startBridge();
    const b = bridge;
    const t = await online(b, b.brokerUrl, 'U1');
    let hold = true;
    const held: Record<string, any>[] = [];
    const got = answering(t, (body) => {
      if (!hold) return { code: 0 };
      held.push(body);
      return undefined;
    });
    await b.api('PUT', '/api/people/4001', { name: 'Old Name' });
    await until(() => held.length === 1);
    await until(async () => (await statuses(b, '4001')).U1 === 'sent');
    const changed = await b.api('PUT', '/api/people/4001', { name: 'New Name' });
    expect(changed.json.items).toEqual([{ device_sn: 'U1', status: 'sent' }]);
    // One person command in flight per terminal: nothing more goes out before the reply.
    expect(b.count('commands', 'person = ?', '4001')).toBe(1);
    hold = false;
    await t.send({ cmd: 'addPersonU', num: '4001', code: 0 });
    await b.eventsStored(1, (e) => e.type === 'person.synced');
    expect(got.map((c) => c.name)).toEqual(['Old Name', 'New Name']);
    expect(await statuses(b, '4001')).toEqual({ U1: 'applied' });
    expect(b.stored.filter((e) => e.type === 'person.synced')).toHaveLength(1);
  });

  it('removes a person from each terminal, shows them deleted meanwhile, then 404', async () => {
    bridge = await startBridge();
    const b = bridge;
    const t1 = await online(b, b.brokerUrl, 'D1');
    const t2 = await online(b, b.brokerUrl, 'D2');
    answering(t1);
    let holdRemoval = true;
    const got2 = answering(t2, (body) => (body.cmd === 'deletePersonD' && holdRemoval ? undefined : { code: 0 }));
    await b.api('PUT', '/api/people/5001', { name: 'Leaving', devices: ['D1', 'D2'] });
    await b.eventsStored(1, (e) => e.type === 'person.synced');

    const removed = await b.api('DELETE', '/api/people/5001');
    expect(removed.status).toBe(202);
    expect(removed.json).toEqual({
      num: '5001',
      deleted: true,
      items: [expect.objectContaining({ device_sn: 'D1' }), expect.objectContaining({ device_sn: 'D2' })],
    });
    await until(() => got2.some((c) => c.cmd === 'deletePersonD'));
    // The terminal may hold the command before the broker's acknowledgement (`sent`) is committed.
    await until(async () => (await statuses(b, '5001')).D2 === 'sent');
    const meanwhile = (await b.api('GET', '/api/people/5001')).json;
    expect(meanwhile.deleted).toBe(true);
    expect(meanwhile.devices.find((d: { device_sn: string }) => d.device_sn === 'D2')).toMatchObject({ op: 'delete', status: 'sent' });
    holdRemoval = false;
    await t2.send({ cmd: 'deletePersonU', num: '5001', code: 0 });
    const [done] = await b.eventsStored(1, (e) => e.type === 'person.synced' && b.stored.indexOf(e) > b.stored.findIndex((x) => x.type === 'person.synced'));
    expect((await b.api('GET', `/api/events/${done.id}`)).json).toMatchObject({ num: '5001', deleted: true });
    expect((await b.api('GET', '/api/people/5001')).status).toBe(404);
    expect(await b.metric('facegate_people')).toMatch(/^facegate_people 0$/m);
    expect(await b.metric('facegate_person_sync')).toMatch(/facegate_person_sync\{status="applied"\} 0/);
    expect(got2.map((c) => c.cmd)).toEqual(['addPersonD', 'deletePersonD']);
    expect(got2[1]).toEqual({ cmd: 'deletePersonD', num: '5001' });
  });

  it('drops the rows of a terminal that is forgotten', async () => {
    bridge = await startBridge({ DEVICES: 'G1' });
    const b = bridge;
    answering(await online(b, b.brokerUrl, 'G2'));
    await b.api('PUT', '/api/people/5003', { name: 'Two', devices: ['G1', 'G2'] });
    await until(async () => (await statuses(b, '5003')).G2 === 'applied');
    expect(await statuses(b, '5003')).toEqual({ G1: 'pending', G2: 'applied' });
    expect((await b.api('DELETE', '/api/devices/G1')).status).toBe(204);
    expect(await statuses(b, '5003')).toEqual({ G2: 'applied' });
  });

  it('forgets at once a person never sent anywhere', async () => {
    bridge = await startBridge();
    const b = bridge;
    await b.api('PUT', '/api/people/5002', { name: 'Nobody', devices: ['GONE1'] });
    expect((await b.api('DELETE', '/api/people/5002')).json).toEqual({ num: '5002', deleted: true, items: [] });
    expect((await b.api('GET', '/api/people/5002')).status).toBe(404);
    expect((await b.api('DELETE', '/api/people/5002')).status).toBe(404);
  });
});

describe('unanswered', () => {
  it('waits out a backoff for a person whose command went unanswered, while the terminal goes on with the next', async () => {
    bridge = await startBridge({ REPLY_WINDOW: '300ms' });
    const b = bridge;
    const t = await online(b, b.brokerUrl, 'S1');
    const got = answering(t, (body) => (body.num === '9001' ? undefined : { code: 0 }));
    await b.api('PUT', '/api/people/9001', { name: 'Silent' });
    await b.api('PUT', '/api/people/9002', { name: 'Answered' });
    // One at a time: 9002 goes once 9001's command is unanswered.
    await b.eventsStored(1, (e) => e.type === 'person.synced');
    expect(got.map((c) => c.num)).toEqual(['9001', '9002']);
    const [row] = b.rows('select status, attempts, command_id, next_attempt_at - updated_at as wait from person_sync where num = ?', '9001');
    expect(row).toEqual({ status: 'pending', attempts: 1, command_id: null, wait: 10_000 });
    expect(b.stored.filter((e) => e.type === 'command.unanswered')).toHaveLength(1);
    expect(await b.metric('facegate_person_sync_total')).toMatch(/outcome="unanswered"} 1/);
  });
});

describe('?erase=true', () => {
  it('erases the events of a num that was never put', async () => {
    bridge = await startBridge();
    const b = bridge;
    const t = await online(b, b.brokerUrl, 'E2');
    await t.send(verifiedRecordU([verifiedRecord({ num: 'V-9' }), verifiedRecord({ num: 'V-9', time: '2026-11-22 10:00:01' })]));
    await t.send(verifiedRecordU([verifiedRecord({ num: 'V-10' })]));
    // A late answer naming the person, matched to no command: a device message about them.
    await t.send({ cmd: 'addPersonU', num: 'V-9', code: 0 });
    await b.eventsStored(3, (e) => e.type === 'face.verified');
    await b.eventsStored(1, (e) => e.type === 'device.message');
    expect((await b.api('DELETE', '/api/people/V-9?erase=true')).json).toEqual({
      num: 'V-9',
      erased: { events: 3, images: 2, deliveries: 0, photo: 0, terminals: 0 },
    });
    expect(b.count('events', "type in ('face.verified', 'device.message')")).toBe(1);
  });
});

describe('PERSON_COMMANDS', () => {
  it('sends the commands of the file and reads success its way', async () => {
    const file = join(makeTempDir('facegate-person-commands-'), 'person-commands.json');
    writeFileSync(
      file,
      JSON.stringify({
        upsert: { command: { cmd: 'enrolD', id: '{{num}}', who: '{{name}}', card: '{{card}}' }, reply: 'enrolU' },
        delete: { command: { cmd: 'removeD', id: '{{num}}' }, reply: 'removeU' },
        success: { field: 'result', equals: 'ok' },
        message_field: 'err',
      }),
    );
    bridge = await startBridge({ PERSON_COMMANDS: file });
    const b = bridge;
    const t = await online(b, b.brokerUrl, 'K1');
    let fail = true;
    const got = answering(t, () => (fail ? { result: 'no', err: 'card taken' } : { result: 'ok' }), ['enrolD', 'removeD']);
    await b.api('PUT', '/api/people/7001', { name: 'Custom', card: 12, note: 'not sent' });
    const [failed] = await b.eventsStored(1, (e) => e.type === 'person.sync_failed');
    expect((await b.api('GET', `/api/events/${failed.id}`)).json).toMatchObject({ code: 'no', message: 'card taken' });
    expect(got[0]).toEqual({ cmd: 'enrolD', id: '7001', who: 'Custom', card: 12 });
    fail = false;
    await b.api('POST', '/api/people/7001/retry?device=K1');
    await b.eventsStored(1, (e) => e.type === 'person.synced');
    await b.api('DELETE', '/api/people/7001');
    await until(async () => (await b.api('GET', '/api/people/7001')).status === 404);
    expect(got.map((c) => c.cmd)).toEqual(['enrolD', 'enrolD', 'removeD']);
  });
});

describe('bad requests', () => {
  it.each([
    ['a body that is no JSON', '{"name":', /not valid JSON/],
    ['an array', [], /body must be a JSON object/],
    ['no name', { devices: 'all' }, /^name: name is required/],
    ['a name that is no string', { name: 7 }, /^name: name must be a string/],
    ['an empty name', { name: '' }, /^name: name must not be empty/],
    ['a name over 128 characters', { name: 'x'.repeat(129) }, /^name: name must be at most 128/],
    ['a photo that is no base64', { name: 'a', photo: 'not base64!' }, /^photo: photo must be base64/],
    ['a photo that is no JPEG', { name: 'a', photo: Buffer.from('GIF89a....').toString('base64') }, /^photo: photo must be a JPEG/],
    ['a photo over 1 MB', { name: 'a', photo: Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(1024 * 1024)]).toString('base64') }, /at most 1 MB/],
    ['devices neither all nor a list', { name: 'a', devices: 'some' }, /^devices: devices must be "all" or a list of serials/],
    ['an empty list of devices', { name: 'a', devices: [] }, /devices must not be empty/],
    ['a device that is no serial', { name: 'a', devices: ['a b'] }, /each of devices must be a serial/],
    ['a device twice', { name: 'a', devices: ['A1', 'A1'] }, /devices must not name a serial twice/],
    ['more devices than MAX_TERMINALS', { name: 'a', devices: ['A1', 'A2', 'A3'] }, /at most MAX_TERMINALS \(2\)/],
    ['a field named cmd', { name: 'a', cmd: 'rebootD' }, /cmd is not allowed as a field name/],
    ['a field name of other characters', { name: 'a', 'card-no': 1 }, /"card-no" is not allowed as a field name/],
    ['more than 64 fields', { name: 'a', ...Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, i])) }, /at most 64 fields/],
    ['text holding NUL', { name: 'a\u0000b' }, /NUL/],
    ['fields nested too deep', { name: 'a', deep: JSON.parse(`${'['.repeat(70)}${']'.repeat(70)}`) }, /nests objects or arrays more than 64/],
  ])('PUT with %s: 400 naming the field, nothing stored', async (_name, body, message) => {
    bridge ??= await startBridge({ MAX_TERMINALS: '2', BODY_LIMIT: '2mb' });
    const res = await bridge.api('PUT', '/api/people/8001', body);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_request');
    expect(res.json.error.message).toMatch(message);
    expect(bridge.count('people')).toBe(0);
  });

  it('answers 400 for bad queries and 404 for a num that is none', async () => {
    bridge = await startBridge();
    const b = bridge;
    for (const [method, path, message] of [
      ['GET', '/api/people?status=done', /status must be one of pending, sent, applied, failed/],
      ['GET', '/api/people?limit=0', /limit must be 1 to 500/],
      ['GET', '/api/people?device=a%20b', /device must be a serial/],
      ['DELETE', '/api/people/1?erase=yes', /erase must be true or false/],
      ['POST', '/api/people/1/retry?device=a%20b', /device must be a serial/],
    ] as const) {
      const res = await b.api(method, path);
      expect(res.status, path).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) });
    }
    expect((await b.api('PUT', `/api/people/${'x'.repeat(65)}`, { name: 'a' })).status).toBe(404);
    expect((await b.api('GET', '/api/people/unknown')).json.error.code).toBe('not_found');
    expect((await b.api('GET', '/api/people/unknown/photo')).status).toBe(404);
    expect((await b.api('POST', '/api/people/unknown/retry')).status).toBe(404);
  });
});
