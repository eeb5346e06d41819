import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import Database from 'better-sqlite3';
import { generate, parser as mqttParser, type Packet } from 'mqtt-packet';
import { expect, it } from 'vitest';
import { startMosquitto } from '../../src/kit/mosquitto.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { topicTemplate } from '../../src/protocol/topics.ts';
import { databasePath } from '../../src/store/sqlite/open.ts';
import { READ_MAXIMUM, RECEIVE_MAXIMUM } from '../../src/transport/mqtt-session.ts';
import { startBridge } from '../support/bridge.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// Mosquitto 2.0 overshoots the Receive Maximum the bridge announces under
// load. A broker of the test's own ignores it every time: it writes all its
// QoS 1 messages at once, and only the bridge's own bound (mqtt-session.ts,
// READ_MAXIMUM) can keep what waits for a commit bounded, by not reading
// further until a commit frees a place, so that TCP holds the broker back.

/** The most messages the bridge reads ahead of their commits, per client. */
const WINDOW = READ_MAXIMUM;
const COUNT = WINDOW + 300;
// ~22 KB messages: far more in all (~28 MB) than the loopback's socket
// buffers hold, so a bridge that stops reading leaves the broker stuck, and
// the window's worth (~22 MB) within the byte budget, so that the count stops it.
const IMAGE = randomBytes(16 * 1024).toString('base64');

// Undone after each test in reverse order, failed or not: the lock goes
// before the bridge stops (its writer drains first), the bridge before its broker.
const cleanup = cleanupAfterEach();

const V5 = { protocolVersion: 5 };

/**
 * An MQTT 5 broker for one client that never counts what it has in flight:
 * `flood` writes every PUBLISH at once. It records the PUBACKs it gets, and
 * whether its socket is backed up (a write refused, no 'drain' since).
 */
