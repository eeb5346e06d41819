import { afterEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, stopDuringCommit, type TestBridge } from '../support/bridge.ts';

let bridge: TestBridge | undefined;
let mosquitto: Mosquitto;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
  await mosquitto?.dispose();
});

async function setup(env: Record<string, string> = {}) {
  mosquitto = await startMosquitto();
  bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-it', ...env });
  return bridge;
}
async function terminal(sn: string) {
  const t = await connectTerminal(mosquitto.url, sn);
  terminals.push(t);
  return t;
}

describe('against Mosquitto', () => {
  it('answers heartbeats and never receives its own downLink publishes back', async () => {
    const b = await setup();
    const t = await terminal('M1');
    for (let i = 0; i < 5; i++) {
      const reply = t.next((m) => m.cmd === 'heartD');
      await t.send({ cmd: 'heartU' });
      await reply;
    }
    // A command too: it goes out on the downLink, which the wildcard subscription also matches.
    const command = t.next((m) => m.cmd === 'openDoorD');
    expect((await b.api('POST', '/api/devices/M1/commands', { cmd: 'openDoorD' })).status).toBe(202);
    await command;
    // A message after them, on the same connection: once it is stored, anything echoed before it has arrived too.
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await b.eventsStored(1, (e) => e.type === 'face.verified');
    expect(await b.metric('facegate_messages_ignored_total')).toMatch(/facegate_messages_ignored_total 0$/m);
  });

  it('receives what terminals sent while it was down, from its persistent session', async () => {
    const b = await setup();
    const t = await terminal('M2');
    await t.send({ cmd: 'heartU' });
    await b.eventsStored(1, (e) => e.type === 'device.online');
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    bridge = undefined;

    for (let i = 0; i < 20; i++) await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i) })] });
    bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-it' }, dataDir);
    await bridge.eventsStored(20, (e) => e.type === 'face.verified');
    expect(bridge.count('events', "type = 'face.verified'")).toBe(20);
  });

  it('takes in a retained upLink message once, not again at every connect', async () => {
    const b = await setup();
    const t = await terminal('M5');
    await t.client.publishAsync('fungxi_M5_upLink', JSON.stringify({ cmd: 'doorStateU', open: false }), { qos: 1, retain: true });
    await b.eventsStored(1, (e) => e.type === 'device.message');
    const dataDir = b.dataDir;
    for (let restart = 0; restart < 2; restart++) {
      await bridge!.stop({ keepData: true });
      bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-it' }, dataDir);
      // Answered: subscribed again, after which a retained message would have come.
      const reply = t.next((m) => m.cmd === 'heartD');
      await t.send({ cmd: 'heartU' });
      await reply;
    }
    expect(bridge!.count('events', "type = 'device.message'")).toBe(1);
  });

  it('reconnects after a broker restart and answers heartbeats again', async () => {
    const b = await setup();
    const t = await terminal('M3');
    await mosquitto.stop();
    await until(async () => (await b.api('GET', '/readyz')).status === 503);
    await mosquitto.start();
    await until(async () => (await b.api('GET', '/readyz')).status === 200);
    await until(() => t.client.connected);
    await t.client.subscribeAsync('fungxi_M3_downLink', { qos: 1 });
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' });
    expect((await reply).cmd).toBe('heartD');
    expect(b.logLines.some((line) => line.includes('MQTT broker unreachable'))).toBe(true);
  });

  it('drops the subscriptions an earlier run left in its session, so nothing arrives twice', async () => {
    const first = await setup({ DEVICES: 'D1', DISCOVERY: 'false' });
    const dataDir = first.dataDir;
    await first.stop({ keepData: true });
    // The same client id, now with DISCOVERY: the session still holds D1's own subscription.
    bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-it', DISCOVERY: 'true' }, dataDir);
    const t = await terminal('D1');
    const replies: string[] = [];
    t.client.on('message', (_topic, payload) => payload.includes('heartD') && replies.push(payload.toString()));
    await t.send({ cmd: 'doorStateU', open: true });
    await bridge.eventsStored(1, (e) => e.type === 'device.message');
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' });
    await reply;
    // Both went through the broker before this record was acknowledged: a second copy would be in by now.
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "type = 'device.message'")).toBe(1);
    expect(replies).toHaveLength(1);
  });

  it('acknowledges the messages being committed before it disconnects, so the broker does not send them again', async () => {
    const b = await setup();
    const t = await terminal('M6');
    await stopDuringCommit(b, () => t.send({ cmd: 'doorStateU', open: true }));
    bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-it' }, b.dataDir);
    // What the broker still had for the bridge comes, and is committed, before this record.
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await bridge.eventsStored(1, (e) => e.type === 'face.verified');
    expect(bridge.count('events', "type = 'device.message'")).toBe(1);
  });

  it('says so when another client takes its session over with the same MQTT_CLIENT_ID', async () => {
    const b = await setup();
    // A second bridge with the same id: the broker hands the session to each in turn.
    const twin = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-it' });
    try {
      const warned = (x: TestBridge) =>
        x.logLines.some((line) => line.includes('"level":50') && line.includes('another client uses MQTT_CLIENT_ID=facegate-it'));
      await until(() => warned(b) || warned(twin));
    } finally {
      await twin.stop();
    }
  });

  it('subscribes only to DEVICES when DISCOVERY is off', async () => {
    const b = await setup({ DEVICES: 'KNOWN', DISCOVERY: 'false' });
    const known = await terminal('KNOWN');
    const other = await terminal('OTHER');
    await other.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await known.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    // Mosquitto forwards in the order it received; the second is stored, so the first was never sent to the bridge.
    await b.eventsStored(1, (e) => e.type === 'face.verified');
    expect(b.count('events', "device_sn = 'OTHER'")).toBe(0);
    expect(b.count('rejects')).toBe(0);
  });
});
