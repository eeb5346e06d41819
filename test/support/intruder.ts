import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { generate, type Packet, parser } from 'mqtt-packet';

/**
 * A client that speaks MQTT 3.1.1 over a bare TCP socket, for what no
 * well-behaved library sends: as many PUBLISH packets as the socket takes,
 * on topics of any serial. Each connection is a fresh clean session.
 */
export interface RawClient {
  socket: Socket;
  /** Set once the connection has ended, whoever ended it. */
  readonly closed: boolean;
  /** Resolves when the connection has ended. */
  ended: Promise<void>;
  /** Queues a packet; false when the socket's buffer is full (wait for `drain`). */
  write(packet: Packet): boolean;
  /**
   * A PINGREQ after what was written: resolves `true` on its PINGRESP, which
   * the broker sends only once it has handled the packets before it, or
   * `false` when the connection ends first.
   */
  settle(): Promise<boolean>;
  end(): Promise<void>;
}

export async function openRaw(port: number, clientId: string): Promise<RawClient> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  // A connection the broker ends (refused, reset) is part of what is tested, not an error of the test.
  socket.on('error', () => {});
  let closed = false;
  // Not events.once: it rejects on the 'error' that comes before a reset's 'close'.
  const ended = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  const incoming = parser({ protocolVersion: 4 });
  const pongs: (() => void)[] = [];
  socket.on('data', (chunk) => incoming.parse(chunk));
  const connack = new Promise<void>((resolve, reject) => {
    incoming.on('packet', (packet) => {
      if (packet.cmd === 'connack') return packet.returnCode === 0 ? resolve() : reject(new Error(`CONNACK ${packet.returnCode}`));
      if (packet.cmd === 'pingresp') pongs.shift()?.();
    });
    void ended.then(() => reject(new Error('connection ended before its CONNACK')));
  });
  await once(socket, 'connect');
  socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 }));
  await connack;
  return {
    socket,
    get closed() {
      return closed;
    },
    ended,
    write: (packet) => socket.write(generate(packet)),
    settle() {
      if (closed) return Promise.resolve(false);
      const pong = new Promise<boolean>((resolve) => pongs.push(() => resolve(true)));
      socket.write(generate({ cmd: 'pingreq' }));
      return Promise.race([pong, ended.then(() => false)]);
    },
    async end() {
      if (!closed) socket.end(generate({ cmd: 'disconnect' }));
      await ended;
    },
  };
}

export interface Flood {
  /** Messages written: handled by the broker, or lost with a connection it ended. */
  attempted: number;
  /** Connections it took. */
  connections: number;
}

/**
 * One publish at QoS 0 on each topic, in rounds of `round` written at once,
 * each followed by a PINGREQ: its PINGRESP says the broker handled the round,
 * and the next one follows at once. When the broker ends the connection
 * instead, what was left of that round is lost (the price of a refusal) and a
 * new connection goes on with the next round, until every topic was
 * attempted or `maxConnections` were used.
 */
export async function flood(
  port: number,
  topics: string[],
  payload: string | Buffer,
  { round = 100, maxConnections }: { round?: number; maxConnections: number },
): Promise<Flood> {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  let attempted = 0;
  let connections = 0;
  let client: RawClient | undefined;
  while (attempted < topics.length) {
    if (client === undefined || client.closed) {
      if (connections === maxConnections) break;
      connections += 1;
      client = await openRaw(port, `intruder-${connections}`).catch(() => undefined);
      if (client === undefined) continue; // refused at CONNECT: that costs a connection too
    }
    const end = Math.min(attempted + round, topics.length);
    for (; attempted < end; attempted++) client.write({ cmd: 'publish', topic: topics[attempted], payload: body, qos: 0, retain: false, dup: false });
    await client.settle();
  }
  await client?.end();
  return { attempted, connections };
}
