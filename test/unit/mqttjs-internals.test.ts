import { type AddressInfo, createServer, Socket } from 'node:net';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { describe, expect, it, vi } from 'vitest';
import { freePort } from '../../src/kit/ports.ts';
import { until } from '../../src/kit/wait.ts';
import { puback } from '../../src/transport/encoded-packets.ts';
import {
  currentConnection,
  dropConnectionForResend,
  forgetUnacknowledgedPublish,
  sendWithoutDelay,
  setReconnectDelay,
  takeMessagesWithoutPuback,
  writeOnConnection,
} from '../../src/transport/mqttjs-internals.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// What the external transport takes from MQTT.js beyond its documented API
// (src/transport/mqttjs-internals.ts), each checked against the installed
// MQTT.js with a real broker (aedes, in this process): one of these failing
// after an upgrade means the bridge's acknowledgement after commit, its
// receive window or its command expiry no longer hold.

const cleanup = cleanupAfterEach();
const TOPIC = 'fungxi_T1_upLink';

async function startBroker(options: AedesOptions = {}) {
  const broker = await Aedes.createBroker(options);
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise((resolve) => server.close(resolve));
  });
  // The broker's side of each connection, by client id.
  const clients = new Map<string, Client>();
  broker.on('client', (client) => clients.set(client.id, client));
  return { broker, clients, url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A client like the bridge's: a persistent session, subscribed at QoS 1. */
async function connect(url: string, clientId: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 20, ...options });
  cleanup(() => client.endAsync(true));
  return client;
}

/** Resolves when the client emits this event (MQTT.js's emitter is not Node's). */
function when(client: MqttClient, event: 'connect' | 'close'): Promise<void> {
  return new Promise((resolve) => client.once(event, () => resolve()));
}

/** The payloads of the broker's messages its client acknowledged, in the order the PUBACKs came. */
function acknowledged(broker: Aedes): string[] {
  const payloads: string[] = [];
  broker.on('ack', (packet) => payloads.push(String((packet as IPublishPacket).payload)));
  return payloads;
}

