import type { MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import type { Done } from '../ingest/ingest.ts';
import type { Logger } from '../lib/log.ts';
import { withoutPassword } from '../lib/secrets.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import { inFlightBytesGauge } from './broker-metrics.ts';
import {
  type Connection,
  currentConnection,
  dropConnectionForResend,
  forgetUnacknowledgedPublish,
  sendWithoutDelay,
  setReconnectDelay,
  takeMessagesWithoutPuback,
  writePuback,
} from './mqttjs-internals.ts';
import { createSessionWatch } from './session-watch.ts';
import { BrokerUnavailable, COMMAND_EXPIRY_S, createInFlight, PUBLISH_ACK_TIMEOUT_MS, type Transport } from './transport.ts';

/**
 * Messages the broker may have in flight to the bridge at once (MQTT 5
 * Receive Maximum): enough for large group commits, while what waits for its
 * commit (at most ~4 MB of image-laden records) stays at the broker.
 */
const RECEIVE_MAXIMUM = 100;
/** The least room for unacknowledged payloads (README §Running against Mosquitto): far more than 100 records with images need. */
const IN_FLIGHT_FLOOR = 64 * 1024 * 1024;
/** Reconnect ceiling while another client keeps taking the session (session-watch.ts). */
const TAKEN_OVER_MAX_MS = 60_000;

export interface ExternalOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  /** A CA to trust for mqtts:// or wss:// (a site's own certificate authority). */
  ca?: Buffer;
  uplink: TopicTemplate;
  /** Subscribe to every terminal's upLink (DISCOVERY), or only to these serials'. */
  discovery: boolean;
  serials: string[];
  /** Serials ever given in DEVICES: a session from a run with another DEVICES list, or without DISCOVERY, may still hold their subscriptions. */
  listed?: string[];
  /** MAX_PAYLOAD: the in-flight budget holds at least two such messages. */
  maxPayload: number;
  ingest: (topic: string, payload: Uint8Array, done: Done) => void;
  /** Where the window's metric goes (the bridge's registry). */
  registry: Registry;
  log: Logger;
  /** Reconnect backoff: the first delay and the ceiling. */
  backoff?: { initialMs: number; maxMs: number };
}

/**
 * A client of the site's broker with a persistent session: while the bridge is
 * down the broker keeps its QoS 1 messages, and a message is acknowledged only
 * after its commit, so a crash between receipt and commit loses nothing.
 */
