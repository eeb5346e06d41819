import { once } from 'node:events';
import { type AddressInfo, connect as connectSocket, createServer, type Socket } from 'node:net';
import { Aedes, type AedesOptions, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { generate, type Packet, parser } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { until } from '../../src/kit/wait.ts';
import {
  ackWaitsForAuthorizePublish,
  deliverNothingOn,
  expiryKeptWithPacket,
  handleConnection,
  isClosingClientsWill,
  keepNoPayload,
  limitWillBeforeAedesTakesIt,
  neverStoreRetained,
  notRetainedFromHere,
  onStoreFailure,
  packetWithExpiry,
  trackListening,
  unsubscribedByClosing,
  writeBesideAedes,
} from '../../src/transport/aedes-internals.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// What the embedded broker takes from aedes beyond its documented API
// (src/transport/aedes-internals.ts), each checked against the installed
// aedes in this process with real clients: one of these failing after an
// upgrade means the acknowledgement after commit, the topic rules or the
// command expiry no longer hold.

const cleanup = cleanupAfterEach();
const UP = 'fungxi_T1_upLink';
const DOWN = 'fungxi_T1_downLink';

type Answer = (err?: Error | null) => void;

/** aedes on a loopback port; every connection goes through handleConnection, its clients kept in order. */
async function startBroker(options: AedesOptions = {}, onConnection: (socket: Socket) => void = () => {}) {
  const broker = await Aedes.createBroker(options);
  const handled: Client[] = [];
  const server = createServer((socket) => {
    onConnection(socket);
    handled.push(handleConnection(broker, socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as AddressInfo).port;
  return { broker, handled, port, url: `mqtt://127.0.0.1:${port}` };
}

async function connect(url: string, clientId: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, ...options });
  cleanup(() => client.endAsync(true));
  return client;
}

/** An MQTT 3.1.1 client over a bare socket: it sends what it is told and records every packet the broker writes. */
async function rawClient(port: number, clientId: string) {
  const socket = connectSocket({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  cleanup(() => socket.destroy());
  const received: Packet[] = [];
  const incoming = parser({ protocolVersion: 4 });
  incoming.on('packet', (packet) => received.push(packet));
  socket.on('data', (chunk) => incoming.parse(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  const send = (...packets: Packet[]) => socket.write(Buffer.concat(packets.map((packet) => generate(packet))));
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 });
  await until(() => received.some((p) => p.cmd === 'connack'));
  return { socket, received, closed, send, cmds: () => received.map((p) => p.cmd) };
}

const byNumber = (a: string, b: string) => Number(a.split(' ')[1]) - Number(b.split(' ')[1]);

const publishPacket = (messageId: number, payload: string, qos: 1 | 2 = 1): Packet => ({
  cmd: 'publish',
  topic: UP,
  payload: Buffer.from(payload),
  qos,
  messageId,
  retain: false,
  dup: false,
});

/** A message from the broker itself on a client's downLink, written after anything aedes wrote to that client before. */
function probe(broker: Aedes): Promise<void> {
  return new Promise((resolve, reject) =>
    broker.publish({ cmd: 'publish', topic: DOWN, payload: Buffer.from('probe'), qos: 0, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
  );
}

describe('ackWaitsForAuthorizePublish', () => {
  it('QoS 1: the PUBACK is written only once the hook has called back', async () => {
    const held: Answer[] = [];
    const { broker, url } = await startBroker({ authorizePublish: ackWaitsForAuthorizePublish((_client, _packet, answer) => held.push(answer)) });
    const client = await connect(url, 'terminal-qos1');
    await client.subscribeAsync(DOWN, { qos: 0 });
    const received: string[] = [];
    client.on('packetreceive', (packet) => received.push(packet.cmd));
    const acknowledged = client.publishAsync(UP, 'record', { qos: 1 });
    await until(() => held.length === 1);
    // The probe comes after anything aedes had written for the publish: no PUBACK before it.
    await probe(broker);
    await until(() => received.includes('publish'));
    expect(received).toEqual(['publish']);

    held[0](null);
    await acknowledged;
    expect(received).toEqual(['publish', 'puback']);
  });

  it('QoS 2: the PUBREC likewise, and the packet kept until its PUBREL has the payload the hook left it', async () => {
    const held: { packet: PublishPacket; answer: Answer }[] = [];
    const { broker, handled, port } = await startBroker({
      authorizePublish: ackWaitsForAuthorizePublish((_client, packet, answer) => held.push({ packet, answer })),
    });
    const raw = await rawClient(port, 'terminal-qos2');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: DOWN, qos: 0 }] });
    await until(() => raw.cmds().includes('suback'));
    raw.send(publishPacket(7, 'x'.repeat(10_000), 2));
    await until(() => held.length === 1);
    await probe(broker);
    await until(() => raw.cmds().includes('publish'));
    expect(raw.cmds()).toEqual(['connack', 'suback', 'publish']);

    keepNoPayload(held[0].packet);
    held[0].answer(null);
    await until(() => raw.cmds().includes('pubrec'));
    const persistence = (broker as unknown as { persistence: { incomingGetPacket(client: Client, packet: { messageId: number }): Promise<PublishPacket> } })
      .persistence;
    const kept = await persistence.incomingGetPacket(handled[0], { messageId: 7 });
    expect(kept.payload).toHaveLength(0);
    raw.send({ cmd: 'pubrel', messageId: 7 });
    await until(() => raw.cmds().includes('pubcomp'));
  });

  it('an error from the hook closes the connection, nothing acknowledged', async () => {
    const { port } = await startBroker({ authorizePublish: ackWaitsForAuthorizePublish((_client, _packet, answer) => answer(new Error('commit failed'))) });
    const raw = await rawClient(port, 'terminal-refused');
    raw.send(publishPacket(1, 'record'));
    await raw.closed;
    expect(raw.cmds()).toEqual(['connack']);
  });
});

describe('handleConnection', () => {
  it("returns the client the hooks get, whose packets reach authorizePublish in arrival order after a 'data' listener saw their bytes", async () => {
    const seen: { client: Client | null; messageId: number; bytesSeen: number; answer: Answer }[] = [];
    let bytesSeen = 0;
    const { handled, port } = await startBroker(
      { authorizePublish: ackWaitsForAuthorizePublish((client, packet, answer) => seen.push({ client, messageId: packet.messageId!, bytesSeen, answer })) },
      (socket) => socket.on('data', (chunk: Buffer) => (bytesSeen += chunk.length)),
    );
    const raw = await rawClient(port, 'terminal-order');
    const packets = [1, 2, 3].map((id) => publishPacket(id, `record ${id}`));
    const sizes = packets.map((packet) => generate(packet).length);
    const before = bytesSeen;
    // One write: the three arrive in one chunk.
    raw.send(...packets);
    await until(() => seen.length === 3);
    expect(seen.map((s) => s.messageId)).toEqual([1, 2, 3]);
    expect(seen.every((s) => s.client === handled[0])).toBe(true);
    expect(seen[0].bytesSeen - before).toBeGreaterThanOrEqual(sizes[0]);

    for (const s of seen) s.answer(null);
    await until(() => raw.cmds().filter((cmd) => cmd === 'puback').length === 3);
    expect(raw.received.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual([1, 2, 3]);
  });

  it('closes the client when its socket is destroyed', async () => {
    const sockets: Socket[] = [];
    const { broker, handled, port } = await startBroker({}, (socket) => sockets.push(socket));
    await rawClient(port, 'terminal-cut');
    const gone = once(broker, 'clientDisconnect');
    sockets[0].destroy();
    await gone;
    expect(handled[0].closed).toBe(true);
  });
});

describe('wills', () => {
  it('limitWillBeforeAedesTakesIt: a will kept is published unretained, a will dropped is never published', async () => {
    const wills: PublishPacket[] = [];
    const { broker, url } = await startBroker({
      preConnect: (_client, packet, callback) => {
        limitWillBeforeAedesTakesIt(packet, (topic) => topic === UP);
        callback(null, true);
      },
      authorizePublish: (client, packet, answer) => {
        if (client && isClosingClientsWill(client, packet)) wills.push(packet);
        answer(null);
      },
    });
    for (const [id, topic] of [
      ['terminal-kept', UP],
      ['terminal-dropped', 'fungxi_T2_upLink'],
    ]) {
      const client = await connect(url, id, { will: { topic, payload: Buffer.from('gone'), qos: 1, retain: true } });
      const gone = once(broker, 'clientDisconnect');
      client.stream.destroy();
      await gone;
    }
    expect(wills.map((w) => [w.topic, w.retain])).toEqual([[UP, false]]);
  });

  it('isClosingClientsWill: a client closing without DISCONNECT hands its own will to authorizePublish; its messages are not its will', async () => {
    const calls: { client: Client | null; will: boolean; payload: string }[] = [];
    const { broker, handled, url } = await startBroker({
      authorizePublish: (client, packet, answer) => {
        calls.push({ client, will: client !== null && isClosingClientsWill(client, packet), payload: String(packet.payload) });
        answer(null);
      },
    });
    const client = await connect(url, 'terminal-will', { will: { topic: UP, payload: Buffer.from('gone'), qos: 1, retain: false } });
    await client.publishAsync(UP, 'record', { qos: 1 });
    const gone = once(broker, 'clientDisconnect');
    client.stream.destroy();
    await gone;
    expect(calls).toEqual([
      { client: handled[0], will: false, payload: 'record' },
      { client: handled[0], will: true, payload: 'gone' },
    ]);
  });
});

describe('retained messages', () => {
  /** What aedes' retained store holds for a topic. */
  async function retained(broker: Aedes, topic: string): Promise<unknown[]> {
    const store = (broker as unknown as { persistence: { createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown> } }).persistence;
    const packets: unknown[] = [];
    for await (const packet of store.createRetainedStreamCombi([topic])) packets.push(packet);
    return packets;
  }

  it('notRetainedFromHere: a retained message cleared in the hook is delivered and stored as a plain one', async () => {
    const { broker, url } = await startBroker({
      authorizePublish: (_client, packet, answer) => {
        notRetainedFromHere(packet);
        answer(null);
      },
    });
    const published: AedesPublishPacket[] = [];
    broker.on('publish', (packet, client) => client && published.push(packet));
    const client = await connect(url, 'terminal-retain');
    await client.publishAsync(UP, 'record', { qos: 1, retain: true });
    await until(() => published.length === 1);
    expect(published[0].retain).toBe(false);
    expect(await retained(broker, UP)).toEqual([]);
  });

  it('neverStoreRetained: a retained message published by the broker itself is not kept', async () => {
    const { broker } = await startBroker();
    const publish = (topic: string) =>
      new Promise<void>((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic, payload: Buffer.from('open'), qos: 1, retain: true, dup: false }, (err) => (err ? reject(err) : resolve())),
      );
    // The store keeps one as it is; not once replaced.
    await publish('before');
    expect(await retained(broker, 'before')).toHaveLength(1);
    neverStoreRetained(broker);
    await publish(DOWN);
    expect(await retained(broker, DOWN)).toEqual([]);
  });
});

/** The ids of the clients eachSubscriber visits. */
function subscribers(tracked: ReturnType<typeof trackListening>, topic: string): string[] {
  const ids: string[] = [];
  tracked.eachSubscriber(topic, (client) => ids.push(client.id));
  return ids;
}

describe('trackListening', () => {
  it('sees the subscriptions of connected clients only', async () => {
    const { broker, url } = await startBroker();
    const subscribed = trackListening(broker);
    const online = await connect(url, 'terminal-online');
    await online.subscribeAsync(DOWN, { qos: 1 });
    const away = await connect(url, 'terminal-away', { clean: false });
    await away.subscribeAsync('fungxi_T2_downLink', { qos: 1 });
    const left = await connect(url, 'terminal-left');
    await left.subscribeAsync('fungxi_T4_downLink', { qos: 1 });
    expect(subscribed.listening(DOWN)).toBe(true);
    expect(subscribed.listening('fungxi_T2_downLink')).toBe(true);
    expect(subscribed.listening('fungxi_T4_downLink')).toBe(true);
    expect(subscribed.listening('fungxi_T3_downLink')).toBe(false);
    expect(subscribers(subscribed, DOWN)).toEqual(['terminal-online']);
    expect(subscribers(subscribed, 'fungxi_T3_downLink')).toEqual([]);
    expect(subscribed.eachSubscriber(DOWN, () => {})).toBe(1);

    // Its session keeps the subscription; it is not listening.
    const gone = once(broker, 'clientDisconnect');
    await away.endAsync();
    await gone;
    expect(subscribed.listening('fungxi_T2_downLink')).toBe(false);
    expect(subscribers(subscribed, 'fungxi_T2_downLink')).toEqual([]);
    expect(subscribed.listening(DOWN)).toBe(true);
    await left.unsubscribeAsync('fungxi_T4_downLink');
    expect(subscribed.listening('fungxi_T4_downLink')).toBe(false);

    // Back with its session: the subscription restored without a SUBSCRIBE counts again.
    const back = await connect(url, 'terminal-away', { clean: false });
    await until(() => subscribed.listening('fungxi_T2_downLink'));
    await back.endAsync();
  });
});

describe('deliverNothingOn', () => {
  it("finishes a client's publish on such a topic without a delivery, acknowledged; others are delivered", async () => {
    const hooked: string[] = [];
    const { broker, url } = await startBroker({
      authorizePublish: (_client, packet, answer) => {
        hooked.push(packet.topic);
        answer(null);
      },
    });
    deliverNothingOn(broker, (topic) => topic === UP);
    const listener = await connect(url, 'listener');
    await listener.subscribeAsync([UP, DOWN], { qos: 1 });
    const received: string[] = [];
    listener.on('message', (topic, payload) => received.push(`${topic} ${payload}`));
    const terminal = await connect(url, 'terminal');
    await terminal.publishAsync(UP, 'zero', { qos: 0 });
    await terminal.publishAsync(UP, 'one', { qos: 1 });
    await terminal.publishAsync(UP, 'two', { qos: 2 });
    // Published after the others, by the same client, through the same broker: delivered once they would have been.
    await terminal.publishAsync(DOWN, 'passed on', { qos: 1 });
    await until(() => received.length > 0);
    expect(received).toEqual([`${DOWN} passed on`]);
    expect(hooked).toEqual([UP, UP, UP, DOWN]);
  });

  it("also a closing client's will on such a topic", async () => {
    const { broker, url } = await startBroker();
    deliverNothingOn(broker, (topic) => topic === UP);
    const listener = await connect(url, 'listener');
    await listener.subscribeAsync([UP, DOWN], { qos: 0 });
    const received: string[] = [];
    listener.on('message', (topic) => received.push(topic));
    const willing = await connect(url, 'willing', { will: { topic: UP, payload: Buffer.from('gone'), qos: 0, retain: false } });
    const other = await connect(url, 'other', { will: { topic: DOWN, payload: Buffer.from('gone'), qos: 0, retain: false } });
    const closed = once(broker, 'clientDisconnect');
    willing.stream.destroy();
    await closed;
    other.stream.destroy();
    await until(() => received.length > 0);
    expect(received).toEqual([DOWN]);
  });
});

describe('writeBesideAedes', () => {
  it("puts whole packets between aedes' own, never inside one", async () => {
    const sockets: Socket[] = [];
    const { broker, port } = await startBroker({}, (socket) => sockets.push(socket));
    const raw = await rawClient(port, 'terminal-beside');
    const errors: Error[] = [];
    raw.socket.on('error', (err) => errors.push(err));
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: DOWN, qos: 0 }] });
    await until(() => raw.cmds().includes('suback'));
    const beside = (n: number) => generate({ cmd: 'publish', topic: DOWN, payload: Buffer.from(`beside ${n}`), qos: 0, retain: false, dup: false });
    // aedes' packets written over several turns of the event loop, large ones in many pieces; ours at every kind of moment between.
    for (let n = 0; n < 30; n++) {
      broker.publish(
        { cmd: 'publish', topic: DOWN, payload: Buffer.alloc(n % 3 === 0 ? 200_000 : 100, 97 + (n % 26)), qos: 0, retain: false, dup: false },
        () => {},
      );
      writeBesideAedes(sockets[0], beside(3 * n));
      process.nextTick(() => writeBesideAedes(sockets[0], beside(3 * n + 1)));
      setImmediate(() => writeBesideAedes(sockets[0], beside(3 * n + 2)));
    }
    await until(() => raw.received.filter((p) => p.cmd === 'publish').length === 120);
    const publishes = raw.received.filter((p) => p.cmd === 'publish') as (Packet & { payload: Buffer })[];
    const ours = publishes.map((p) => p.payload.toString()).filter((text) => text.startsWith('beside '));
    expect(ours.sort(byNumber)).toEqual(Array.from({ length: 90 }, (_, n) => `beside ${n}`));
    for (const p of publishes.filter((p) => !p.payload.toString().startsWith('beside '))) expect(new Set(p.payload).size).toBe(1);
    expect(errors).toEqual([]);
  });
});

