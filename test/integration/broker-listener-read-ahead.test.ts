import { connect, type Socket } from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/log.ts';
import { listenForTerminals } from '../../src/transport/broker-listeners.ts';
import { createConnectionGate } from '../../src/transport/connection-gate.ts';
import { POSTGRES_READ_AHEAD } from '../../src/transport/embedded.ts';

// The embedded broker's listener reads a plain connection as far ahead as it
// is told (embedded.ts, POSTGRES_READ_AHEAD); broker-read-ahead.test.ts
// checks which the bridge tells it, on each store.

let stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of stops.reverse()) await stop();
  stops = [];
});

/** The socket the listener hands to the broker for one connection from a client. */
async function servedSocket(readAheadBytes: number | undefined): Promise<Socket | TLSSocket> {
  let served: (socket: Socket | TLSSocket) => void = () => {};
  const socket = new Promise<Socket | TLSSocket>((resolve) => (served = resolve));
  const listeners = await listenForTerminals({
    port: 0,
    host: '127.0.0.1',
    handshakeTimeoutMs: 10_000,
    gate: createConnectionGate(10, () => {}),
    serve: (s) => served(s),
    readAheadBytes,
    log: createLogger('silent'),
  });
  stops.push(() => listeners.close());
  const client = connect(listeners.port, '127.0.0.1');
  stops.push(() => client.destroy());
  const server = await socket;
  stops.push(() => server.destroy());
  return server;
}

describe("the listener's read-ahead", () => {
  it("reads a plain connection that far ahead, and Node's default without it", async () => {
    expect((await servedSocket(POSTGRES_READ_AHEAD)).readableHighWaterMark).toBe(POSTGRES_READ_AHEAD);
    expect((await servedSocket(undefined)).readableHighWaterMark).toBe(getDefaultHighWaterMark(false));
  });
});
