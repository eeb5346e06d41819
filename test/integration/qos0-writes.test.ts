import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it, vi } from 'vitest';
import { startMosquitto } from '../../src/kit/mosquitto.ts';
import { until } from '../../src/kit/wait.ts';
import { currentConnection, dropConnectionForResend } from '../../src/transport/mqttjs-internals.ts';
import { createQos0Writes } from '../../src/transport/qos0-writes.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// The heartbeat answers to an external broker (src/transport/qos0-writes.ts):
// written together, one socket write for those of a turn, each a whole
// packet the broker delivers; through Mosquitto, with an MQTT 5 client as
// the bridge's.

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
    const answers = createQos0Writes(bridge);
    const writes = countWrites(bridge);
    for (let i = 0; i < 200; i++) answers.publish(topic(i), answer(i));
    // Nothing is written before the turn ends.
    expect(writes).not.toHaveBeenCalled();
    await until(() => received.length === 200);
    expect(writes).toHaveBeenCalledTimes(1);
    expect(received).toEqual(Array.from({ length: 200 }, (_, i) => `${topic(i)} ${answer(i)}`));
  });

  it('are written before the turn ends once they fill 32 KB, beside the client’s own publishes, none split or lost', async () => {
    const { bridge, received } = await setup();
    const answers = createQos0Writes(bridge);
    const writes = countWrites(bridge);
    const expected: string[] = [];
    for (let i = 0; i < 1000; i++) {
      answers.publish(topic(i), answer(i));
      expected.push(`${topic(i)} ${answer(i)}`);
      // A command, through MQTT.js, between two answers.
      if (i === 500) void bridge.publishAsync(topic(99_999), '{"cmd":"openDoorD"}', { qos: 1 });
    }
    expect(writes.mock.calls.length).toBeGreaterThan(0);
    await until(() => received.length === 1001);
    expect(received.filter((r) => !r.includes('openDoorD'))).toEqual(expected);
    expect(received).toContain(`${topic(99_999)} {"cmd":"openDoorD"}`);
  });

  it('made for a connection that ended are dropped, not written on the next one', async () => {
    const { bridge, received } = await setup();
    const answers = createQos0Writes(bridge);
    answers.publish(topic(1), answer(1));
    const back = new Promise((resolve) => bridge.once('connect', resolve));
    dropConnectionForResend(bridge);
    await back;
    answers.publish(topic(2), answer(2));
    await until(() => received.length > 0);
    expect(received).toEqual([`${topic(2)} ${answer(2)}`]);
  });
});
