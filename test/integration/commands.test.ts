import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { openRaw, type RawClient } from '../support/intruder.ts';

let bridge: TestBridge | undefined;
let mosquitto: Mosquitto | undefined;
let terminals: Terminal[] = [];
let raw: RawClient | undefined;

afterEach(async () => {
  raw?.socket.destroy();
  raw = undefined;
  await Promise.all(terminals.map((t) => t.end()));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
  await mosquitto?.dispose();
  mosquitto = undefined;
});

async function withTerminals(env: Record<string, string>, ...serials: string[]) {
  const b = await startBridge(env);
  bridge = b;
  for (const sn of serials) {
    const t = await connectTerminal(b.brokerUrl, sn);
    terminals.push(t);
    const online = b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === sn);
    await t.send({ cmd: 'heartU' });
    await online;
  }
  return b;
}

describe('POST /api/devices/{sn}/commands', () => {
  it('does not deliver a command later than its expiry to a terminal that returns with its session', async () => {
    const b = await startBridge({}, undefined, { commandExpiryMs: 1000 });
    bridge = b;
    const t = await connectTerminal(b.brokerUrl, 'LATE1', { clean: false, reconnectPeriod: 0 });
    terminals.push(t);
    await t.send({ cmd: 'heartU' });
    // The terminal gets the command but never acknowledges it (its link died unnoticed): it stays in its session.
    t.client.handleMessage = () => {};
    const delivered = new Promise<void>((resolve) => t.client.on('packetreceive', (packet) => packet.cmd === 'publish' && resolve()));
    expect((await b.api('POST', '/api/devices/LATE1/commands', { cmd: 'openDoorD' })).status).toBe(202);
    // The expiry was set before the broker had it, so before this answer: the wait below counts from here.
    const sentAt = Date.now();
    await delivered;
    await t.client.endAsync(true);
    // Back after the expiry, with its session.
    await new Promise((resolve) => setTimeout(resolve, sentAt + 1200 - Date.now()));
    const received: string[] = [];
    const back = mqtt.connect(b.brokerUrl, { clientId: 'terminal-LATE1', clean: false, reconnectPeriod: 0 });
    back.on('message', (_topic, payload) => received.push(payload.toString()));
    await new Promise((resolve) => back.once('connect', resolve));
    const answered = new Promise<void>((resolve) => back.on('message', (_topic, payload) => payload.includes('heartD') && resolve()));
    await back.publishAsync('fungxi_LATE1_upLink', '{"cmd":"heartU"}', { qos: 1 });
    await answered;
    await back.endAsync(true);
    expect(received.filter((m) => m.includes('openDoorD'))).toEqual([]);
  });

  it('publishes the command to the terminal and answers 202 once the broker has it', async () => {
    const b = await withTerminals({}, 'D1');
    const arrived = terminals[0].next((m) => m.cmd === 'openDoorD');
    const body = { cmd: 'openDoorD', door: 1, photo: 'x'.repeat(300_000) };
    const res = await b.api('POST', '/api/devices/D1/commands', body);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ id: expect.stringMatching(/^cmd_/), device_sn: 'D1', status: 'published' });
    expect(await arrived).toEqual(body);

    const [row] = b.db().prepare('select * from commands').all() as any[];
    expect(row).toMatchObject({ id: res.json.id, device_sn: 'D1', status: 'published', error: null });
    expect(JSON.parse(row.body)).toEqual(body);
    const list = await b.api('GET', '/api/commands');
    expect(list.json.items[0]).toMatchObject({ id: res.json.id, device_sn: 'D1', status: 'published' });
  });

  it("keeps the terminal's reply as the command's command.replied event, not a device message", async () => {
    const b = await withTerminals({}, 'D1');
    const sent = await b.api('POST', '/api/devices/D1/commands', { cmd: 'getVersionD' });
    await terminals[0].send({ cmd: 'getVersionU', version: '1.2.3' });
    const [reply] = await b.eventsStored(1, (e) => e.type === 'command.replied');
    expect(reply.deviceSn).toBe('D1');
    expect(b.stored.filter((e) => e.type === 'device.message')).toEqual([]);
    const event = (await b.api('GET', `/api/events/${reply.id}`)).json;
    expect(event).toMatchObject({ type: 'command.replied', command_id: sent.json.id, cmd: 'getVersionD', reply: { cmd: 'getVersionU', version: '1.2.3' } });
  });

  it('refuses requests without the admin token', async () => {
    const b = await withTerminals({}, 'D1');
    for (const token of [null, 'wrong-token-wrong-token']) {
      const res = await b.api('POST', '/api/devices/D1/commands', { cmd: 'openDoorD' }, { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.json.error.code).toBe('unauthorized');
    }
    expect(terminals[0].received.filter((m) => m.cmd === 'openDoorD')).toEqual([]);
  });

  it.each([
    ['not JSON', '{cmd:', /not valid JSON/],
    ['not an object', '[1]', /^body must be a JSON object$/],
    ['no cmd', '{"door":1}', /^cmd: cmd is required$/],
    ['a numeric cmd', '{"cmd":1}', /^cmd: cmd must be a string/],
    ['an empty cmd', '{"cmd":""}', /^cmd: cmd must not be empty/],
    // Thousands of levels would overflow the stack when the command is written out for the terminal.
    [
      'JSON nested 10,000 deep',
      `{"cmd":"openDoorD","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      /^body nests objects or arrays more than 64 levels deep$/,
    ],
  ])('answers 400 with the reason for %s', async (_name, body, message) => {
    const b = await withTerminals({}, 'D1');
    const res = await b.api('POST', '/api/devices/D1/commands', body);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_request');
    expect(res.json.error.message).toMatch(message);
  });

  it('lists the valibot issues of an invalid body', async () => {
    const b = await withTerminals({}, 'D1');
    const res = await b.api('POST', '/api/devices/D1/commands', { cmd: 3 });
    expect(res.json.error.issues).toEqual([{ path: 'cmd', message: 'cmd must be a string' }]);
  });

  it('answers 404 for an unknown terminal and an unknown route', async () => {
    const b = await withTerminals({}, 'D1');
    const unknown = await b.api('POST', '/api/devices/NOPE/commands', { cmd: 'openDoorD' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toEqual({ code: 'not_found', message: 'no terminal NOPE is known' });
    const route = await b.api('GET', '/api/nothing-here');
    expect(route.status).toBe(404);
    expect(route.json.error.code).toBe('not_found');
  });

  it('answers 413 for a body over BODY_LIMIT', async () => {
    const b = await withTerminals({ BODY_LIMIT: '1kb' }, 'D1');
    const res = await b.api('POST', '/api/devices/D1/commands', { cmd: 'enrolD', photo: 'x'.repeat(2000) });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('payload_too_large');
  });

  it('answers 429 with Retry-After past COMMAND_RATE, per terminal', async () => {
    const b = await withTerminals({ COMMAND_RATE: '1/s' }, 'D1', 'D2');
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await b.api('POST', '/api/devices/D1/commands', { cmd: 'openDoorD' })).status);
    expect(statuses).toEqual([202, 202, 429]);
    const limited = await b.api('POST', '/api/devices/D1/commands', { cmd: 'openDoorD' });
    expect(limited.json.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await b.api('POST', '/api/devices/D2/commands', { cmd: 'openDoorD' })).status).toBe(202);
  });
});

describe('POST /api/commands (fan-out)', () => {
  it('goes out to every terminal while one that stopped reading holds only its own commands', async () => {
    const fast = ['F1', 'F2', 'F3', 'F4', 'F5', 'F6', 'F7', 'F8'];
    const b = await withTerminals({ BODY_LIMIT: '2mb' }, ...fast);
    // A terminal that subscribes, beats once, then reads nothing more: its connection's buffers fill up.
    raw = await openRaw(b.brokerPort, 'STALL');
    raw.write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fungxi_STALL_downLink', qos: 1 }] });
    const online = b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === 'STALL');
    raw.write({ cmd: 'publish', topic: 'fungxi_STALL_upLink', payload: Buffer.from('{"cmd":"heartU"}'), qos: 0, retain: false, dup: false });
    await online;
    raw.socket.pause();
    // Six bodies of 1.5 MB: more than the loopback connection's buffers take, so one waits for the broker to hand it over
    // (and its request with it: a command's answer waits for its first turn).
    const posts = Array.from({ length: 6 }, (_, i) =>
      b.api('POST', '/api/devices/STALL/commands?ttl=1h', { cmd: 'setConfigD', blob: String(i).repeat(1_500_000) }),
    );
    await until(async () => (await b.api('GET', '/api/commands?device=STALL')).json.items.length === 6, 50);
    const arrived = terminals.map((t) => t.next((m) => m.cmd === 'openDoorD'));
    const fanned = await b.api('POST', '/api/commands', { devices: ['STALL', ...fast], command: { cmd: 'openDoorD' } });
    expect(fanned.status).toBe(202);
    await Promise.all(arrived);
    const items = async () => (await b.api('GET', `/api/commands?batch=${fanned.json.batch}`)).json.items as { device_sn: string; status: string }[];
    await until(async () => (await items()).filter((c) => c.status === 'published').length === fast.length, 50);
    // Not published while the broker could not hand it over: it waits behind the one that is stuck.
    expect((await items()).find((c) => c.device_sn === 'STALL')?.status).toBe('queued');
    expect((await b.api('GET', '/api/commands?device=STALL&status=queued')).json.items.length).toBeGreaterThan(1);
    // Read again, the terminal gets the rest, in order, each published once the broker has handed it over.
    raw.socket.resume();
    await until(async () => (await items()).every((c) => c.status === 'published'), 50);
    expect((await b.api('GET', '/api/commands?device=STALL&status=queued')).json.items).toEqual([]);
    expect((await Promise.all(posts)).map((res) => res.status)).toEqual([202, 202, 202, 202, 202, 202]);
  });
});

describe('GET /api/commands', () => {
  it('pages newest first and filters by terminal', async () => {
    const b = await withTerminals({ COMMAND_RATE: '100/s' }, 'D1', 'D2');
    for (let i = 0; i < 5; i++) await b.api('POST', `/api/devices/${i % 2 ? 'D2' : 'D1'}/commands`, { cmd: `c${i}` });
    const first = (await b.api('GET', '/api/commands?limit=2')).json;
    const second = (await b.api('GET', `/api/commands?limit=2&cursor=${first.next_cursor}`)).json;
    const third = (await b.api('GET', `/api/commands?limit=2&cursor=${second.next_cursor}`)).json;
    expect([...first.items, ...second.items, ...third.items].map((c: any) => c.body.cmd)).toEqual(['c4', 'c3', 'c2', 'c1', 'c0']);
    expect(third.next_cursor).toBeNull();
    expect((await b.api('GET', '/api/commands?device=D2')).json.items.map((c: any) => c.body.cmd)).toEqual(['c3', 'c1']);
    expect((await b.api('GET', '/api/commands?cursor=nope')).status).toBe(400);
  });
});

describe('a terminal that is not connected', () => {
  it('gets no command: 503, and nothing arrives when it returns', async () => {
    const b = await startBridge();
    bridge = b;
    // A terminal with a persistent session: the broker would keep QoS 1 messages for it.
    let t = await connectTerminal(b.brokerUrl, 'GONE1', { clean: false, clientId: 'gone-terminal' });
    await t.send({ cmd: 'heartU' });
    await t.client.endAsync();
    const res = await b.api('POST', '/api/devices/GONE1/commands', { cmd: 'openDoorD' });
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe('device_offline');
    expect((b.db().prepare('select status from commands').get() as any).status).toBe('failed');

    t = await connectTerminal(b.brokerUrl, 'GONE1', { clean: false, clientId: 'gone-terminal' });
    terminals.push(t);
    const next = t.next((m) => m.cmd === 'fresh');
    expect((await b.api('POST', '/api/devices/GONE1/commands', { cmd: 'fresh' })).status).toBe(202);
    await next;
    expect(t.received.map((m) => m.cmd)).toEqual(['fresh']);
  });
});

describe('POST / (the original relay)', () => {
  it('relays any JSON object to the only terminal in DEVICES and answers ok', async () => {
    const b = await withTerminals({ DEVICES: 'ONLY1' }, 'ONLY1');
    const arrived = terminals[0].next((m) => m.cmd === 'openDoorD');
    const res = await b.api('POST', '/', { cmd: 'openDoorD' });
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
    expect(await arrived).toEqual({ cmd: 'openDoorD' });
  });

  it('needs DEFAULT_DEVICE when several terminals are listed in DEVICES', async () => {
    const b = await withTerminals({ DEVICES: 'A1,B2' }, 'A1', 'B2');
    const res = await b.api('POST', '/', { cmd: 'openDoorD' });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('conflict');
  });

  it('knows DEFAULT_DEVICE from the start', async () => {
    const b = await withTerminals({ DEFAULT_DEVICE: 'DEF1' });
    expect((await b.api('GET', '/api/devices/DEF1')).status).toBe(200);
  });

  it('sends to DEFAULT_DEVICE', async () => {
    const b = await withTerminals({ DEFAULT_DEVICE: 'B2' }, 'A1', 'B2');
    const arrived = terminals[1].next((m) => m.cmd === 'x');
    expect((await b.api('POST', '/', { cmd: 'x' })).text).toBe('ok');
    expect(await arrived).toEqual({ cmd: 'x' });
    expect(terminals[0].received.filter((m) => m.cmd === 'x')).toEqual([]);
  });

  it('needs the admin token', async () => {
    const b = await withTerminals({}, 'ONLY1');
    expect((await b.api('POST', '/', { cmd: 'openDoorD' }, { token: null })).status).toBe(401);
  });
});

describe('an unreachable broker', () => {
  it('answers 503 and never sends the command later', async () => {
    mosquitto = await startMosquitto();
    const b = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-test', DEVICES: 'D1' });
    bridge = b;
    const terminal = await connectTerminal(mosquitto.url, 'D1');
    terminals.push(terminal);
    // Online (README §Commands with replies): from its first upLink message.
    const online = b.eventsStored(1, (e) => e.type === 'device.online');
    await terminal.send({ cmd: 'heartU' });
    await online;
    const first = terminal.next((m) => m.cmd === 'first');
    expect((await b.api('POST', '/api/devices/D1/commands', { cmd: 'first' })).status).toBe(202);
    await first;

    await mosquitto.stop();
    const refused = await b.api('POST', '/api/devices/D1/commands', { cmd: 'stale' });
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('broker_unavailable');
    expect((await b.api('GET', '/readyz')).status).toBe(503);
    const [row] = b.db().prepare("select status, error from commands where body like '%stale%'").all() as any[];
    expect(row.status).toBe('failed');

    await mosquitto.start();
    // Once the bridge is back, the next command arrives, and the refused one never does.
    await until(async () => (await b.api('GET', '/readyz')).status === 200);
    const after = terminal.next((m) => m.cmd === 'after');
    expect((await b.api('POST', '/api/devices/D1/commands', { cmd: 'after' })).status).toBe(202);
    await after;
    expect(terminal.received.map((m) => m.cmd).filter((cmd) => cmd !== 'heartD')).toEqual(['first', 'after']);
  });
});
