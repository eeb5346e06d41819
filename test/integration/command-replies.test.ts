import { afterEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { connectTerminal, connectTerminals, serials, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Commands with replies: real terminals (MQTT clients) answer, or
// not, the real bridge's commands; replies are matched where they are stored.

let bridge: TestBridge | undefined;
let mosquitto: Mosquitto | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.stop(0)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
  await mosquitto?.dispose();
  mosquitto = undefined;
});

/** A terminal that answers every `xxxD` with `xxxU` and code 0, echoing `field` when given. */
function answering(t: Terminal, field?: string) {
  t.onMessage(({ cmd, body }) => {
    if (!cmd || !body || !cmd.endsWith('D') || cmd === 'heartD') return;
    void t.send({ cmd: `${cmd.slice(0, -1)}U`, code: 0, ...(field && body[field] !== undefined && { [field]: body[field] }) });
  });
  return t;
}

/** A terminal that is online: connected, subscribed, its first message stored as device.online. */
async function online(b: TestBridge, url: string, sn: string, options = {}) {
  const t = await connectTerminal(url, sn, options);
  terminals.push(t);
  const came = b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === sn);
  await t.send({ cmd: 'heartU' });
  await came;
  return t;
}

async function embedded(env: Record<string, string> = {}) {
  bridge = await startBridge(env);
  return bridge;
}

const command = async (b: TestBridge, id: string) => (await b.api('GET', `/api/commands/${id}`)).json;

describe('?wait=', () => {
  it('answers 200 with the reply when it comes in time, and the command is replied', async () => {
    const b = await embedded();
    answering(await online(b, b.brokerUrl, 'W1'));
    const res = await b.api('POST', '/api/devices/W1/commands?wait=5s', { cmd: 'openDoorD', door: 1 });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ id: expect.stringMatching(/^cmd_/), device_sn: 'W1', status: 'replied', reply: { cmd: 'openDoorU', code: 0 } });
    const row = await command(b, res.json.id);
    expect(row).toMatchObject({ status: 'replied', cmd: 'openDoorD', body: { cmd: 'openDoorD', door: 1 }, reply: { cmd: 'openDoorU', code: 0 }, batch: null });
    expect(Date.parse(row.replied_at)).toBeGreaterThanOrEqual(Date.parse(row.published_at));
    expect(await b.metric('facegate_command_reply_seconds')).toMatch(/facegate_command_reply_seconds_count 1/);
    expect(await b.metric('facegate_commands_total')).toMatch(/outcome="replied"} 1/);
  });

  it('answers 202 published when no reply comes in time; REPLY_WINDOW later it is unanswered, with its event', async () => {
    const b = await embedded({ REPLY_WINDOW: '1s' });
    await online(b, b.brokerUrl, 'W2');
    const res = await b.api('POST', '/api/devices/W2/commands?wait=200ms', { cmd: 'rebootD' });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ id: expect.stringMatching(/^cmd_/), device_sn: 'W2', status: 'published' });
    const [event] = await b.eventsStored(1, (e) => e.type === 'command.unanswered');
    expect((await b.api('GET', `/api/events/${event.id}`)).json).toMatchObject({
      type: 'command.unanswered',
      device_sn: 'W2',
      command_id: res.json.id,
      cmd: 'rebootD',
      reply: null,
    });
    expect((await command(b, res.json.id)).status).toBe('unanswered');
  });
});

describe('name pairing', () => {
  it('gives two replies of one name to the two commands of that name, oldest first', async () => {
    const b = await embedded();
    const t = await online(b, b.brokerUrl, 'N1');
    const first = await b.api('POST', '/api/devices/N1/commands', { cmd: 'getVersionD', n: 1 });
    const second = await b.api('POST', '/api/devices/N1/commands', { cmd: 'getVersionD', n: 2 });
    expect([first.status, second.status]).toEqual([202, 202]);
    await t.send({ cmd: 'getVersionU', version: 'a' });
    await t.send({ cmd: 'getVersionU', version: 'b' });
    await b.eventsStored(2, (e) => e.type === 'command.replied');
    expect((await command(b, first.json.id)).reply).toEqual({ cmd: 'getVersionU', version: 'a' });
    expect((await command(b, second.json.id)).reply).toEqual({ cmd: 'getVersionU', version: 'b' });
    // A third reply has no command left waiting: a device message, as before.
    await t.send({ cmd: 'getVersionU', version: 'c' });
    const [message] = await b.eventsStored(1, (e) => e.type === 'device.message');
    expect((await b.api('GET', `/api/events/${message.id}`)).json.message).toEqual({ cmd: 'getVersionU', version: 'c' });
  });

  it('leaves a reply after REPLY_WINDOW a device.message', async () => {
    const b = await embedded({ REPLY_WINDOW: '300ms' });
    const t = await online(b, b.brokerUrl, 'N2');
    const sent = await b.api('POST', '/api/devices/N2/commands', { cmd: 'openDoorD' });
    await until(async () => (await command(b, sent.json.id)).status === 'unanswered');
    await t.send({ cmd: 'openDoorU', code: 0 });
    await b.eventsStored(1, (e) => e.type === 'device.message');
    expect(b.stored.filter((e) => e.type === 'command.replied')).toEqual([]);
    expect((await command(b, sent.json.id)).reply).toBeNull();
  });
});