describe('packetWithExpiry', () => {
  it('keeps the expiry with a message up to authorizeForward, delivered at once or from an offline session', async () => {
    const forwarded: (number | undefined)[] = [];
    const { broker, url } = await startBroker({
      authorizeForward: (_client, packet) => {
        forwarded.push(expiryKeptWithPacket(packet));
        return packet;
      },
    });
    const command = (expiresAt: number) =>
      new Promise<void>((resolve, reject) =>
        broker.publish(packetWithExpiry({ cmd: 'publish', topic: DOWN, payload: Buffer.from('open'), qos: 1, retain: false, dup: false }, expiresAt), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    const options = { clean: false, clientId: 'terminal-expiry', reconnectPeriod: 0 };
    const terminal = await connect(url, options.clientId, options);
    await terminal.subscribeAsync(DOWN, { qos: 1 });
    const first = new Promise((resolve) => terminal.once('message', resolve));
    await command(1000);
    await first;

    const gone = once(broker, 'clientDisconnect');
    await terminal.endAsync();
    await gone;
    await command(2000);
    // Listening before its session is back: the queued command comes right after the CONNACK.
    const back = mqtt.connect(url, options);
    cleanup(() => back.endAsync(true));
    await new Promise((resolve) => back.once('message', resolve));
    expect(forwarded).toEqual([1000, 2000]);
  });
});

describe('unsubscribedByClosing', () => {
  it("tells an UNSUBSCRIBE from a client's close", async () => {
    const { broker, url } = await startBroker();
    const events: [string[], boolean][] = [];
    broker.on('unsubscribe', (topics, client) => events.push([topics, unsubscribedByClosing(client)]));
    const client = await connect(url, 'terminal-unsub');
    await client.subscribeAsync([DOWN, 'fungxi_T2_downLink'], { qos: 1 });
    await client.unsubscribeAsync('fungxi_T2_downLink');
    expect(events).toEqual([[['fungxi_T2_downLink'], false]]);

    const gone = once(broker, 'clientDisconnect');
    client.stream.destroy();
    await gone;
    await until(() => events.length === 2);
    expect(events[1]).toEqual([[DOWN], true]);
  });
});

describe('onStoreFailure', () => {
  it("hears a failure of aedes' store", async () => {
    const { broker } = await startBroker();
    const failures: string[] = [];
    onStoreFailure(broker, (err) => failures.push(err.message));
    (broker as unknown as { persistence: { subscriptionsByTopic: () => Promise<never> } }).persistence.subscriptionsByTopic = () =>
      Promise.reject(new Error('disk gone'));
    broker.publish({ cmd: 'publish', topic: DOWN, payload: Buffer.from('open'), qos: 1, retain: false, dup: false }, () => {});
    await until(() => failures.length > 0);
    expect(failures).toEqual(['disk gone']);
  });
});
