import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Registry } from 'prom-client';
import type { Done } from '../ingest/ingest.ts';
import type { Logger } from '../lib/log.ts';
import { sameSecret } from '../lib/secrets.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
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
} from './aedes-internals.ts';
import { listenForTerminals } from './broker-listeners.ts';
import { createBrokerMetrics } from './broker-metrics.ts';
import { createConnectionGate } from './connection-gate.ts';
import { qos0Publish } from './encoded-packets.ts';
import { createInFlightBudget, isLargePublish, limitPacketSize, type PacketLimiter } from './packet-limit.ts';
import { endWhenSilent } from './silence.ts';
import { throttledWarn } from './throttled-log.ts';
import { BrokerUnavailable, COMMAND_EXPIRY_S, createInFlight, type Transport } from './transport.ts';

export interface EmbeddedOptions {
  port: number;
  /** BROKER_HOST: the interface of both listeners. */
  host: string;
  /** Serial → password: a terminal logged in as its serial may use only its own topics. */
  terminals?: ReadonlyMap<string, string>;
  /** An mqtts listener beside the plain one. */
  tls?: { port: number; cert: Buffer; key: Buffer };
  username?: string;
  password?: string;
  /** MAX_PAYLOAD: larger messages are kept as rejects, far larger ones refused (packet-limit.ts). */
  maxPayload: number;
  /** Connections held at once, plain and TLS together: MAX_CONNECTIONS, or fewer under the open-file limit (connection-budget.ts). */
  maxConnections: number;
  /** A connection that sends nothing for this long is ended (2 × HEARTBEAT_TIMEOUT). */
  idleMs: number;
  /**
   * Bytes each plain connection reads ahead of the messages it has in hand:
   * POSTGRES_READ_AHEAD when the store is PostgreSQL, Node's default (16 KiB
   * on Node 20, 64 on 22 and later) otherwise.
   */
  readAheadBytes?: number;
  /** How long a command may wait in a terminal's session (COMMAND_EXPIRY_S; tests shorten it). */
  commandExpiryMs?: number;
  uplink: TopicTemplate;
  downlink: TopicTemplate;
  ingest: (topic: string, payload: Uint8Array, done: Done) => void;
  /** Where the broker's metrics go (the bridge's registry). */
  registry: Registry;
  log: Logger;
}

/**
 * Messages aedes delivers at once. Past its default of 100, mqemitter queues
 * them in an array it shifts from, which grows slow as the queue grows: with
 * 10,000 terminals sending a heartbeat a second, the heartD answers queued
 * behind each other and most went missing. A delivery in flight costs
 * nothing until there is one, so the bound is set far above any site.
 */
export const AEDES_CONCURRENCY = 100_000;

/** A CONNECT carries a client id, a login and perhaps a will: a few KB at most. */
const CONNECT_LIMIT = 64 * 1024;

/**
 * QoS 2 messages a client may leave without their PUBREL: aedes keeps each
 * until then, as long as the client pleases (its default is 1,000). A
 * terminal has a few in flight at most.
 */
const QOS2_WAITING = 100;

/**
 * aedes reads a connection's next bytes only once every message of its last
 * read is finished, which for a record is its commit: a terminal's records
 * reach the store a socket buffer at a time, one or two records of ~37 KB.
 * SQLite commits in a millisecond or two; PostgreSQL's commit is round trips
 * to a server and its sync, ~10 ms, and batches of one or two records a
 * terminal held a burst to ~1,600 records a second. Reading 256 KB ahead
 * gives each terminal ~7 records a batch (README §Performance, "Reading
 * ahead for PostgreSQL"). It is memory a connection may hold while its
 * messages commit, so the SQLite store keeps Node's default.
 */
export const POSTGRES_READ_AHEAD = 256 * 1024;

/** A socket that has not sent its CONNECT (or finished its TLS handshake) by then is closed. */
const CONNECT_TIMEOUT_MS = 10_000;

/** The least room for large messages in flight, all connections together (README §Connections and memory). */
const IN_FLIGHT_FLOOR = 64 * 1024 * 1024;

const ANSWERED = Promise.resolve();
/** A QoS 0 answer aedes could not deliver is not retried: a late one is worthless. */
const ignore = () => {};