async function startUnrulyBroker() {
  const sockets = new Set<Socket>();
  const pubacks: number[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let connections = 0;
  let client: Socket | undefined;
  let closed = false;
  let backedUp = false;
  let subscribed: () => void;
  const subscription = new Promise<void>((resolve) => (subscribed = resolve));

  const server = createServer((socket) => {
    connections += 1;
    client = socket;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed = true;
    });
    socket.on('error', () => {});
    socket.on('drain', () => (backedUp = false));
    const send = (packet: Packet) => socket.write(generate(packet, V5));
    const parser = mqttParser(V5);
    parser.on('packet', (packet) => {
      switch (packet.cmd) {
        case 'connect':
          send({ cmd: 'connack', reasonCode: 0, sessionPresent: false });
          break;
        case 'subscribe':
          send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1) });
          subscribed();
          break;
        case 'puback':
          pubacks.push(packet.messageId!);
          for (const waiter of waiters.filter((w) => pubacks.length >= w.count)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
          break;
        case 'pingreq':
          send({ cmd: 'pingresp' });
          break;
        case 'disconnect':
          socket.end();
          break;
      }
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `mqtt://127.0.0.1:${port}`,
    subscription,
    pubacks,
    get connections() {
      return connections;
    },
    /** The bridge's connection ended: what it held would come again, and the window would prove nothing. */
    get closed() {
      return closed;
    },
    get backedUp() {
      return backedUp;
    },
    /** Bytes the broker wrote that TCP has not taken yet. */
    get unsent() {
      return client?.writableLength ?? 0;
    },
    /** Writes these QoS 1 messages, message ids 1, 2, … in this order, all at once. */
    flood(topic: string, payloads: Buffer[]): number[] {
      const ids = payloads.map((_, i) => i + 1);
      for (const [i, payload] of payloads.entries()) {
        const packet = generate({ cmd: 'publish', topic, payload, qos: 1, messageId: ids[i], dup: false, retain: false }, V5);
        if (!client!.write(packet)) backedUp = true;
      }
      return ids;
    },
    pubacksReached(count: number): Promise<void> {
      if (pubacks.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

it('keeps its own bound on what waits for a commit against a broker that ignores its Receive Maximum, and acknowledges everything in order once commits resume', async () => {
  const broker = await startUnrulyBroker();
  cleanup(() => broker.close());
  // This broker serves one client, the bridge: no check of its queue from connections of the bridge's own.
  const bridge = await startBridge({ MQTT_URL: broker.url, MQTT_CLIENT_ID: 'facegate-window', BROKER_PROBE: 'false' });
  cleanup(() => bridge.stop());
  await broker.subscription;
  // Messages handed to the writer and not committed yet: what the window bounds.
  const uncommitted = async () => Number(/^facegate_messages_uncommitted (\d+)$/m.exec(await bridge.metric('facegate_messages_uncommitted'))?.[1]);

  // Taken before the flood: no message may be committed (and acknowledged) while the window fills.
  const locker = new Database(databasePath(bridge.dataDir));
  // Closing ends its transaction.
  cleanup(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');

  const topic = topicTemplate(bridge.config.UPLINK_TOPIC).topicOf('WINDOW1');
  const payloads = Array.from({ length: COUNT }, (_, i) =>
    Buffer.from(JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i), liveImageBase64: IMAGE })] })),
  );
  const ids = broker.flood(topic, payloads);

  // The bridge holding still: the window full and the broker backed up, with
  // no progress on either side from one look to the next. A bridge that
  // reads on takes everything (no backpressure left), so this never holds
  // without the window; the unchanged look keeps a bridge caught halfway
  // through the flood from passing for one that stopped.
  let previous = '';
  await until(async () => {
    if (broker.closed) throw new Error('the bridge dropped its connection to the broker');
    const waiting = await uncommitted();
    const look = `${waiting} ${broker.unsent}`;
    const still = look === previous;
    previous = look;
    return still && waiting >= WINDOW && broker.backedUp && broker.unsent > 0;
  });
  expect(await uncommitted()).toBe(WINDOW);
  expect(broker.pubacks).toEqual([]);

  locker.exec('ROLLBACK');
  await broker.pubacksReached(COUNT);
  // Each once, in the order sent [MQTT-4.6.0-2], on the one connection.
  expect(broker.pubacks).toEqual(ids);
  expect(broker.connections).toBe(1);
  expect(broker.closed).toBe(false);
  // Acknowledged means committed: everything is in the database already.
  expect(bridge.count('events', "type = 'face.verified'")).toBe(COUNT);
  expect(bridge.db().prepare("select count(distinct json_extract(fields, '$.num')) as n from events where type = 'face.verified'").get()).toEqual({ n: COUNT });
  expect(await uncommitted()).toBe(0);
  expect((await bridge.api('GET', '/readyz')).status).toBe(200);
});