function publish(broker: Aedes, payload: string, qos: 0 | 1 = 1): Promise<void> {
  return new Promise((resolve, reject) =>
    broker.publish({ cmd: 'publish', topic: TOPIC, payload: Buffer.from(payload), qos, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
  );
}

describe('takeMessagesWithoutPuback', () => {
  it('reads the next message at once without acknowledging the one before, and a PUBACK written later is the broker acknowledgement', async () => {
    const { broker, url } = await startBroker();
    const client = await connect(url, 'bridge-read-on');
    const taken: IPublishPacket[] = [];
    takeMessagesWithoutPuback(client, (packet, readNext) => {
      taken.push(packet);
      readNext();
    });
    await client.subscribeAsync(TOPIC, { qos: 1 });
    const acks = acknowledged(broker);
    await publish(broker, 'A');
    await publish(broker, 'heartbeat', 0);
    await publish(broker, 'B');
    await until(() => taken.length === 3);
    expect(taken.map((p) => [String(p.payload), p.qos])).toEqual([
      ['A', 1],
      ['heartbeat', 0],
      ['B', 1],
    ]);

    // Had MQTT.js acknowledged A as it read on, that PUBACK would have reached the broker before this one.
    expect(writeOnConnection(client, currentConnection(client), puback(taken[2].messageId!))).toBe(true);
    await until(() => acks.length > 0);
    expect(acks).toEqual(['B']);
  });

  it('reads nothing more from the connection until readNext is called', async () => {
    const { broker, clients, url } = await startBroker();
    const client = await connect(url, 'bridge-window');
    const taken: { packet: IPublishPacket; readNext: () => void }[] = [];
    takeMessagesWithoutPuback(client, (packet, readNext) => taken.push({ packet, readNext }));
    await client.subscribeAsync(TOPIC, { qos: 1 });
    await publish(broker, 'A');
    await publish(broker, 'B');
    await until(() => taken.length === 1);
    // B has arrived at the client's socket: everything the broker wrote was read from it.
    const side = clients.get('bridge-window')!.conn as Socket;
    const socket = currentConnection(client) as Socket;
    await until(() => side.writableLength === 0 && socket.bytesRead === side.bytesWritten);
    expect(taken).toHaveLength(1);

    taken[0].readNext();
    await until(() => taken.length === 2);
    expect(String(taken[1].packet.payload)).toBe('B');
  });
});

describe('the connection', () => {
  it('is the TCP socket of an mqtt:// client, a new one at each reconnect, and dropping it brings back in the session what was not acknowledged', async () => {
    const { broker, url } = await startBroker();
    const client = await connect(url, 'bridge-resend');
    const taken: IPublishPacket[] = [];
    takeMessagesWithoutPuback(client, (packet, readNext) => {
      taken.push(packet);
      readNext();
    });
    await client.subscribeAsync(TOPIC, { qos: 1 });
    const first = currentConnection(client);
    expect(first).toBeInstanceOf(Socket);
    sendWithoutDelay(client);
    await publish(broker, 'A');
    await until(() => taken.length === 1);

    const back = when(client, 'connect');
    dropConnectionForResend(client);
    await back;
    const second = currentConnection(client);
    expect(second).not.toBe(first);
    expect(second).toBeInstanceOf(Socket);
    // The broker sends A again on the new connection.
    await until(() => taken.length === 2);
    expect(String(taken[1].payload)).toBe('A');

    // A PUBACK for the old connection is not written on the new one, where its message id means nothing.
    expect(writeOnConnection(client, first, puback(taken[0].messageId!))).toBe(false);
    const acks = acknowledged(broker);
    expect(writeOnConnection(client, second, puback(taken[1].messageId!))).toBe(true);
    await until(() => acks.length > 0);
    expect(acks).toEqual(['A']);
  });
});

describe('forgetUnacknowledgedPublish', () => {
  it('takes a publish out of what MQTT.js sends again after a reconnect', async () => {
    // A broker that does not acknowledge until told: every publish it gets, in order.
    const seen: { payload: string; answer: (err?: Error | null) => void }[] = [];
    const { url } = await startBroker({ authorizePublish: (_client, packet, answer) => seen.push({ payload: String(packet.payload), answer }) });
    const client = await connect(url, 'bridge-commands');
    const expired = () => {};
    client.publish(TOPIC, 'expired', { qos: 1 }, expired);
    client.publish(TOPIC, 'kept', { qos: 1 }, () => {});
    await until(() => seen.length === 2);
    expect(forgetUnacknowledgedPublish(client, expired)).toBe(true);
    expect(forgetUnacknowledgedPublish(client, expired)).toBe(false);

    seen.length = 0;
    const back = when(client, 'connect');
    dropConnectionForResend(client);
    // MQTT.js sends its stored publishes again one at a time, each once acknowledged, and says 'connect' after the last.
    await until(() => seen.length === 1);
    seen[0].answer(null);
    await back;
    client.publish(TOPIC, 'after', { qos: 1 }, () => {});
    await until(() => seen.length === 2);
    expect(seen.map((s) => s.payload)).toEqual(['kept', 'after']);
  });
});

describe('setReconnectDelay', () => {
  it('is the period of the reconnects scheduled after it is set: one set at a close applies from the next', async () => {
    const scheduled = vi.spyOn(globalThis, 'setInterval');
    cleanup(() => scheduled.mockRestore());
    // Nothing listens there: each attempt closes at once.
    const client = mqtt.connect(`mqtt://127.0.0.1:${await freePort()}`, { reconnectPeriod: 25 });
    client.on('error', () => {});
    cleanup(() => client.endAsync(true));
    let closes = 0;
    await new Promise<void>((resolve) =>
      client.on('close', () => {
        closes += 1;
        if (closes === 1) setReconnectDelay(client, 40);
        if (closes === 2) resolve();
      }),
    );
    client.end(true);
    // The first close scheduled its retry before the listener ran; the second took the new period.
    expect(scheduled.mock.calls.map(([, ms]) => ms).filter((ms) => ms === 25 || ms === 40)).toEqual([25, 40]);
  });
});
