import { connect, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { generate, parser as mqttParser } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Connections and memory: what a connection may hold, and for how
// long, on the embedded broker.

let bridge: TestBridge;
let terminals: Terminal[] = [];
let clients: MqttClient[] = [];
let sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all([...terminals.map((t) => t.client), ...clients].map((c) => c.endAsync(true)));
  terminals = [];
  clients = [];
  sockets = [];
  await bridge?.stop();
});

function closed(emitter: { once(event: 'close', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => emitter.once('close', () => resolve()));
}

/** A raw TCP connection to the broker that has sent its CONNECT and got its CONNACK. */
async function rawClient(clientId: string): Promise<Socket> {
  const socket = connect(bridge.brokerPort, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {}); // ended by the broker with data unread: a reset
  await new Promise((resolve) => socket.once('connect', resolve));
  const connack = new Promise((resolve) => socket.once('data', resolve));
  socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 }));
  await connack;
  return socket;
}

async function metric(name: string): Promise<number> {
  const text = await bridge.metric(name.replace(/\{.*/, ''));
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? 0);
}

async function heartbeat(t: Terminal) {
  const answer = t.next((m) => m.cmd === 'heartD');
  await t.send({ cmd: 'heartU' }, 0);
  await answer;
}

describe('idle connections', () => {
  it('ends a connection that sends nothing for 2 × HEARTBEAT_TIMEOUT, whatever keepalive it asked for, and keeps one that talks', async () => {
    bridge = await startBridge({ HEARTBEAT_TIMEOUT: '1' });
    // A terminal that speaks every 400 ms stays, while the silent ones go.
    const talker = await connectTerminal(bridge.brokerUrl, 'TALK1', { reconnectPeriod: 0, keepalive: 0 });
    terminals.push(talker);
    let drops = 0;
    talker.client.on('close', () => drops++);
    const talking = setInterval(() => void talker.send({ cmd: 'heartU' }, 0).catch(() => {}), 400);
    try {
      // keepalive 0: "never check"; 65535: 18 hours before aedes' own check.
      const silent = await Promise.all(
        [0, 65_535].map((keepalive, i) => mqtt.connectAsync(bridge.brokerUrl, { clientId: `silent-${i}`, keepalive, reconnectPeriod: 0 })),
      );
      clients.push(...silent);
      const startedAt = Date.now();
      await Promise.all(silent.map(closed));
      console.log(`broker-limits: silent connections ended after ${Date.now() - startedAt} ms (HEARTBEAT_TIMEOUT=1)`);
    } finally {
      clearInterval(talking);
    }
    expect(await metric('facegate_broker_connections_ended_total{reason="idle"}')).toBe(2);
    expect(drops).toBe(0);
    await heartbeat(talker);
  });

  it('closes a socket that sends no CONNECT within 10 s', async () => {
    bridge = await startBridge();
    const socket = connect(bridge.brokerPort, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    const startedAt = Date.now();
    await closed(socket);
    console.log(`broker-limits: a socket without CONNECT closed after ${Date.now() - startedAt} ms`);
    expect(socket.destroyed).toBe(true);
  });
});

describe('in-flight budget', () => {
  // MAX_PAYLOAD 256kb: a packet may claim up to 1 MiB; the budget is its floor of 64 MiB.
  const CLAIMED = 1_000_000;
  const BUDGET = 64 * 1024 * 1024;
  const FIT = Math.floor(BUDGET / CLAIMED);
  const HOLDERS = FIT + 3;

  /** A PUBLISH header claiming CLAIMED bytes, then only the start of its body: memory the broker would hold for it. */
  function largePublish(sn: string): Buffer {
    const topic = `fungxi_${sn}_upLink`;
    const payload = Buffer.alloc(CLAIMED - 2 - topic.length - 2, 0x61);
    return generate({ cmd: 'publish', topic, payload, qos: 1, messageId: 1, retain: false, dup: false });
  }

  it('ends the connection whose large message does not fit beside the others, and goes on acknowledging small records', async () => {
    bridge = await startBridge({ MAX_PAYLOAD: '256kb' });
    const holders = await Promise.all(Array.from({ length: HOLDERS }, (_, i) => rawClient(`holder-${i}`)));
    let ended = 0;
    for (const socket of holders) socket.once('close', () => ended++);
    const packets = holders.map((_, i) => largePublish(`HOLD${i}`));
    for (const [i, socket] of holders.entries()) socket.write(packets[i].subarray(0, 64 * 1024));

    // Every header read: the budget full, the rest ended.
    await until(
      async () =>
        (await metric('facegate_broker_connections_ended_total{reason="over_budget"}')) + (await metric('facegate_inflight_bytes')) / CLAIMED >= HOLDERS,
    );
    expect(await metric('facegate_inflight_bytes')).toBe(FIT * CLAIMED);
    expect(await metric('facegate_broker_connections_ended_total{reason="over_budget"}')).toBe(HOLDERS - FIT);
    await until(() => ended === HOLDERS - FIT);

    // A terminal's records (small: they never wait on the budget) are still taken in and acknowledged.
    const t = await connectTerminal(bridge.brokerUrl, 'SMALL1', { reconnectPeriod: 0 });
    terminals.push(t);
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "type = 'face.verified' and device_sn = 'SMALL1'")).toBe(1);
    await heartbeat(t);

    // A holder that finishes its message gets it acknowledged (kept as a too_large reject), and its room goes back.
    const finisher = holders.find((socket) => !socket.destroyed)!;
    const index = holders.indexOf(finisher);
    const puback = new Promise((resolve) => finisher.once('data', resolve));
    finisher.write(packets[index].subarray(64 * 1024));
    expect((await puback) as Buffer).toEqual(Buffer.from([0x40, 0x02, 0x00, 0x01]));
    expect(await metric('facegate_inflight_bytes')).toBe((FIT - 1) * CLAIMED);
    expect(bridge.count('rejects', "reason = 'too_large' and device_sn = ?", `HOLD${index}`)).toBe(1);

    // Closing gives back what a connection held.
    for (const socket of holders) socket.destroy();
    await until(async () => (await metric('facegate_inflight_bytes')) === 0);
  });
});

describe('QoS 2 messages waiting for their PUBREL', () => {
  it('takes in a QoS 2 record once, and ends a connection that leaves more than 100 without their PUBREL', async () => {
    bridge = await startBridge();
    const t = await connectTerminal(bridge.brokerUrl, 'EXACT1', { reconnectPeriod: 0 });
    terminals.push(t);
    // PUBLISH, PUBREC, PUBREL, PUBCOMP: the whole exchange.
    await t.client.publishAsync('fungxi_EXACT1_upLink', JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }), { qos: 2 });
    expect(bridge.count('events', "type = 'face.verified' and device_sn = 'EXACT1'")).toBe(1);

    // aedes keeps each QoS 2 message until its PUBREL, as long as the client pleases.
    const socket = await rawClient('hoarder');
    const parser = mqttParser();
    let pubrecs = 0;
    let hundred = () => {};
    const received = new Promise<void>((resolve) => (hundred = resolve));
    parser.on('packet', (packet) => packet.cmd === 'pubrec' && ++pubrecs === 100 && hundred());
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    const heartU = (messageId: number) =>
      generate({ cmd: 'publish', topic: 'fungxi_HOARD1_upLink', payload: Buffer.from('{"cmd":"heartU"}'), qos: 2, messageId, retain: false, dup: false });
    for (let id = 1; id <= 100; id++) socket.write(heartU(id));
    await received;
    const ended = closed(socket);
    socket.write(heartU(101));
    await ended;
    expect(pubrecs).toBe(100);
  });
});
