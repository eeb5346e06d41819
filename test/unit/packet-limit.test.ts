import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { createInFlightBudget, type InFlightBudget, isLargePublish, LARGE_PUBLISH, limitPacketSize } from '../../src/transport/packet-limit.ts';

const LIMITS = { first: 1024, rest: 100_000 };

/** Feeds the bytes in chunks of `size` and says whether the stream was ended, and for what size. */
function feed(bytes: Buffer, size = bytes.length) {
  const stream = new PassThrough();
  const refused: number[] = [];
  limitPacketSize(stream, LIMITS, createInFlightBudget(1 << 30), (n) => refused.push(n));
  for (let i = 0; i < bytes.length && !stream.destroyed; i += size) stream.write(bytes.subarray(i, i + size));
  return { destroyed: stream.destroyed, refused };
}

/** A connection of its own on a shared budget: what it sends, and how it ended. */
function connection(budget: InFlightBudget) {
  const stream = new PassThrough();
  const refused: string[] = [];
  const limiter = limitPacketSize(stream, { first: 1024, rest: 1 << 20 }, budget, (_n, why) => refused.push(why));
  stream.resume();
  return { stream, limiter, refused, send: (bytes: Buffer) => stream.write(bytes) };
}

const connect = generate({ cmd: 'connect', clientId: 'terminal-1', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
const publish = (bytes: number) =>
  generate({ cmd: 'publish', topic: 'fungxi_1_upLink', payload: Buffer.alloc(bytes, 0x61), qos: 1, messageId: 1, retain: false, dup: false });
const pingreq = generate({ cmd: 'pingreq' });

describe('limitPacketSize', () => {
  it('lets packets within the limits through, however the bytes are split', () => {
    const stream = Buffer.concat([connect, publish(90_000), pingreq, publish(0), publish(200), pingreq]);
    for (const size of [stream.length, 1, 2, 3, 7, 1000, 65_536]) expect(feed(stream, size)).toEqual({ destroyed: false, refused: [] });
  });

  it('ends the connection at the header of a first packet over its limit, before the body arrives', () => {
    // What a client that claims 250 MB sends first: a CONNECT header and no login yet.
    const header = Buffer.from([0x10, 0x80, 0x80, 0x80, 0x77]);
    expect(feed(header, 1)).toEqual({ destroyed: true, refused: [0x77 * 128 ** 3] });
    expect(feed(publish(2000)).refused).toEqual([publish(2000).length - 3]);
  });

  it('ends it at a later packet over the other limit, and counts from packet to packet', () => {
    const stream = Buffer.concat([connect, publish(50_000), publish(150_000)]);
    const { destroyed, refused } = feed(stream, 4096);
    expect(destroyed).toBe(true);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeGreaterThan(150_000);
  });
});

/** The remaining length a packet's fixed header gives (MQTT 3.1.1 §2.2.3). */
function remainingLength(packet: Buffer): number {
  let length = 0;
  for (let i = 1, multiplier = 1; ; i++, multiplier *= 128) {
    length += (packet[i] & 0x7f) * multiplier;
    if (!(packet[i] & 0x80)) return length;
  }
}

describe('the in-flight budget', () => {
  // A large PUBLISH's header, and the first bytes of its body only: what an attacker sends to hold memory.
  const header = (bytes: number) => publish(bytes).subarray(0, 100);

  it('reserves the length of a large PUBLISH at its header, and gives it back at release or at close', async () => {
    const budget = createInFlightBudget(1 << 20);
    const a = connection(budget);
    a.send(connect);
    a.send(publish(1000));
    expect(budget.reserved).toBe(0);
    a.send(header(200_000));
    const length = remainingLength(publish(200_000));
    expect(budget.reserved).toBe(length);
    a.limiter.release();
    expect(budget.reserved).toBe(0);
    a.send(publish(200_000).subarray(100));
    a.send(header(300_000));
    expect(budget.reserved).toBe(remainingLength(publish(300_000)));
    a.stream.destroy();
    await once(a.stream, 'close');
    expect(budget.reserved).toBe(0);
  });

  it('ends the connection whose header does not fit beside what others hold, and lets one in when nothing is held', async () => {
    const budget = createInFlightBudget(500_000);
    const [a, b, c] = [connection(budget), connection(budget), connection(budget)];
    for (const x of [a, b, c]) x.send(connect);
    a.send(header(300_000));
    b.send(header(300_000));
    expect(b.refused).toEqual(['over_budget']);
    expect(b.stream.destroyed).toBe(true);
    // Small packets never wait on the budget.
    c.send(publish(LARGE_PUBLISH - 100));
    c.send(pingreq);
    expect(c.refused).toEqual([]);
    a.stream.destroy();
    await once(a.stream, 'close');
    // Alone, a packet larger than the whole budget still passes (the size limit is the bound there).
    c.send(header(600_000));
    expect(c.refused).toEqual([]);
    expect(budget.reserved).toBeGreaterThan(budget.limit);
  });

  it('tells a large PUBLISH from its topic, payload and QoS as its header counted it', () => {
    for (const [topic, qos] of [
      ['fungxi_1_upLink', 1],
      ['fungxi_1_upLink', 0],
      ['sité/{sn}/上', 1],
    ] as const) {
      for (const payload of [LARGE_PUBLISH - 200, LARGE_PUBLISH - 30, LARGE_PUBLISH - 20, LARGE_PUBLISH - 10, LARGE_PUBLISH]) {
        const bytes = generate({ cmd: 'publish', topic, payload: Buffer.alloc(payload), qos, messageId: qos ? 1 : undefined, retain: false, dup: false });
        expect(isLargePublish(topic, payload, qos), `${topic} ${qos} ${payload}`).toBe(remainingLength(bytes) > LARGE_PUBLISH);
      }
    }
  });
});
