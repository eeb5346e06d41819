import { PassThrough } from 'node:stream';
import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { limitPacketSize } from '../../src/transport/packet-limit.ts';

const LIMITS = { first: 1024, rest: 100_000 };

/** Feeds the bytes in chunks of `size` and says whether the stream was ended, and for what size. */
function feed(bytes: Buffer, size = bytes.length) {
  const stream = new PassThrough();
  const refused: number[] = [];
  limitPacketSize(stream, LIMITS, (n) => refused.push(n));
  for (let i = 0; i < bytes.length && !stream.destroyed; i += size) stream.write(bytes.subarray(i, i + size));
  return { destroyed: stream.destroyed, refused };
}

const connect = generate({ cmd: 'connect', clientId: 'terminal-1', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
const publish = (bytes: number) => generate({ cmd: 'publish', topic: 'fungxi_1_upLink', payload: Buffer.alloc(bytes, 0x61), qos: 1, messageId: 1, retain: false, dup: false });
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