describe('REPLY_FIELD', () => {
  it('puts the command id into the field and matches the reply that echoes it, whatever the order', async () => {
    const b = await embedded({ REPLY_FIELD: 'tag' });
    const t = await online(b, b.brokerUrl, 'F1');
    const bodies: Record<string, any>[] = [];
    t.onMessage(({ cmd, body }) => cmd === 'getVersionD' && bodies.push(body!));
    const first = await b.api('POST', '/api/devices/F1/commands', { cmd: 'getVersionD' });
    const second = await b.api('POST', '/api/devices/F1/commands', { cmd: 'getVersionD' });
    await until(() => bodies.length === 2);
    expect(bodies.map((body) => body.tag)).toEqual([first.json.id, second.json.id]);
    expect((await command(b, first.json.id)).body).toEqual({ tag: first.json.id, cmd: 'getVersionD' });
    // The second one answered first: by its tag, not by name (which would give it to the oldest).
    await t.send({ cmd: 'getVersionU', tag: second.json.id, version: 'two' });
    await b.eventsStored(1, (e) => e.type === 'command.replied');
    expect(await command(b, second.json.id)).toMatchObject({ status: 'replied', reply: { version: 'two' } });
    expect((await command(b, first.json.id)).status).toBe('published');
  });

  it("keeps a client's own value of the field, and pairs a reply without it by name", async () => {
    const b = await embedded({ REPLY_FIELD: 'tag' });
    const t = await online(b, b.brokerUrl, 'F2');
    const arrived = t.next((m) => m.cmd === 'openDoorD');
    const sent = await b.api('POST', '/api/devices/F2/commands', { cmd: 'openDoorD', tag: 'mine' });
    expect(await arrived).toEqual({ cmd: 'openDoorD', tag: 'mine' });
    await t.send({ cmd: 'openDoorU', code: 0 });
    await b.eventsStored(1, (e) => e.type === 'command.replied');
    expect((await command(b, sent.json.id)).status).toBe('replied');
  });
});

