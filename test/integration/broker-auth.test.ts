import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

let bridge: TestBridge;
let terminals: Terminal[] = [];

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

  it('ends a connection whose first packet claims to be huge, before any login, and goes on serving the others', async () => {
    bridge = await startBridge(CREDENTIALS);
    const raw = connect(bridge.brokerPort, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    const closed = new Promise((resolve) => raw.once('close', resolve));
    raw.on('error', () => {}); // ended with data unread: a reset
    // A CONNECT header claiming 250 MB, then the start of its body.
    raw.write(Buffer.concat([Buffer.from([0x10, 0x80, 0x80, 0x80, 0x77]), Buffer.alloc(64 * 1024)]));
    await closed;
    expect(bridge.logLines.some((line) => line.includes('a packet over the size limit') && line.includes('"bytes":249561088'))).toBe(true);
    const t = await connectTerminal(bridge.brokerUrl, 'SEC2', { username: 'door', password: 'open-sesame-42' });
    terminals.push(t);
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "type = 'face.verified'")).toBe(1);
  });

  it('ends the connection of a terminal that sends a message over 4 × MAX_PAYLOAD', async () => {
    bridge = await startBridge({ ...CREDENTIALS, MAX_PAYLOAD: '16kb' });
    const t = await connectTerminal(bridge.brokerUrl, 'BIG2', { username: 'door', password: 'open-sesame-42', reconnectPeriod: 0 });
    terminals.push(t);
    const closed = new Promise<void>((resolve) => t.client.once('close', () => resolve()));
    void t.send('x'.repeat(70 * 1024)).catch(() => {});
    await closed;
    expect(bridge.logLines.some((line) => line.includes('a packet over the size limit'))).toBe(true);
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

describe('per-terminal credentials (BROKER_CREDENTIALS)', () => {
  async function withLogins() {
    const dir = makeTempDir('facegate-logins-');
    const file = join(dir, 'terminals');
    writeFileSync(file, '# serial:password\nT1:first-door-secret\nT2:second-door-secret\n');
    bridge = await startBridge({ BROKER_CREDENTIALS: file });
    return bridge;
  }

  it('lets a terminal in as its serial and keeps it to its own topics', async () => {
    const b = await withLogins();
    const t1 = await connectTerminal(b.brokerUrl, 'T1', { username: 'T1', password: 'first-door-secret' });
    terminals.push(t1);
    await t1.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(b.count('events', "type = 'face.verified' and device_sn = 'T1'")).toBe(1);
    const refused = await t1.client.subscribeAsync('fungxi_T2_downLink', { qos: 1 }).then(
      (granted) => granted[0].qos === 128,
      () => true,
    );
    expect(refused).toBe(true);
    const closed = new Promise<void>((resolve) => t1.client.once('close', () => resolve()));
    t1.client.publish('fungxi_T2_upLink', JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'forged' })] }), { qos: 1 });
    await closed;
    expect(b.count('events', "device_sn = 'T2'")).toBe(0);
  });

  it("does not hand a terminal another terminal's commands, even in a session it took over with that terminal's client id", async () => {
    const b = await withLogins();
    const t1 = await connectTerminal(b.brokerUrl, 'T1', { username: 'T1', password: 'first-door-secret', clean: false, reconnectPeriod: 0 });
    terminals.push(t1);
    await t1.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    // T1 gets a command and has not acknowledged it yet: the broker keeps it in T1's session.
    t1.client.handleMessage = () => {};
    const delivered = new Promise<void>((resolve) => t1.client.on('packetreceive', (packet) => packet.cmd === 'publish' && resolve()));
    expect((await b.api('POST', '/api/devices/T1/commands', { cmd: 'enrolPersonD', name: 'Secret Person' })).status).toBe(202);
    await delivered;
    // T2, with its own password, connects as T1's client id: the broker hands it T1's session.
    const topics: string[] = [];
    const t2 = mqtt.connect(b.brokerUrl, { username: 'T2', password: 'second-door-secret', clientId: 'terminal-T1', clean: false, reconnectPeriod: 0 });
    t2.on('message', (topic) => topics.push(topic));
    await new Promise((resolve) => t2.once('connect', resolve));
    await t2.subscribeAsync('fungxi_T2_downLink', { qos: 1 });
    await t2.publishAsync('fungxi_T2_upLink', JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }), { qos: 1 });
    const own = new Promise<void>((resolve) => t2.on('message', (topic) => topic === 'fungxi_T2_downLink' && resolve()));
    expect((await b.api('POST', '/api/devices/T2/commands', { cmd: 'pingD' })).status).toBe(202);
    await own;
    await t2.endAsync(true);
    expect(topics).toEqual(['fungxi_T2_downLink']);
  });

  it("refuses a terminal with another terminal's password", async () => {
    const b = await withLogins();
    const client = mqtt.connect(b.brokerUrl, { username: 'T1', password: 'second-door-secret', reconnectPeriod: 0 });
    const error = await new Promise<Error>((resolve) => client.once('error', (err) => resolve(err)));
    expect((error as Error & { code?: number }).code).toBe(4);
    await client.endAsync(true);
  });
});
