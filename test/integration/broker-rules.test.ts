import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §The embedded broker: its topic rules hold with credentials and
// without. Each test is an attack by a client that reached the port of an
// anonymous broker, as any machine on the LAN can.

let bridge: TestBridge;
let terminals: Terminal[] = [];
let clients: MqttClient[] = [];

afterEach(async () => {
  await Promise.all([...terminals.map((t) => t.client), ...clients].map((c) => c.endAsync(true)));
  terminals = [];
  clients = [];
  await bridge?.stop();
});

async function terminal(sn: string, options: IClientOptions = {}) {
  const t = await connectTerminal(bridge.brokerUrl, sn, { reconnectPeriod: 0, ...options });
  terminals.push(t);
  return t;
}

async function intruder(options: IClientOptions = {}) {
  const client = await mqtt.connectAsync(bridge.brokerUrl, { clientId: 'intruder', reconnectPeriod: 0, ...options });
  clients.push(client);
  return client;
}

/** The QoS the broker granted a subscription: 128 (0x80) when it refused it. */
async function granted(client: MqttClient, filter: string): Promise<number> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 }))[0].qos;
  } catch (err) {
    // MQTT.js rejects a SUBACK that refuses, and stays connected.
    return (err as { packet: { granted: number[] } }).packet.granted[0];
  }
}

/** Resolves when the client emits this event (MQTT.js's emitter is not Node's). */
function when(client: MqttClient, event: 'close' | 'message'): Promise<void> {
  return new Promise((resolve) => client.once(event, () => resolve()));
}

/** heartU → heartD: the terminal is connected and served. */
async function heartbeat(t: Terminal) {
  const answer = t.next((m) => m.cmd === 'heartD');
  await t.send({ cmd: 'heartU' }, 0);
  await answer;
}

/** What became of a QoS 1 publish: acknowledged, or the broker closed the connection. */
function outcome(client: MqttClient, topic: string, payload: string, options: { retain?: boolean } = {}) {
  return Promise.race([
    client.publishAsync(topic, payload, { qos: 1, ...options }).then(() => 'acknowledged'),
    when(client, 'close').then(() => 'disconnected'),
  ]);
}

/** Ends a connection without a DISCONNECT, as a terminal losing power does: its will goes out. */
async function takeOver(clientId: string, options: IClientOptions = {}) {
  // The broker closes the old connection, and handles its will, before it acknowledges the new one [MQTT-3.1.4-2].
  const successor = await mqtt.connectAsync(bridge.brokerUrl, { clientId, reconnectPeriod: 0, ...options });
  clients.push(successor);
}

describe('publishing', () => {
  it('refuses a retained command on a terminal downLink, and the terminal subscribing later gets none', async () => {
    bridge = await startBridge();
    const spy = await intruder();
    expect(await outcome(spy, 'fungxi_DOOR1_downLink', '{"cmd":"openDoorD"}', { retain: true })).toBe('disconnected');
    const t = await terminal('DOOR1');
    await heartbeat(t);
    expect(t.received.map((m) => m.cmd)).toEqual(['heartD']);
  });

  it("keeps a terminal connected when a client publishes the terminal's client id on $SYS/…/new/clients", async () => {
    bridge = await startBridge();
    const t = await terminal('KICK1');
    const kicked = when(t.client, 'close').then(() => 'kicked');
    const spy = await intruder();
    // aedes closes the client named on this topic: its way of ending a duplicate client id of another broker.
    expect(await outcome(spy, '$SYS/x/new/clients', 'terminal-KICK1')).toBe('disconnected');
    expect(await Promise.race([kicked, heartbeat(t).then(() => 'answered')])).toBe('answered');
    expect(t.client.connected).toBe(true);
  });

  it('takes in a retained record on an upLink as a plain one, and never hands it to a later subscriber', async () => {
    bridge = await startBridge();
    const t = await terminal('RET1');
    await t.client.publishAsync('fungxi_RET1_upLink', JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }), { qos: 1, retain: true });
    expect(bridge.count('events', "type = 'face.verified' and device_sn = 'RET1'")).toBe(1);
    const received: string[] = [];
    const spy = await intruder();
    spy.on('message', (topic) => received.push(topic));
    expect(await granted(spy, 'fungxi_RET1_upLink')).toBe(128);
    // A message on its own downLink comes after anything the subscription would have brought.
    await spy.subscribeAsync('fungxi_SPY_downLink', { qos: 1 });
    const own = when(spy, 'message');
    await spy.publishAsync('fungxi_SPY_upLink', '{"cmd":"heartU"}', { qos: 1 });
    await own;
    expect(received).toEqual(['fungxi_SPY_downLink']);
  });
});