describe('?ttl=', () => {
  it('queues a command for a terminal that is gone, and publishes it when it subscribes again (embedded)', async () => {
    const b = await embedded();
    const t = await online(b, b.brokerUrl, 'Q1');
    await t.stop(0);
    terminals = [];
    // Without ttl: refused, as before.
    expect((await b.api('POST', '/api/devices/Q1/commands', { cmd: 'openDoorD' })).json.error.code).toBe('device_offline');
    const queued = await b.api('POST', '/api/devices/Q1/commands?ttl=1m', { cmd: 'setTimeD' });
    expect(queued.status).toBe(202);
    expect(queued.json).toEqual({ id: expect.stringMatching(/^cmd_/), device_sn: 'Q1', status: 'queued' });
    expect(await command(b, queued.json.id)).toMatchObject({ status: 'queued', published_at: null, expires_at: expect.any(String) });
    expect(await b.metric('facegate_commands_queued')).toMatch(/facegate_commands_queued 1/);

    const back = await connectTerminal(b.brokerUrl, 'Q1');
    terminals.push(back);
    await until(() => back.received.some((m) => m.cmd === 'setTimeD'));
    await until(async () => (await command(b, queued.json.id)).status === 'published');
    expect(back.received.filter((m) => m.cmd === 'openDoorD')).toEqual([]);
  });

  it("sends a terminal's three queued commands in the order they were accepted", async () => {
    const b = await embedded();
    const t = await online(b, b.brokerUrl, 'Q2');
    await t.stop(0);
    terminals = [];
    for (const n of [1, 2, 3]) expect((await b.api('POST', '/api/devices/Q2/commands?ttl=1h', { cmd: `c${n}D` })).json.status).toBe('queued');
    const back = await connectTerminal(b.brokerUrl, 'Q2');
    terminals.push(back);
    await until(() => back.received.length >= 3);
    expect(back.received.map((m) => m.cmd)).toEqual(['c1D', 'c2D', 'c3D']);
  });

  it('expires a queued command whose ttl ran out, with its event, and never sends it', async () => {
    const b = await embedded();
    const t = await online(b, b.brokerUrl, 'Q3');
    await t.stop(0);
    terminals = [];
    const queued = await b.api('POST', '/api/devices/Q3/commands?ttl=300ms', { cmd: 'lateD' });
    const [event] = await b.eventsStored(1, (e) => e.type === 'command.expired');
    expect((await b.api('GET', `/api/events/${event.id}`)).json).toMatchObject({ command_id: queued.json.id, cmd: 'lateD', reply: null, device_sn: 'Q3' });
    expect((await command(b, queued.json.id)).status).toBe('expired');
    const back = await online(b, b.brokerUrl, 'Q3');
    const fresh = back.next((m) => m.cmd === 'freshD');
    expect((await b.api('POST', '/api/devices/Q3/commands', { cmd: 'freshD' })).status).toBe(202);
    await fresh;
    expect(back.received.map((m) => m.cmd).filter((cmd) => cmd !== 'heartD')).toEqual(['freshD']);
  });

  it('against Mosquitto: offline after HEARTBEAT_TIMEOUT, queued, published when the terminal is online again', async () => {
    mosquitto = await startMosquitto();
    bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-ttl', HEARTBEAT_TIMEOUT: '1' });
    const b = bridge;
    const t = await online(b, mosquitto.url, 'M1');
    await b.eventsStored(1, (e) => e.type === 'device.offline' && e.deviceSn === 'M1');
    expect((await b.api('POST', '/api/devices/M1/commands', { cmd: 'openDoorD' })).json.error.code).toBe('device_offline');
    const queued = await b.api('POST', '/api/devices/M1/commands?ttl=1m', { cmd: 'syncD' });
    expect(queued.json.status).toBe('queued');
    answering(t);
    const arrived = t.next((m) => m.cmd === 'syncD');
    await t.send({ cmd: 'heartU' });
    await arrived;
    await until(async () => (await command(b, queued.json.id)).status === 'replied');
    expect(t.received.filter((m) => m.cmd === 'openDoorD')).toEqual([]);
  });

  it('against Mosquitto: keeps a ttl command while the broker is down, and publishes it once it is back', async () => {
    mosquitto = await startMosquitto();
    bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-ttl-down' });
    const b = bridge;
    const t = await online(b, mosquitto.url, 'M2');
    await mosquitto.stop();
    const queued = await b.api('POST', '/api/devices/M2/commands?ttl=1m', { cmd: 'keptD' });
    expect(queued.status).toBe(202);
    expect(queued.json.status).toBe('queued');
    const dropped = await b.api('POST', '/api/devices/M2/commands', { cmd: 'droppedD' });
    expect(dropped.json.error.code).toBe('broker_unavailable');
    await mosquitto.start();
    // The bridge is back before the terminal may be: the command waits for a word from it (README §Commands with replies).
    await until(async () => (await b.api('GET', '/readyz')).status === 200 && t.client.connected);
    expect(t.received.filter((m) => m.cmd === 'keptD')).toEqual([]);
    // The terminal beats until the command comes, as a terminal does: a heartU that reaches the broker before it has
    // taken the bridge's subscription again (the broker reads the two connections in its own order) goes to no one.
    await until(async () => {
      if (t.received.some((m) => m.cmd === 'keptD')) return true;
      await t.send({ cmd: 'heartU' });
      return false;
    }, 250);
    await until(async () => (await command(b, queued.json.id)).status === 'published');
    expect(t.received.filter((m) => m.cmd === 'droppedD')).toEqual([]);
  });
});

