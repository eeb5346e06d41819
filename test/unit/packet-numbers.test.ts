import { createRequire } from 'node:module';
import { generate, type Packet, parser } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { writeNumbersUncached } from '../../src/transport/packet-numbers.ts';

// The two-byte numbers of the packets the bridge writes, made per packet:
// mqtt-packet's table of all 65,536 of them is never made (README
// §Performance, Memory), and the packets are the same.

const { cache } = createRequire(import.meta.url)('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };

describe('writeNumbersUncached', () => {
  it('leaves the table empty and writes the numbers right', () => {
    writeNumbersUncached();
    const written: Packet[] = [
      { cmd: 'puback', messageId: 65_535 },
      { cmd: 'publish', topic: 'fungxi_T1_downLink', payload: '{"cmd":"heartD"}', qos: 1, messageId: 258, retain: false, dup: false },
      { cmd: 'suback', messageId: 1, granted: [1] },
    ];
    const read = parser();
    const packets: Packet[] = [];
    read.on('packet', (packet) => packets.push(packet));
    for (const packet of written) read.parse(generate(packet));
    expect(Object.keys(cache)).toHaveLength(0);
    expect(packets.map((p) => ('messageId' in p ? p.messageId : undefined))).toEqual([65_535, 258, 1]);
    expect(packets[1]).toMatchObject({ topic: 'fungxi_T1_downLink', qos: 1 });
  });
});
