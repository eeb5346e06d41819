import type { Duplex } from 'node:stream';

export interface PacketLimits {
  /** The first packet, a CONNECT: nothing else may come before the login is checked. */
  first: number;
  /** Every later packet. */
  rest: number;
}

/**
 * Ends a connection as soon as the header of an MQTT packet says it is larger
 * than allowed. aedes's parser buffers each packet whole before anything
 * looks at it: one connection that claimed 250 MB, before any login, grew
 * the process by as much. Only the fixed headers are read here (a byte and
 * the remaining length); the bodies are counted past, not looked at.
 */
export function limitPacketSize(stream: Duplex, limits: PacketLimits, refuse: (bytes: number) => void): void {
  let packets = 0;
  let state: 'type' | 'length' | 'body' = 'type';
  let length = 0;
  let multiplier = 1;
  let left = 0;

  stream.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (state === 'body') {
        const skip = Math.min(left, chunk.length - i);
        i += skip;
        left -= skip;
        if (left === 0) state = 'type';
      } else if (state === 'type') {
        i += 1;
        state = 'length';
        length = 0;
        multiplier = 1;
      } else {
        const byte = chunk[i++];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if (byte & 0x80) continue;
        const limit = packets === 0 ? limits.first : limits.rest;
        packets += 1;
        if (length > limit) {
          stream.destroy();
          refuse(length);
          return;
        }
        left = length;
        state = left === 0 ? 'type' : 'body';
      }
    }
  });
}