describe('POST /api/commands (fan-out)', () => {
  it('sends one command to a few hundred terminals under one batch, each with its own state', async () => {
    const b = await embedded();
    const sns = serials('FAN', 300);
    const fleet = await connectTerminals(b.brokerUrl, sns);
    terminals.push(...fleet);
    const onlineAll = b.eventsStored(sns.length, (e) => e.type === 'device.online');
    await Promise.all(fleet.map((t) => t.send({ cmd: 'heartU' })));
    await onlineAll;
    for (const t of fleet) answering(t);
    const res = await b.api('POST', '/api/commands', { devices: [...sns, 'NEVER1'], command: { cmd: 'getVersionD' } });
    expect(res.status).toBe(202);
    expect(res.json.batch).toMatch(/^bat_/);
    expect(res.json.items).toHaveLength(301);
    expect(res.json.items.slice(0, 300).every((item: any, i: number) => item.device_sn === sns[i] && item.status === 'queued')).toBe(true);
    expect(res.json.items[300]).toEqual({ id: expect.stringMatching(/^cmd_/), device_sn: 'NEVER1', status: 'failed', error: 'unknown_device' });
    await until(() => fleet.every((t) => t.received.some((m) => m.cmd === 'getVersionD')));
    const replied = async () => {
      let count = 0;
      let cursor: string | null = null;
      do {
        const page: any = (await b.api('GET', `/api/commands?batch=${res.json.batch}&status=replied&limit=500${cursor ? `&cursor=${cursor}` : ''}`)).json;
        count += page.items.length;
        cursor = page.next_cursor;
      } while (cursor);
      return count;
    };
    await until(async () => (await replied()) === 300);
    const failed = (await b.api('GET', `/api/commands?batch=${res.json.batch}&status=failed`)).json.items;
    expect(failed.map((c: any) => c.device_sn)).toEqual(['NEVER1']);
    expect(fleet.every((t) => t.received.filter((m) => m.cmd === 'getVersionD').length === 1)).toBe(true);
  });

  it('sends to "all" known terminals; one offline without ttl fails, with ttl it is queued', async () => {
    const b = await embedded();
    await online(b, b.brokerUrl, 'ALL1');
    const gone = await online(b, b.brokerUrl, 'ALL2');
    await gone.stop(0);
    terminals = terminals.filter((t) => t !== gone);
    const plain = (await b.api('POST', '/api/commands', { devices: 'all', command: { cmd: 'pingD' } })).json;
    expect(plain.items.map((i: any) => [i.device_sn, i.status, i.error]).sort()).toEqual([
      ['ALL1', 'queued', null],
      ['ALL2', 'failed', 'device_offline'],
    ]);
    const kept = (await b.api('POST', '/api/commands', { devices: ['ALL2'], command: { cmd: 'pingD' }, ttl: '1h' })).json;
    expect(kept.items).toEqual([{ id: expect.any(String), device_sn: 'ALL2', status: 'queued', error: null }]);
    const listed = (await b.api('GET', `/api/commands?batch=${kept.batch}`)).json.items;
    expect(listed).toMatchObject([{ device_sn: 'ALL2', status: 'queued', batch: kept.batch }]);
  });
});

describe('bad wait, ttl and fan-out bodies', () => {
  it.each([
    ['wait=0', 'wait'],
    ['wait=61s', 'wait'],
    ['wait=abc', 'wait'],
    ['wait=-1s', 'wait'],
    ['wait=', 'wait'],
    ['ttl=0', 'ttl'],
    ['ttl=8d', 'ttl'],
    ['ttl=1y', 'ttl'],
    ['ttl=1h&wait=2m', 'wait'],
  ])('answers 400 naming the parameter for ?%s, storing and publishing nothing', async (query, name) => {
    const b = await embedded();
    const t = await online(b, b.brokerUrl, 'B1');
    const res = await b.api('POST', `/api/devices/B1/commands?${query}`, { cmd: 'openDoorD' });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_request');
    expect(res.json.error.message).toMatch(new RegExp(`^${name}: ${name} must`));
    expect(b.count('commands')).toBe(0);
    expect(t.received.filter((m) => m.cmd === 'openDoorD')).toEqual([]);
  });

  it.each([
    ['no devices', { command: { cmd: 'x' } }, /^devices: /],
    ['devices empty', { devices: [], command: { cmd: 'x' } }, /^devices: devices must not be empty/],
    ['devices a string other than all', { devices: 'some', command: { cmd: 'x' } }, /^devices: /],
    ['a device that is no serial', { devices: ['ok1', 'bad serial'], command: { cmd: 'x' } }, /^devices\.1: each of devices must be a serial/],
    ['a device twice', { devices: ['B1', 'B1'], command: { cmd: 'x' } }, /^devices: devices must not name a serial twice/],
    [
      'more devices than MAX_TERMINALS',
      { devices: ['B1', 'B2', 'B3', 'B4', 'B5', 'B6'], command: { cmd: 'x' } },
      /^devices: devices may name at most MAX_TERMINALS \(5\)/,
    ],
    ['no command', { devices: ['B1'] }, /^command: /],
    ['a command without cmd', { devices: ['B1'], command: { door: 1 } }, /^command\.cmd: cmd is required/],
    ['a bad ttl', { devices: ['B1'], command: { cmd: 'x' }, ttl: '9d' }, /^ttl: ttl must be at most 7d/],
    ['a ttl of 0', { devices: ['B1'], command: { cmd: 'x' }, ttl: '0' }, /^ttl: ttl must be above zero/],
  ])('answers 400 for a fan-out with %s, storing and publishing nothing', async (_name, body, message) => {
    const b = await embedded({ MAX_TERMINALS: '5' });
    const t = await online(b, b.brokerUrl, 'B1');
    const res = await b.api('POST', '/api/commands', body);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_request');
    expect(res.json.error.message).toMatch(message);
    expect(b.count('commands')).toBe(0);
    expect(t.received.filter((m) => m.cmd !== 'heartD')).toEqual([]);
  });

  it('answers 400 for a bad status or batch filter', async () => {
    const b = await embedded();
    expect((await b.api('GET', '/api/commands?status=done')).json.error.message).toMatch(/^status: status must be one of queued, published/);
    expect((await b.api('GET', '/api/commands?batch=xyz')).json.error.message).toMatch(/^batch: batch must be a batch id/);
  });
});
