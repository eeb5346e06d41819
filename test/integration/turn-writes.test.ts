import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it, vi } from 'vitest';
import { startMosquitto } from '../../src/kit/mosquitto.ts';
import { until } from '../../src/kit/wait.ts';
import { puback, qos0Publish } from '../../src/transport/encoded-packets.ts';
import { currentConnection, dropConnectionForResend, takeMessagesWithoutPuback } from '../../src/transport/mqttjs-internals.ts';
import { createTurnWrites } from '../../src/transport/turn-writes.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// The packets the bridge encodes itself for an external broker
// (src/transport/turn-writes.ts), the heartbeat answers and the PUBACKs:
// written together, one socket write for those of a turn, each a whole
// packet the broker takes; through Mosquitto, with an MQTT 5 client as the
// bridge's.

const cleanup = cleanupAfterEach();
const topic = (i: number) => `site/T${String(i).padStart(5, '0')}/downLink`;
const answer = (i: number) => `{"cmd":"heartD","time":"2026-12-05 10:00:00","n":${i}}`;

async function setup() {
  const broker = await startMosquitto();
  cleanup(() => broker.dispose());
  const bridge = await mqtt.connectAsync(broker.url, { clientId: 'bridge', protocolVersion: 5, reconnectPeriod: 20 });
  cleanup(() => bridge.endAsync(true));
  const terminals = await mqtt.connectAsync(broker.url, { clientId: 'terminals', protocolVersion: 5 });
  cleanup(() => terminals.endAsync(true));
  const received: string[] = [];
  terminals.on('message', (t, payload) => received.push(`${t} ${payload}`));
  await terminals.subscribeAsync('site/+/downLink', { qos: 0 });
  return { bridge, received };
}

/** Counts the writes on the bridge's connection of the moment. */
function countWrites(bridge: MqttClient) {
  return vi.spyOn(currentConnection(bridge), 'write');
}

describe('heartbeat answers to an external broker', () => {
  it('go out in one write for those of a turn, each delivered whole, in order', async () => {
    const { bridge, received } = await setup();
    const writes = createTurnWrites(bridge);
    const written = countWrites(bridge);
    for (let i = 0; i < 200; i++) writes.write(qos0Publish(topic(i), answer(i), true));
    // Nothing is written before the turn ends.
    expect(written).not.toHaveBeenCalled();
    await until(() => received.length === 200);
    expect(written).toHaveBeenCalledTimes(1);
    expect(received).toEqual(Array.from({ length: 200 }, (_, i) => `${topic(i)} ${answer(i)}`));
  });

  it('are written before the turn ends once they fill 32 KB, beside the client’s own publishes, none split or lost', async () => {
    const { bridge, received } = await setup();
    const writes = createTurnWrites(bridge);
    const written = countWrites(bridge);
    const expected: string[] = [];
    for (let i = 0; i < 1000; i++) {
      writes.write(qos0Publish(topic(i), answer(i), true));
      expected.push(`${topic(i)} ${answer(i)}`);
      // A command, through MQTT.js, between two answers.
      if (i === 500) void bridge.publishAsync(topic(99_999), '{"cmd":"openDoorD"}', { qos: 1 });
    }
    expect(written.mock.calls.length).toBeGreaterThan(0);
    await until(() => received.length === 1001);
    expect(received.filter((r) => !r.includes('openDoorD'))).toEqual(expected);
    expect(received).toContain(`${topic(99_999)} {"cmd":"openDoorD"}`);
  });

  it('made for a connection that ended are dropped, not written on the next one', async () => {
    const { bridge, received } = await setup();
    const writes = createTurnWrites(bridge);
    writes.write(qos0Publish(topic(1), answer(1), true));
    const back = new Promise((resolve) => bridge.once('connect', resolve));
    dropConnectionForResend(bridge);
    await back;
    writes.write(qos0Publish(topic(2), answer(2), true));
    await until(() => received.length > 0);
    expect(received).toEqual([`${topic(2)} ${answer(2)}`]);
  });
});

describe('PUBACKs to an external broker', () => {
  it('go out in one write for those of a turn, and the broker takes each: only the message left without one comes again', async () => {
    const broker = await startMosquitto();
    cleanup(() => broker.dispose());
    // A persistent session, as the bridge's: the broker sends again, after a reconnect, what was not acknowledged.
    const bridge = await mqtt.connectAsync(broker.url, {
      clientId: 'bridge-acks',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      reconnectPeriod: 20,
    });
    cleanup(() => bridge.endAsync(true));
    const taken: { payload: string; messageId: number }[] = [];
    takeMessagesWithoutPuback(bridge, (packet, readNext) => {
      taken.push({ payload: String(packet.payload), messageId: packet.messageId! });
      readNext();
    });
    await bridge.subscribeAsync('site/+/upLink', { qos: 1 });
    const terminal = await mqtt.connectAsync(broker.url, { clientId: 'terminal', protocolVersion: 5 });
    cleanup(() => terminal.endAsync(true));
    for (let i = 0; i < 20; i++) await terminal.publishAsync('site/T1/upLink', `record ${i}`, { qos: 1 });
    await until(() => taken.length === 20);

    const writes = createTurnWrites(bridge);
    const written = countWrites(bridge);
    const connection = currentConnection(bridge);
    // Every one but record 7.
    for (const { messageId } of taken.filter((t) => t.payload !== 'record 7')) writes.write(puback(messageId), connection);
    expect(written).not.toHaveBeenCalled();
    await until(() => written.mock.calls.length > 0);
    expect(written).toHaveBeenCalledTimes(1);

    // The broker has them once this ping is answered: the connection's bytes are read in order.
    await new Promise<void>((resolve) => {
      bridge.once('packetreceive', (packet) => packet.cmd === 'pingresp' && resolve());
      bridge.sendPing();
    });
    taken.length = 0;
    const back = new Promise((resolve) => bridge.once('connect', resolve));
    dropConnectionForResend(bridge);
    await back;
    await terminal.publishAsync('site/T1/upLink', 'after', { qos: 1 });
    await until(() => taken.some((t) => t.payload === 'after'));
    expect(taken.map((t) => t.payload).sort()).toEqual(['after', 'record 7']);
  });

  it('gathered for a turn are written at once by flush, before the connection ends', async () => {
    const broker = await startMosquitto();
    cleanup(() => broker.dispose());
    const bridge = await mqtt.connectAsync(broker.url, { clientId: 'bridge-flush', protocolVersion: 5 });
    cleanup(() => bridge.endAsync(true));
    const writes = createTurnWrites(bridge);
    const written = countWrites(bridge);
    writes.write(qos0Publish(topic(1), answer(1), true));
    writes.flush();
    expect(written).toHaveBeenCalledTimes(1);
    // Nothing is left for the end of the turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toHaveBeenCalledTimes(1);
  });
});
