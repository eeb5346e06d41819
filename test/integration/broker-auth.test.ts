import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { connectTerminal, type TestTerminal, verifiedRecord } from '../support/terminal.ts';

let bridge: TestBridge;
let terminals: TestTerminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  terminals = [];
  await bridge?.stop();
});

const CREDENTIALS = { BROKER_USERNAME: 'door', BROKER_PASSWORD: 'open-sesame-42' };

describe('embedded broker without credentials', () => {
  it('accepts anonymous terminals and warns about it', async () => {
    bridge = await startBridge();
    const t = await connectTerminal(bridge.brokerUrl, 'ANON1');
    terminals.push(t);
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "type = 'face.verified'")).toBe(1);
    expect(bridge.logLines.some((line) => line.includes('accepts anonymous terminals'))).toBe(true);
  });
});

describe('embedded broker with BROKER_USERNAME and BROKER_PASSWORD', () => {
  it('lets terminals with the credentials in', async () => {
    bridge = await startBridge(CREDENTIALS);
    const t = await connectTerminal(bridge.brokerUrl, 'SEC1', { username: 'door', password: 'open-sesame-42' });
    terminals.push(t);
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "type = 'face.verified'")).toBe(1);
  });

  it.each([
    ['no credentials', {}],
    ['a wrong password', { username: 'door', password: 'guess' }],
  ])('refuses a client with %s', async (_name, credentials) => {
    bridge = await startBridge(CREDENTIALS);
    const client = mqtt.connect(bridge.brokerUrl, { ...credentials, reconnectPeriod: 0 });
    const error = await new Promise<Error & { code?: number }>((resolve) => client.once('error', resolve));
    expect(error.code).toBe(4); // CONNACK: bad user name or password
    await client.endAsync(true);
  });

  it('refuses subscriptions to anything but a terminal downLink, wildcards included', async () => {
    bridge = await startBridge(CREDENTIALS);
    const client = await mqtt.connectAsync(bridge.brokerUrl, { username: 'door', password: 'open-sesame-42', reconnectPeriod: 0 });
    for (const topic of ['#', '+', 'fungxi_+_downLink', 'fungxi_X_upLink']) {
      const granted = await client.subscribeAsync(topic, { qos: 1 }).catch((err: Error) => err);
      const refused = granted instanceof Error || granted[0].qos === 128;
      expect(refused, topic).toBe(true);
    }
    const granted = await client.subscribeAsync('fungxi_X_downLink', { qos: 1 });
    expect(granted[0].qos).toBe(1);
    await client.endAsync(true);
  });

  it('disconnects a client that publishes outside the upLink topics', async () => {
    bridge = await startBridge(CREDENTIALS);
    const client = await mqtt.connectAsync(bridge.brokerUrl, { username: 'door', password: 'open-sesame-42', reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('fungxi_X_downLink', JSON.stringify({ cmd: 'openDoorD' }), { qos: 1 });
    await closed;
    expect(bridge.count('events')).toBe(0);
    await client.endAsync(true);
  });
});
