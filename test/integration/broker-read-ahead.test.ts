import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_READ_AHEAD } from '../../src/transport/embedded.ts';
import { onPostgres, startBridge } from '../support/bridge.ts';

// The embedded broker's read-ahead (embedded.ts, POSTGRES_READ_AHEAD): aedes
// reads a connection's next bytes only when the messages of its last read
// are committed, so the socket's readable buffer is how many of a
// terminal's records reach one commit (README §Performance, "Reading ahead
// for PostgreSQL", measures what that does to a burst). What the listener
// does with it: broker-listener-read-ahead.test.ts. This file runs on both
// stores (vitest.config.ts).

let stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of stops.reverse()) await stop();
  stops = [];
});

describe('read-ahead', () => {
  it("is the bridge's on PostgreSQL, and Node's default on SQLite", async () => {
    const bridge = await startBridge();
    stops.push(() => bridge.stop());
    const listening = bridge.logLines.map((line) => JSON.parse(line)).find((line) => String(line.msg).startsWith('embedded MQTT broker listening'));
    expect(listening).toBeDefined();
    expect(listening.readAheadBytes).toBe(onPostgres() ? POSTGRES_READ_AHEAD : undefined);
  });
});
