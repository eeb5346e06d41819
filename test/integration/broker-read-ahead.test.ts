import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { withTimeout } from '../../src/kit/wait.ts';
import { createLogger } from '../../src/lib/log.ts';
import { topicTemplate } from '../../src/protocol/topics.ts';
import { POSTGRES_READ_AHEAD, startEmbeddedBroker } from '../../src/transport/embedded.ts';
import { onPostgres, startBridge } from '../support/bridge.ts';

// The embedded broker's read-ahead (embedded.ts, POSTGRES_READ_AHEAD): aedes
// reads a connection's next bytes only when the messages of its last read
// are finished, so the read-ahead is how many of a terminal's records are
// in hand while the first of them commits.

const RECORDS = 10;
const RECORD_BYTES = 30 * 1024;

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.reverse()) await stop();
  stops = [];
});

describe('read-ahead', () => {
  it('hands ingest the records a terminal sent back to back while none of them is committed yet', async () => {
    /** Ingest's answers, held as a store holds them until its commit. */
    const held: ((err?: Error) => void)[] = [];
    let committing = false;
    let enough: () => void = () => {};
    const inHand = new Promise<void>((resolve) => (enough = resolve));
    const broker = await startEmbeddedBroker({
      port: 0,
      host: '127.0.0.1',
      maxPayload: 8 * 1024 * 1024,
      maxConnections: 10,
      idleMs: 60_000,
      readAheadBytes: POSTGRES_READ_AHEAD,
      uplink: topicTemplate('fungxi_{sn}_upLink'),
      downlink: topicTemplate('fungxi_{sn}_downLink'),
      ingest: (_topic, _payload, done) => {
        if (committing) return done();
        held.push(done);
        // 256 KB and the one read past it hold at least seven 30 KB records; Node's default (16 KiB) one or two.
        if (held.length === 7) enough();
      },
      registry: new Registry(),
      log: createLogger('silent'),
    });
    stops.push(() => broker.stop());
    const terminal = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'RA0001', reconnectPeriod: 0 });
    stops.push(() => terminal.endAsync(true));

    const acked = Array.from({ length: RECORDS }, (_, i) => terminal.publishAsync('fungxi_RA0001_upLink', Buffer.alloc(RECORD_BYTES, 48 + i), { qos: 1 }));
    await withTimeout(inHand, 10_000, 'seven records in hand before any commit');
    expect(held.length).toBeGreaterThanOrEqual(7);

    // Committed, every one is acknowledged, and the rest are read after them.
    committing = true;
    for (const done of held.splice(0)) done();
    const packets = await withTimeout(Promise.all(acked), 10_000, 'every record acknowledged');
    expect(packets).toHaveLength(RECORDS);
  });

  it("is the bridge's on PostgreSQL, and Node's default on SQLite", async () => {
    const bridge = await startBridge();
    stops.push(() => bridge.stop());
    const listening = bridge.logLines.map((line) => JSON.parse(line)).find((line) => String(line.msg).startsWith('embedded MQTT broker listening'));
    expect(listening).toBeDefined();
    expect(listening.readAheadBytes).toBe(onPostgres() ? POSTGRES_READ_AHEAD : undefined);
  });
});
