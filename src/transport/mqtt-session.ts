import type { MqttClient } from 'mqtt';
import type { Done } from '../ingest/ingest.ts';
import type { Logger } from '../lib/log.ts';
import { withoutPassword } from '../lib/secrets.ts';
import { puback } from './encoded-packets.ts';
import {
  type Connection,
  currentConnection,
  dropConnectionForResend,
  sendWithoutDelay,
  setReconnectDelay,
  takeMessagesWithoutPuback,
} from './mqttjs-internals.ts';
import type { ReceiveBudget } from './receive-budget.ts';
import { createSessionWatch } from './session-watch.ts';
import { createInFlight } from './transport.ts';
import { createTurnWrites, type TurnWrites } from './turn-writes.ts';

/**
 * Messages the broker may have in flight to one client at once (MQTT 5
 * Receive Maximum): enough for large group commits, while the QoS 1 messages
 * beyond them wait at the broker, as long as it honours it.
 */
export const RECEIVE_MAXIMUM = 100;
/**
 * Messages read and not yet committed, at most, per client: past the
 * Receive Maximum, because Mosquitto 2.0 overshoots it (hundreds per client
 * under load, README §Running against Mosquitto) and every message it has
 * written sits in the socket ahead of whatever comes next. Reading stops
 * at this count, or at the byte budget, not at the Receive Maximum: a
 * QoS 0 heartU written behind the overshoot is read, and answered, without
 * waiting for the records ahead of it to commit (README §Running against
 * Mosquitto or EMQX).
 */
export const READ_MAXIMUM = 1000;
/** Reconnect ceiling while another client keeps taking the session (session-watch.ts). */
const TAKEN_OVER_MAX_MS = 60_000;
/** README §Running against Mosquitto: how long the broker keeps the session while no client holds it. */
const SESSION_EXPIRY_S = 7 * 24 * 3600;
/** MQTT.js's trace, when DEBUG does not ask for it. */
const untraced = () => {};

export interface BrokerLogin {
  url: string;
  username?: string;
  password?: string;
  /** A CA to trust for mqtts:// or wss:// (a site's own certificate authority). */
  ca?: Buffer;
}

export interface SessionOptions extends BrokerLogin {
  clientId: string;
  /** Subscribed at QoS 1 at every connect. */
  filters: string[];
  /** Left in the session by an earlier run: unsubscribed when the broker kept the session. */
  stale: string[];
  /** No Local: the bridge's own downLink publishes do not come back. A protocol error on a shared subscription [MQTT-3.8.3-4]. */
  noLocal: boolean;
  /**
   * The bridge's own downLink publishes, which a shared subscription without
   * No Local sends back: acknowledged at once, never handed to ingest.
   */
  echo?: { is: (topic: string) => boolean; counted: () => void };
  /** MAX_PAYLOAD: a message is read only while one more of this size fits in the budget. */
  maxPayload: number;
  ingest: (topic: string, payload: Uint8Array, done: Done) => void;
  budget: ReceiveBudget;
  log: Logger;
  /** Reconnect backoff: the first delay and the ceiling. */
  backoff?: { initialMs: number; maxMs: number };
}

export interface BrokerSession {
  readonly client: MqttClient;
  /** The packets the bridge encodes itself for this client's connection (PUBACKs, heartbeat answers): one write a turn (turn-writes.ts). */
  readonly writes: TurnWrites;
  connected(): boolean;
  /** When its connection was last established (wall clock, ms); 0 before. */
  connectedAt(): number;
  /** Resolves at the first connection, or at the first failed attempt. */
  readonly firstAttempt: Promise<void>;
  /** Waits (a few seconds at most) for the commits under way so their PUBACKs go out, then a DISCONNECT that keeps the session. */
  stop(): Promise<void>;
  /** Ends the connection at once: nothing more is acknowledged, the broker sends again what was not. */
  abort(): Promise<void>;
}

/**
 * One client of the site's broker with a persistent session: while no one
 * holds it, the broker keeps its QoS 1 messages, and a message is
 * acknowledged only after its commit, so a crash between receipt and commit
 * loses nothing. The single client of a bridge, or one slot of a shared
 * subscription (slots.ts): each has its own acknowledgement queue and
 * in-flight window, and all of a process share one byte budget.
 */
