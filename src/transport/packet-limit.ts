import type { Duplex } from 'node:stream';

export interface PacketLimits {
  /** The first packet, a CONNECT: nothing else may come before the login is checked. */
  first: number;
  /** Every later packet. */
  rest: number;
}

/**
 * A PUBLISH larger than this takes room in the in-flight budget from its
 * header on. Smaller ones (heartbeats, most records) never wait on it.
 */
export const LARGE_PUBLISH = 64 * 1024;

const PUBLISH = 3;

/** Bytes of large PUBLISH packets being received or waiting for their commit, on every connection together. */
export interface InFlightBudget {
  readonly limit: number;
  reserved: number;
}

export function createInFlightBudget(limit: number): InFlightBudget {
  return { limit, reserved: 0 };
}

export type Refusal = 'too_large' | 'over_budget';

export interface PacketLimiter {
  /** The oldest large PUBLISH of this connection is finished (ingested, refused or ignored): its room goes back. */
  release(): void;
}

/**
 * Ends a connection as soon as the header of an MQTT packet says it is larger
 * than allowed. aedes's parser buffers each packet whole before anything
 * looks at it: one connection that claimed 250 MB, before any login, grew
 * the process by as much. Only the fixed headers are read here (a byte and
 * the remaining length); the bodies are counted past, not looked at.
 *
 * The same headers bound what all connections hold together: a PUBLISH over
 * LARGE_PUBLISH reserves its length in the shared budget until its publish
 * is finished (`release`, in the order the headers came: a connection's
 * messages are committed in order) or the connection closes. A header that
 * does not fit while others hold room ends its connection: the terminal
 * sends its unacknowledged message again later, and nothing is lost.
 */
export function limitPacketSize(stream: Duplex, limits: PacketLimits, budget: InFlightBudget, refuse: (bytes: number, why: Refusal) => void): PacketLimiter {
  let packets = 0;
  let state: 'type' | 'length' | 'body' = 'type';
  let type = 0;
  let length = 0;
  let multiplier = 1;
  let left = 0;
  const reserved: number[] = [];

  const end = (bytes: number, why: Refusal) => {
    stream.destroy();
    refuse(bytes, why);
  };

  stream.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (state === 'body') {
        const skip = Math.min(left, chunk.length - i);
        i += skip;
        left -= skip;
        if (left === 0) state = 'type';
      } else if (state === 'type') {
        type = chunk[i++] >> 4;
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
        if (length > limit) return end(length, 'too_large');
        if (type === PUBLISH && length > LARGE_PUBLISH) {
          if (budget.reserved > 0 && budget.reserved + length > budget.limit) return end(length, 'over_budget');
          budget.reserved += length;
          reserved.push(length);
        }
        left = length;
        state = left === 0 ? 'type' : 'body';
      }
    }
  });
  stream.once('close', () => {
    for (const bytes of reserved) budget.reserved -= bytes;
    reserved.length = 0;
  });

  return {
    release() {
      const bytes = reserved.shift();
      if (bytes !== undefined) budget.reserved -= bytes;
    },
  };
}

/** The remaining length of a PUBLISH as its header gave it (MQTT 3.1.1 §3.3): whether `limitPacketSize` reserved room for it. */
export function isLargePublish(topic: string, payloadBytes: number, qos: number): boolean {
  // Every heartbeat and most records stop at the first test.
  if (payloadBytes + 3 * topic.length + 4 <= LARGE_PUBLISH) return false;
  return 2 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0) + payloadBytes > LARGE_PUBLISH;
}