it('also stops reading at its byte budget: the payloads waiting for a commit stay within it (Mosquitto, 1 MiB records)', async () => {
  const mosquitto = await startMosquitto();
  cleanup(() => mosquitto.dispose());
  const bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-bytes' });
  cleanup(() => bridge.stop());
  const read = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await bridge.metric(name))?.[1]);
  // README §Running against Mosquitto: max(64 MiB, 2 × MAX_PAYLOAD), and the next message is read only while one of MAX_PAYLOAD still fits.
  const MAX_PAYLOAD = bridge.config.MAX_PAYLOAD;
  const BUDGET = Math.max(64 * 1024 * 1024, 2 * MAX_PAYLOAD);
  const SIZE = 1024 * 1024;
  // Fewer than the count window (100): only the byte budget can stop the bridge short of all of them.
  const COUNT = 80;
  const expected = Math.floor((BUDGET - MAX_PAYLOAD) / SIZE) + 1;
  expect(expected).toBeLessThan(COUNT);

  const locker = new Database(databasePath(bridge.dataDir));
  cleanup(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');

  // A terminal back from an outage sends its backlog: records of 1 MiB each, every one acknowledged by Mosquitto.
  const t = await connectTerminal(mosquitto.url, 'BYTES1');
  cleanup(() => t.client.endAsync(true));
  const record = (i: number) => {
    const text = JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i).padStart(4, '0'), liveImageBase64: '' })] });
    return text.replace('"liveImageBase64":""', `"liveImageBase64":"${'A'.repeat(SIZE - Buffer.byteLength(text))}"`);
  };
  expect(Buffer.byteLength(record(0))).toBe(SIZE);
  await Promise.all(Array.from({ length: COUNT }, (_, i) => t.send(record(i))));

  // The bridge holding still: the same look twice, with every record in it or the budget reached.
  let previous = '';
  await until(async () => {
    const [waiting, bytes] = [await read('facegate_messages_uncommitted'), await read('facegate_inflight_bytes')];
    const look = `${waiting} ${bytes}`;
    const still = look === previous;
    previous = look;
    return still && (waiting === COUNT || bytes + MAX_PAYLOAD > BUDGET);
  }, 100);
  const [waiting, bytes] = [await read('facegate_messages_uncommitted'), await read('facegate_inflight_bytes')];
  console.log(`receive-window: ${COUNT} records of 1 MiB, commits held: ${waiting} waiting (${bytes} bytes, budget ${BUDGET})`);
  expect(waiting).toBe(expected);
  expect(bytes).toBe(expected * SIZE);
  expect(bytes).toBeLessThanOrEqual(BUDGET);

  locker.exec('ROLLBACK');
  await bridge.eventsStored(COUNT, (e) => e.type === 'face.verified');
  expect(bridge.count('events', "type = 'face.verified' and device_sn = 'BYTES1'")).toBe(COUNT);
  await until(async () => (await read('facegate_inflight_bytes')) === 0);
});

it('answers a heartbeat that comes behind a full Receive Maximum while every commit is held (Mosquitto)', async () => {
  const mosquitto = await startMosquitto();
  cleanup(() => mosquitto.dispose());
  const bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-beats' });
  cleanup(() => bridge.stop());
  const uncommitted = async () => Number(/^facegate_messages_uncommitted (\d+)$/m.exec(await bridge.metric('facegate_messages_uncommitted'))?.[1]);
  // More records than the Receive Maximum: the broker's window to the bridge fills, the rest queue at the broker.
  const COUNT = RECEIVE_MAXIMUM + 50;

  // Known to the bridge, and answered, before anything is held.
  const beating = await connectTerminal(mosquitto.url, 'BEATS1');
  cleanup(() => beating.client.endAsync(true));
  const first = beating.next((m) => m.cmd === 'heartD');
  await beating.send({ cmd: 'heartU' }, 0);
  await first;

  const locker = new Database(databasePath(bridge.dataDir));
  cleanup(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  const t = await connectTerminal(mosquitto.url, 'RECORDS1');
  cleanup(() => t.client.endAsync(true));
  await Promise.all(Array.from({ length: COUNT }, (_, i) => t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i) })] })));
  // The window full: as many records as the broker may have in flight to the bridge wait for a commit that cannot come.
  await until(async () => (await uncommitted()) >= RECEIVE_MAXIMUM, 50);

  // QoS 0, as terminals beat: the broker writes it to the bridge behind the records at once.
  const answer = beating.next((m) => m.cmd === 'heartD');
  await beating.send({ cmd: 'heartU' }, 0);
  expect(typeof (await answer).time).toBe('string');
  // Answered while the records' commits were still held: it waited for none of them.
  expect(await uncommitted()).toBeGreaterThanOrEqual(RECEIVE_MAXIMUM);
  expect(bridge.count('events', "type = 'face.verified'")).toBe(0);

  locker.exec('ROLLBACK');
  await bridge.eventsStored(COUNT, (e) => e.type === 'face.verified');
  expect(bridge.count('events', "type = 'face.verified' and device_sn = 'RECORDS1'")).toBe(COUNT);
  await until(async () => (await uncommitted()) === 0);
});