describe('subscribing', () => {
  it("refuses wildcards and $ topics (SUBACK 0x80), keeps the client connected, and no other terminal's traffic reaches it", async () => {
    bridge = await startBridge();
    const spy = await intruder();
    const received: string[] = [];
    spy.on('message', (topic) => received.push(topic));
    for (const filter of ['#', '+', '$SYS/#', 'fungxi_WILD1_downLink/#', '+/#', '$share/g/fungxi_WILD1_downLink']) {
      expect(await granted(spy, filter), filter).toBe(128);
    }
    expect(spy.connected).toBe(true);

    // The victim's whole traffic: a record, a heartbeat, a command.
    const t = await terminal('WILD1');
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await heartbeat(t);
    const command = t.next((m) => m.cmd === 'openDoorD');
    expect((await bridge.api('POST', '/api/devices/WILD1/commands', { cmd: 'openDoorD' })).status).toBe(202);
    await command;

    // Its own downLink is allowed; what it brings comes after anything the refused filters would have.
    expect(await granted(spy, 'fungxi_SPY_downLink')).toBe(1);
    const own = when(spy, 'message');
    await spy.publishAsync('fungxi_SPY_upLink', '{"cmd":"heartU"}', { qos: 1 });
    await own;
    expect(received).toEqual(['fungxi_SPY_downLink']);
  });
});

describe('wills', () => {
  it('takes in the will a terminal leaves on its own upLink, not retained', async () => {
    bridge = await startBridge();
    await terminal('WILL1', {
      clientId: 'terminal-WILL1',
      will: { topic: 'fungxi_WILL1_upLink', payload: Buffer.from('{"cmd":"offlineU"}'), qos: 1, retain: true },
    });
    await takeOver('terminal-WILL1');
    const [event] = await bridge.eventsStored(1, (e) => e.type === 'device.message' && e.deviceSn === 'WILL1');
    expect(bridge.db().prepare('select fields from events where id = ?').get(event.id)).toEqual({ fields: '{"cmd":"offlineU"}' });
    const spy = await intruder();
    expect(await granted(spy, 'fungxi_WILL1_upLink')).toBe(128);
  });

  it("drops a will on another terminal's upLink", async () => {
    bridge = await startBridge();
    const forged = JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'forged' })] });
    const spy = await intruder({ will: { topic: 'fungxi_VICTIM1_upLink', payload: Buffer.from(forged), qos: 1, retain: false } });
    await spy.subscribeAsync('fungxi_SPY_downLink', { qos: 1 });
    await takeOver('intruder');
    // Committed after anything the will would have handed in before it.
    const victim = await terminal('VICTIM1');
    await victim.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "device_sn = 'VICTIM1' and json_extract(fields, '$.num') = 'forged'")).toBe(0);
    expect(bridge.count('events', "device_sn = 'VICTIM1' and type = 'face.verified'")).toBe(1);
  });

  it('takes in the will of a terminal logged in as its serial on its own upLink only (BROKER_CREDENTIALS)', async () => {
    const dir = makeTempDir('facegate-logins-');
    const file = join(dir, 'terminals');
    writeFileSync(file, 'W1:first-door-secret\nW2:second-door-secret\n');
    bridge = await startBridge({ BROKER_CREDENTIALS: file });
    removeTempDir(dir);
    // Neither subscribes to anything: the login says whose upLink is theirs.
    const login = (sn: string, password: string, topic: string) =>
      mqtt.connectAsync(bridge.brokerUrl, {
        clientId: `will-${sn}`,
        username: sn,
        password,
        reconnectPeriod: 0,
        will: { topic, payload: Buffer.from(`{"cmd":"offlineU","from":"${sn}"}`), qos: 1, retain: false },
      });
    clients.push(await login('W1', 'first-door-secret', 'fungxi_W1_upLink'), await login('W2', 'second-door-secret', 'fungxi_W1_upLink'));
    await takeOver('will-W2', { username: 'W2', password: 'second-door-secret' });
    await takeOver('will-W1', { username: 'W1', password: 'first-door-secret' });
    await bridge.eventsStored(1, (e) => e.type === 'device.message' && e.deviceSn === 'W1');
    // Anything from W2's will would have been committed before W1's.
    expect(bridge.db().prepare("select device_sn, fields from events where type = 'device.message'").all()).toEqual([
      { device_sn: 'W1', fields: '{"cmd":"offlineU","from":"W1"}' },
    ]);
  });

  it("drops a will on a terminal's downLink: a command no one sent", async () => {
    bridge = await startBridge();
    const t = await terminal('DOOR2');
    await intruder({ will: { topic: 'fungxi_DOOR2_downLink', payload: Buffer.from('{"cmd":"openDoorD"}'), qos: 1, retain: true } });
    await takeOver('intruder');
    await heartbeat(t);
    expect(t.received.map((m) => m.cmd)).toEqual(['heartD']);
  });
});