export async function startExternalClient(options: ExternalOptions): Promise<Transport> {
  // Loaded only against an external broker: MQTT.js would add about 0.1 s to every start of the embedded one.
  const { default: mqtt } = await import('mqtt');
  const { uplink, log } = options;
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 5_000 };
  let failures = 0;
  const filters = options.discovery ? [uplink.wildcard] : options.serials.map(uplink.topicOf);
  // A broker delivers a message once for each subscription that matches it:
  // a filter left in the session by an earlier run doubles every message.
  const stale = [uplink.wildcard, ...(options.listed ?? []).map(uplink.topicOf)].filter((filter) => !filters.includes(filter));

  const client: MqttClient = mqtt.connect(options.url, {
    clientId: options.clientId,
    ...(options.ca && { ca: options.ca }),
    username: options.username,
    password: options.password,
    // MQTT 5 for No Local: the bridge must not receive its own downLink
    // publishes back through a wildcard subscription.
    protocolVersion: 5,
    clean: false,
    // An MQTT 5 session ends with the connection unless it is given a lifetime.
    properties: { sessionExpiryInterval: 7 * 24 * 3600, receiveMaximum: RECEIVE_MAXIMUM },
    keepalive: 30,
    connectTimeout: 10_000,
    reconnectPeriod: backoff.initialMs,
    // Never send a stale command after a reconnect: fail it now instead.
    queueQoSZero: false,
    resubscribe: false,
  });
  // MQTT.js handles one packet at a time and sends the PUBACK when
  // handleMessage calls back; waiting there for a commit would hold every
  // later packet (heartbeats and pings included) behind the disk. So MQTT.js
  // reads on without a PUBACK (mqttjs-internals.ts), and the bridge sends the
  // PUBACK itself once the message is committed, in arrival order [MQTT-4.6.0-2].
  // The broker's in-flight window (Receive Maximum) bounds what waits.
  const acks = createAckQueue(client);
  // Mosquitto 2.0 overshoots the Receive Maximum under load (thousands in
  // flight were seen), so the window is also kept here: with it full, the
  // next packet is not read until a commit frees a place, and TCP holds the
  // broker back. What waits for a commit stays bounded whatever the broker does:
  // at most RECEIVE_MAXIMUM messages, and the next one is read only while one
  // more of up to MAX_PAYLOAD still fits in the byte budget (QoS 0 messages,
  // which need no PUBACK, count there too until their commit).
  const unsettled = createInFlight();
  const budget = Math.max(IN_FLIGHT_FLOOR, 2 * options.maxPayload);
  let bytes = 0;
  inFlightBytesGauge(options.registry, () => bytes);
  const room = () => unsettled.count < RECEIVE_MAXIMUM && bytes + options.maxPayload <= budget;
  let readNext: (() => void) | undefined;
  let stopping = false;
  takeMessagesWithoutPuback(client, (packet, readNextPacket) => {
    // Stopping: nothing more is read; the broker keeps the rest for the next run.
    if (stopping) return;
    const slot = packet.qos > 0 ? acks.reserve(packet.messageId!) : undefined;
    const size = (packet.payload as Buffer).length;
    if (slot) unsettled.add();
    bytes += size;
    options.ingest(packet.topic, packet.payload as Buffer, (err) => {
      bytes -= size;
      // A stop waiting on this goes on only after this turn: the PUBACK below is written first.
      if (slot) unsettled.done();
      if (readNext && room()) {
        const read = readNext;
        readNext = undefined;
        read();
      }
      if (!slot) return;
      // Not acknowledged: drop the connection so the broker sends it again on reconnect.
      if (err) return acks.fail();
      acks.settle(slot);
    });
    if (room()) readNextPacket();
    else readNext = readNextPacket;
  });

  const watch = createSessionWatch({ clientId: options.clientId, log });
  let connectedAt = 0;
  client.on('connect', (connack) => {
    connectedAt = Date.now();
    failures = 0;
    watch.connected();
    setReconnectDelay(client, backoff.initialMs);
    sendWithoutDelay(client);
    log.info({ url: withoutPassword(options.url), sessionPresent: connack.sessionPresent }, 'connected to MQTT broker');
    // Subscribing again on every connect is harmless and covers a broker that
    // lost the session (or a changed DEVICES list).
    if (connack.sessionPresent && stale.length > 0) {
      client.unsubscribe(stale, (err) => {
        if (err) log.error({ err: err.message }, 'unsubscribing what an earlier run subscribed failed');
      });
    }
    if (filters.length === 0) return;
    // rh 2: no retained message at subscribe time. A terminal's retained
    // upLink message would otherwise come again with every (re)connect.
    client.subscribe(filters, { qos: 1, nl: true, rh: 2 }, (err) => {
      if (err) log.error({ err: err.message }, 'subscription failed');
    });
  });
  client.on('close', () => {
    // The held packet belonged to the connection that just ended.
    readNext = undefined;
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
  client.on('offline', () => log.warn({ url: withoutPassword(options.url) }, 'MQTT broker unreachable; reconnecting'));
  client.on('error', (err) => log.warn({ err: err.message }, 'MQTT client error'));

  const transport: Transport = {
    connected: () => client.connected,
    listening: () => undefined,
    connectedAt: () => connectedAt,
    onListening(listener) {
      // Connected again: every terminal may be reachable, queued commands may go out (README §Commands with replies).
      client.on('connect', () => listener(undefined));
    },
    publish(topic, payload, qos) {
      if (!client.connected) return Promise.reject(new BrokerUnavailable('not connected to the MQTT broker'));
      if (qos === 0) {
        client.publish(topic, payload, { qos: 0 });
        return Promise.resolve();
      }
      return new Promise((resolve, reject) => {
        const onAck = (err?: Error) => {
          clearTimeout(timer);
          err ? reject(new BrokerUnavailable(err.message)) : resolve();
        };
        const timer = setTimeout(() => {
          // Take it out of MQTT.js's store too, or it would be resent after a reconnect.
          forgetUnacknowledgedPublish(client, onAck);
          reject(new BrokerUnavailable(`the broker did not acknowledge within ${PUBLISH_ACK_TIMEOUT_MS / 1000} s`));
        }, PUBLISH_ACK_TIMEOUT_MS);
        client.publish(topic, payload, { qos: 1, properties: { messageExpiryInterval: COMMAND_EXPIRY_S } }, onAck);
      });
    },
    async stop() {
      stopping = true;
      await unsettled.settle();
      // A clean DISCONNECT when the broker answers; otherwise do not wait for it.
      const ended = client.endAsync();
      const timeout = new Promise((resolve) => setTimeout(resolve, 2000).unref());
      if ((await Promise.race([ended.then(() => true), timeout])) !== true) await client.endAsync(true);
    },
  };

  // Resolve at the first connection, or at the first failed attempt: the
  // bridge must start (and answer its API) while the broker is still down.
  return new Promise<Transport>((resolve) => {
    const ready = () => {
      client.off('connect', ready).off('close', ready);
      resolve(transport);
    };
    client.once('connect', ready).once('close', ready);
  });
}

/** PUBACKs for committed messages, sent on the connection they arrived on and in the order they arrived. */
function createAckQueue(client: MqttClient) {
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
        writePuback(client, connection, messageId);
      }
    },
    fail() {
      queue = [];
      dropConnectionForResend(client);
    },
  };
}