/** `$` topics are the broker's own (aedes acts on `$SYS/+/new/clients`, `$SYS/+/heartbeat`, …) [MQTT-4.7.2-1]. */
const reserved = (topic: string) => topic.charCodeAt(0) === 36;
const wildcard = (topic: string) => topic.includes('+') || topic.includes('#');

/**
 * The aedes broker inside the bridge. Terminals' upLink messages are handed to
 * ingest from `authorizePublish`, the one hook aedes runs before it sends the
 * PUBACK: the terminal is acknowledged only after the commit.
 *
 * Its rules hold with credentials and without (README §The embedded broker):
 * a client publishes only on upLink topics, subscribes only to downLink
 * topics (one exact topic each), nothing is ever retained, and a will goes
 * out only on the sender's own upLink.
 */
export async function startEmbeddedBroker(options: EmbeddedOptions): Promise<Transport & { port: number; tlsPort?: number }> {
  const { uplink, downlink, log, commandExpiryMs = COMMAND_EXPIRY_S * 1000 } = options;
  const terminals = options.terminals ?? new Map<string, string>();
  const secured = options.username !== undefined || terminals.size > 0;
  if (!secured) {
    log.warn(
      'embedded broker accepts anonymous terminals: any client that reaches its port may pose as any terminal; set BROKER_CREDENTIALS (a login per terminal) or BROKER_USERNAME and BROKER_PASSWORD',
    );
  }
  // The serial a client logged in as (per-terminal credentials); absent for the shared login.
  const loggedInAs = new WeakMap<Client, string>();
  // Serials whose downLink a client subscribes to: its will may go out on their upLinks.
  const listensTo = new WeakMap<Client, Set<string>>();
  const limiters = new WeakMap<Client, PacketLimiter>();
  const connections = new WeakMap<Client, Socket | TLSSocket>();
  let listening = true;
  const ingesting = createInFlight();

  // A message up to 4 × MAX_PAYLOAD still arrives, to be kept as a reject
  // (too_large) and acknowledged; past that the connection is ended.
  const limits = { first: CONNECT_LIMIT, rest: 4 * options.maxPayload };
  const budget = createInFlightBudget(Math.max(IN_FLIGHT_FLOOR, 2 * limits.rest));
  const refusedConnection = throttledWarn(log, 'MQTT connection refused: the embedded broker holds as many as it may');
  const gate = createConnectionGate(options.maxConnections, () => {
    metrics.refused.inc();
    refusedConnection({ max: options.maxConnections });
  });
  const metrics = createBrokerMetrics(options.registry, { connections: () => gate.open, inFlightBytes: () => budget.reserved });
  const refusedLogin = throttledWarn(log, 'terminal refused: bad broker credentials');
  const refusedSubscription = throttledWarn(log, 'subscription refused');
  const endedSilent = throttledWarn(log, 'MQTT connection ended: it sent nothing for 2 × HEARTBEAT_TIMEOUT');
  const endedTooLarge = throttledWarn(log, 'MQTT connection ended: a packet over the size limit');
  const endedOverBudget = throttledWarn(log, 'MQTT connection ended: large messages in flight fill the in-flight budget; the terminal sends it again later');

  // An upLink's message is taken in from authorizePublish, and no client may
  // subscribe to an upLink (authorizeSubscribe): no one is to get it. A topic
  // that is also a downLink's is passed on.
  const deliveredNowhere = (topic: string) => !reserved(topic) && uplink.serialOf(topic) !== undefined && downlink.serialOf(topic) === undefined;

  /**
   * A terminal logged in as its serial gets its own downLink only, also
   * from a session it took over by using another terminal's client id.
   */
  const forwardsTo = (client: Client, topic: string) => {
    const own = loggedInAs.get(client);
    if (own === undefined) return true;
    const sn = downlink.serialOf(topic);
    return sn === undefined || sn === own;
  };

  const broker = await Aedes.createBroker({
    concurrency: AEDES_CONCURRENCY,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxInflightInbound: QOS2_WAITING,
    preConnect(_client, packet, callback) {
      // Only a will on an upLink topic is kept at all, and never retained;
      // whose upLink it may be is checked when it goes out (authorizePublish).
      limitWillBeforeAedesTakesIt(packet, (topic) => !reserved(topic) && uplink.serialOf(topic) !== undefined);
      callback(null, true);
    },
    authenticate(client, username, password, done) {
      if (!secured) return done(null, true);
      const given = password?.toString() ?? '';
      const own = username !== undefined ? terminals.get(username) : undefined;
      if (own !== undefined && sameSecret(given, own)) {
        loggedInAs.set(client, username!);
        return done(null, true);
      }
      if (options.username !== undefined && sameSecret(username ?? '', options.username) && sameSecret(given, options.password ?? '')) return done(null, true);
      refusedLogin({ clientId: client.id });
      const err = new Error('bad user name or password') as AuthenticateError;
      err.returnCode = 4;
      done(err, false);
    },
    authorizePublish: ackWaitsForAuthorizePublish((client, packet, callback) => {
      // A will aedes found in its store without its connection (its sweep
      // for the brokers of a cluster that went silent): one on an upLink
      // (preConnect keeps no other), no one's to vouch for. Not taken in.
      if (!client) return callback(null);
      const { topic } = packet;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      if (isLargePublish(topic, payload.length, packet.qos)) {
        // Its header took room in the in-flight budget: it goes back once this publish is finished, whatever the outcome.
        const limiter = limiters.get(client);
        const answer = callback;
        callback = (err) => {
          limiter?.release();
          answer(err);
        };
      }
      // Stopping closes every client without a DISCONNECT, which fires its
      // will: the terminals did not go offline, so nothing is taken in.
      if (!listening) return callback(new Error('the bridge is stopping'));
      // Refused, aedes closes the connection (MQTT 3.1.1 has no negative PUBACK).
      const sn = reserved(topic) ? undefined : uplink.serialOf(topic);
      const own = loggedInAs.get(client);
      if (sn === undefined || (own !== undefined && own !== sn)) return callback(new Error(`publishing to ${topic} is not allowed`));
      // A will speaks for a terminal: that of the one logged in as its serial,
      // or of a client that listens on that serial's downLink, as the terminal itself does.
      if (isClosingClientsWill(client, packet) && own === undefined && !listensTo.get(client)?.has(sn)) {
        return callback(new Error(`a will on ${topic} from a client that does not listen on that terminal's downLink`));
      }
      // Taken in as a plain message, never kept for later subscribers.
      notRetainedFromHere(packet);
      ingesting.add();
      options.ingest(topic, payload, (err) => {
        callback(err ?? null);
        ingesting.done();
      });
      // The store has its own copy now, or its job holds these bytes: aedes
      // keeps the packet until the PUBACK (QoS 2: the PUBREL), without them
      // (README §Performance, The payloads' memory).
      if (deliveredNowhere(topic)) keepNoPayload(packet);
    }),
    authorizeForward(client, packet) {
      if (!forwardsTo(client, packet.topic)) return null;
      // A command kept in a session (a terminal whose link died unnoticed, or
      // that never acknowledged it) goes nowhere once expired: a door must not
      // open when the terminal comes back minutes later.
      const expiry = expiryKeptWithPacket(packet);
      return expiry !== undefined && performance.now() > expiry ? null : packet;
    },
    authorizeSubscribe(client, subscription, callback) {
      const { topic } = subscription;
      const sn = reserved(topic) || wildcard(topic) ? undefined : downlink.serialOf(topic);
      const own = loggedInAs.get(client);
      if (sn !== undefined && (own === undefined || own === sn)) {
        let serials = listensTo.get(client);
        if (!serials) {
          serials = new Set();
          listensTo.set(client, serials);
        }
        serials.add(sn);
        return callback(null, subscription);
      }
      refusedSubscription({ clientId: client.id, topic });
      // A null subscription is a refusal in the SUBACK (0x80); the client stays connected.
      callback(null, null);
    },
  });
  // Nothing is ever retained: authorizePublish clears the flag of what
  // clients send, and this keeps anything else that reaches aedes' publish
  // out of the store that would hand it to every later subscriber.
  neverStoreRetained(broker);
  // aedes need not look for the subscribers of an upLink's message (deliveredNowhere).
  deliverNothingOn(broker, deliveredNowhere);
  broker.on('unsubscribe', (topics, client) => {
    // An UNSUBSCRIBE of a connected client; a closing one's will is checked against what it listened on.
    if (unsubscribedByClosing(client)) return;
    for (const topic of topics) listensTo.get(client)?.delete(downlink.serialOf(topic) ?? '');
  });
  const listeningListeners: ((topic: string) => void)[] = [];
  // A terminal back on its downLink (or its session restored): its queued commands may go out (README §Commands with replies).
  const subscribed = trackListening(broker, (topic) => {
    for (const listener of listeningListeners) listener(topic);
  });
  // aedes reports a failure of its own store here; without a listener it would end the process.
  onStoreFailure(broker, (err) => log.error({ err: err.message }, 'embedded broker error'));

  const serve = (socket: Socket | TLSSocket) => {
    endWhenSilent(socket, options.idleMs, () => {
      metrics.ended.inc({ reason: 'idle' });
      endedSilent({ seconds: options.idleMs / 1000 });
    });
    const limiter = limitPacketSize(socket, limits, budget, (bytes, why) => {
      metrics.ended.inc({ reason: why });
      const fields = { bytes, remote: socket.remoteAddress };
      if (why === 'too_large') endedTooLarge(fields);
      else endedOverBudget({ ...fields, reserved: budget.reserved, budget: budget.limit });
    });
    const client = handleConnection(broker, socket);
    limiters.set(client, limiter);
    connections.set(client, socket);
  };
  const listeners = await listenForTerminals({
    port: options.port,
    host: options.host,
    tls: options.tls,
    handshakeTimeoutMs: CONNECT_TIMEOUT_MS,
    gate,
    serve,
    readAheadBytes: options.readAheadBytes,
    log,
  });
  const { port, tlsPort } = listeners;
  log.info(
    {
      host: options.host,
      port,
      tlsPort,
      anonymous: !secured,
      maxConnections: options.maxConnections,
      inFlightBudget: budget.limit,
      readAheadBytes: options.readAheadBytes,
    },
    `embedded MQTT broker listening on ${options.host}:${port}${tlsPort !== undefined ? ` and mqtts ${options.host}:${tlsPort}` : ''}${secured ? '' : ', anonymous'}`,
  );

  return {
    port,
    tlsPort,
    connected: () => listening,
    connectedAt: () => 0,
    onListening(listener) {
      listeningListeners.push(listener);
    },
    listening(topic) {
      // Connected clients only: a persistent session of an offline terminal
      // would keep the command and deliver it whenever the terminal returns.
      return subscribed.listening(topic);
    },
    publish(topic, payload, qos) {
      if (!listening) return Promise.reject(new BrokerUnavailable('embedded broker is stopped'));
      if (qos === 0) {
        // A heartbeat's answer (the only QoS 0 message the bridge sends) is
        // written straight to the connections subscribed to that downLink,
        // as authorizeForward would let it: aedes' publish would match the
        // topic against every subscription and hand it on over two turns of
        // the event loop, ten thousand times a second (README §Performance).
        // QoS 0 is never kept for an offline session: no one else would have had it.
        const reached = subscribed.eachSubscriber(topic, (client) => {
          const conn = connections.get(client);
          if (conn && forwardsTo(client, topic)) writeBesideAedes(conn, qos0Publish(topic, payload, client.version === 5));
        });
        // None known to listen: perhaps a terminal whose SUBSCRIBE came in the
        // same read as this heartbeat, taken by aedes but not reported yet
        // (after a restart, every terminal at once). aedes' own delivery finds it.
        if (reached === 0) broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false }, ignore);
        return ANSWERED;
      }
      return new Promise((resolve, reject) => {
        // aedes keeps messageExpiry with the packet in a session but does not act on it: authorizeForward does.
        // On a clock that does not jump (sessions live in this process only): after an NTP step an hour
        // back, a wall-clock expiry would let a kept door command out an hour late.
        const packet = { cmd: 'publish' as const, topic, payload: Buffer.from(payload), qos, retain: false, dup: false };
        broker.publish(qos > 0 ? packetWithExpiry(packet, performance.now() + commandExpiryMs) : packet, (err) =>
          err ? reject(new BrokerUnavailable(err.message)) : resolve(),
        );
      });
    },
    async stop() {
      listening = false;
      await ingesting.settle();
      const closed = listeners.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      gate.closeAll();
      await closed;
    },
  };
}