export async function openBrokerSession(options: SessionOptions): Promise<BrokerSession> {
  // Loaded only against an external broker: MQTT.js would add about 0.1 s to every start of the embedded one.
  const { default: mqtt } = await import('mqtt');
  const { log, budget, clientId } = options;
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 5_000 };
  let failures = 0;

  const client: MqttClient = mqtt.connect(options.url, {
    clientId,
    ...(options.ca && { ca: options.ca }),
    username: options.username,
    password: options.password,
    // MQTT 5: No Local (the single client), shared subscriptions (slots), Receive Maximum.
    protocolVersion: 5,
    clean: false,
    // An MQTT 5 session ends with the connection unless it is given a lifetime.
    properties: { sessionExpiryInterval: SESSION_EXPIRY_S, receiveMaximum: RECEIVE_MAXIMUM },
    keepalive: 30,
    connectTimeout: 10_000,
    reconnectPeriod: backoff.initialMs,
    // Never send a stale command after a reconnect: fail it now instead.
    queueQoSZero: false,
    resubscribe: false,
    // MQTT.js traces every packet through the debug package (four calls for a
    // heartbeat), each an array of its arguments even when tracing is off:
    // garbage on the heartbeats' path. Its trace is there when DEBUG asks.
    ...(process.env.DEBUG ? {} : { log: untraced }),
  });
  // MQTT.js handles one packet at a time and sends the PUBACK when
  // handleMessage calls back; waiting there for a commit would hold every
  // later packet (heartbeats and pings included) behind the disk. So MQTT.js
  // reads on without a PUBACK (mqttjs-internals.ts), and the bridge sends the
  // PUBACK itself once the message is committed, in arrival order [MQTT-4.6.0-2].
  // The broker's in-flight window (Receive Maximum) bounds what waits.
  const writes = createTurnWrites(client);
  const acks = createAckQueue(client, writes);
  // Mosquitto 2.0 overshoots the Receive Maximum under load, so a bound is
  // also kept here: at READ_MAXIMUM messages waiting, or with no room in the
  // byte budget for one more of up to MAX_PAYLOAD (QoS 0 messages, which need
  // no PUBACK, count there too until their commit), the next packet is not
  // read until a commit frees some, and TCP holds the broker back. What waits
  // for a commit stays bounded whatever the broker does. The bound is not the
  // Receive Maximum: the broker writes its QoS 0 messages (heartbeats) into
  // the same stream as soon as they come, behind the QoS 1 records in flight
  // and those it overshot with, and a read that stopped at the Receive
  // Maximum held every one of them behind commits.
  const unsettled = createInFlight();
  const room = () => unsettled.count < READ_MAXIMUM && budget.fits(options.maxPayload);
  let readNext: (() => void) | undefined;
  let stopping = false;
  /** Reads the held packet when there is room again; true once nothing is held. */
  const resume = (): boolean => {
    if (!readNext) return true;
    if (!room()) return false;
    const read = readNext;
    readNext = undefined;
    read();
    return true;
  };
  takeMessagesWithoutPuback(client, (packet, readNextPacket) => {
    // Stopping: nothing more is read; the broker keeps the rest for the next holder.
    if (stopping) return;
    if (options.echo?.is(packet.topic)) {
      // README §Running several replicas: the bridge's own command, back through the shared subscription: acknowledged in its turn, nothing else.
      options.echo.counted();
      if (packet.qos > 0) acks.settle(acks.reserve(packet.messageId!));
      readNextPacket();
      return;
    }
    const slot = packet.qos > 0 ? acks.reserve(packet.messageId!) : undefined;
    const size = (packet.payload as Buffer).length;
    if (slot) unsettled.add();
    budget.take(size);
    options.ingest(packet.topic, packet.payload as Buffer, (err) => {
      // A stop waiting on this goes on only after this callback: the PUBACK below is gathered first, and the stop writes it.
      if (slot) unsettled.done();
      budget.release(size);
      resume();
      if (!slot) return;
      // Not acknowledged: drop the connection so the broker sends it again on reconnect.
      if (err) return acks.fail();
      acks.settle(slot);
    });
    if (room()) readNextPacket();
    else {
      readNext = readNextPacket;
      budget.wait(resume);
    }
  });

  const watch = createSessionWatch({ clientId, log });
  let connectedAt = 0;
  client.on('connect', (connack) => {
    connectedAt = Date.now();
    failures = 0;
    watch.connected();
    setReconnectDelay(client, backoff.initialMs);
    sendWithoutDelay(client);
    log.info({ url: withoutPassword(options.url), clientId, sessionPresent: connack.sessionPresent }, 'connected to MQTT broker');
    // Subscribing again on every connect is harmless and covers a broker that
    // lost the session (or a changed DEVICES list).
    if (connack.sessionPresent && options.stale.length > 0) {
      client.unsubscribe(options.stale, (err) => {
        if (err) log.error({ err: err.message, clientId }, 'unsubscribing what an earlier run subscribed failed');
      });
    }
    if (options.filters.length === 0) return;
    // rh 2: no retained message at subscribe time. A terminal's retained
    // upLink message would otherwise come again with every (re)connect.
    client.subscribe(options.filters, { qos: 1, nl: options.noLocal, rh: 2 }, (err) => {
      if (err) log.error({ err: err.message, clientId }, 'subscription failed');
    });
  });
  client.on('close', () => {
    // The held packet belonged to the connection that just ended.
    readNext = undefined;
    budget.forget(resume);
    // Exponential backoff with full jitter, so a site's bridges do not all return at once.
    failures += 1;
    // A session that another bridge takes at every reconnect: slower, up to a
    // minute, so that one of the two at least keeps it for a while.
    const takenOver = watch.closed();
    const steps = Math.min(failures + takenOver, 16);
    const ceiling = Math.min(takenOver > 0 ? TAKEN_OVER_MAX_MS : backoff.maxMs, backoff.initialMs * 2 ** steps);
    setReconnectDelay(client, Math.max(backoff.initialMs, Math.round(Math.random() * ceiling)));
  });
  client.on('disconnect', (packet) => watch.disconnected(packet.reasonCode));
  client.on('offline', () => log.warn({ url: withoutPassword(options.url), clientId }, 'MQTT broker unreachable; reconnecting'));
  client.on('error', (err) => log.warn({ err: err.message, clientId }, 'MQTT client error'));

  // Resolve at the first connection, or at the first failed attempt: the
  // bridge must start (and answer its API) while the broker is still down.
  const firstAttempt = new Promise<void>((resolve) => {
    const ready = () => {
      client.off('connect', ready).off('close', ready);
      resolve();
    };
    client.once('connect', ready).once('close', ready);
  });

  return {
    client,
    writes,
    connected: () => client.connected,
    connectedAt: () => connectedAt,
    firstAttempt,
    async stop() {
      stopping = true;
      budget.forget(resume);
      await unsettled.settle();
      // The PUBACKs of the last commits, gathered for the end of the turn, go before the DISCONNECT.
      writes.flush();
      // A clean DISCONNECT when the broker answers; otherwise do not wait for it.
      const ended = client.endAsync();
      const timeout = new Promise((resolve) => setTimeout(resolve, 2000).unref());
      if ((await Promise.race([ended.then(() => true), timeout])) !== true) await client.endAsync(true);
    },
    async abort() {
      stopping = true;
      budget.forget(resume);
      await client.endAsync(true);
    },
  };
}

/** PUBACKs for committed messages, sent on the connection they arrived on and in the order they arrived: those of a turn in one write. */
function createAckQueue(client: MqttClient, writes: TurnWrites) {
  type Slot = { messageId: number; connection: Connection; ready: boolean };
  let queue: Slot[] = [];
  client.on('close', () => {
    // Whatever was not acknowledged on the old connection, the broker sends again.
    queue = [];
  });
  return {
    reserve(messageId: number): Slot {
      const slot = { messageId, connection: currentConnection(client), ready: false };
      queue.push(slot);
      return slot;
    },
    settle(slot: Slot) {
      slot.ready = true;
      while (queue.length > 0 && queue[0].ready) {
        const { messageId, connection } = queue.shift()!;
        writes.write(puback(messageId), connection);
      }
    },
    fail() {
      queue = [];
      dropConnectionForResend(client);
    },
  };
}
