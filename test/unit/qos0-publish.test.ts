import { generate, parser } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { qos0Publish } from '../../src/transport/qos0-publish.ts';

// The heartbeat answer's bytes, made without mqtt-packet: they must be what
// mqtt-packet makes and reads, at every length of the remaining-length field.

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
