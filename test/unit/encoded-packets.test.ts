import { generate, parser } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { puback, qos0Publish } from '../../src/transport/encoded-packets.ts';

// The packets the bridge makes without mqtt-packet: they must be what
// mqtt-packet makes and reads; the heartbeat answer at every length of the
// remaining-length field, the PUBACK at every width of its packet id.

const cases = [
  ['fungxi_T1_downLink', '{"cmd":"heartD","time":"2026-11-22 10:00:00"}'],
  ['t', ''],
  ['fungxi_T1_downLink', 'x'.repeat(200)],
  ['site/门禁/downLink', 'é'.repeat(10_000)],
  ['fungxi_T1_downLink', 'y'.repeat(2_100_000)],
] as const;

describe('qos0Publish', () => {
  it.each(cases)('MQTT 3.1.1: the bytes mqtt-packet makes (%s, a payload of some length)', (topic, payload) => {
    expect(qos0Publish(topic, payload, false).equals(generate({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }))).toBe(true);
  });

  it.each(cases)('MQTT 5: read back whole by a v5 parser (%s)', (topic, payload) => {
    const read = parser({ protocolVersion: 5 });
    const packets: unknown[] = [];
    read.on('packet', (packet) => packets.push(packet));
    read.on('error', (err) => packets.push(err));
    read.parse(qos0Publish(topic, payload, true));
    expect(packets).toHaveLength(1);
    expect(packets[0]).toMatchObject({ cmd: 'publish', topic, qos: 0, retain: false, dup: false });
    expect((packets[0] as { payload: Buffer }).payload.toString()).toBe(payload);
  });
});

describe('puback', () => {
  const ids = [1, 255, 256, 40_000, 65_535];

  it.each(ids)('MQTT 3.1.1: the bytes mqtt-packet makes (message id %i)', (messageId) => {
    expect(puback(messageId).equals(generate({ cmd: 'puback', messageId }))).toBe(true);
  });

  it.each(ids)('MQTT 5: read back by a v5 parser as a PUBACK of message id %i, Success', (messageId) => {
    const read = parser({ protocolVersion: 5 });
    const packets: unknown[] = [];
    read.on('packet', (packet) => packets.push(packet));
    read.on('error', (err) => packets.push(err));
    // Two in one buffer, as the bridge writes those of a turn.
    read.parse(Buffer.concat([puback(messageId), puback(1)]));
    expect(packets).toHaveLength(2);
    expect(packets[0]).toMatchObject({ cmd: 'puback', messageId });
    expect((packets[0] as { reasonCode?: number }).reasonCode ?? 0).toBe(0);
  });
});
