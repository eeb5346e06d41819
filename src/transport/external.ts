import type { MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import type { SlotLeases } from '../cluster/leases.ts';
import type { Done } from '../ingest/ingest.ts';
import type { Logger } from '../lib/log.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import { inFlightBytesGauge } from './broker-metrics.ts';
import { qos0Publish } from './encoded-packets.ts';
import { type BrokerLogin, openBrokerSession } from './mqtt-session.ts';
import { forgetUnacknowledgedPublish } from './mqttjs-internals.ts';
import { createReceiveBudget } from './receive-budget.ts';
import { startSlots } from './slots.ts';
import { BrokerUnavailable, COMMAND_EXPIRY_S, PUBLISH_ACK_TIMEOUT_MS, type Transport } from './transport.ts';
import type { TurnWrites } from './turn-writes.ts';

/** The least room for unacknowledged payloads (README §Running against Mosquitto): far more than 100 records with images need. */
const IN_FLIGHT_FLOOR = 64 * 1024 * 1024;

export interface ExternalOptions extends BrokerLogin {
  clientId: string;
  uplink: TopicTemplate;
  /** Whose topics are the bridge's own publishes, which a shared subscription sends back. */
  downlink: TopicTemplate;
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
  /**
   * README §Running several replicas: read the upLink through the slots of
   * a shared subscription, each held while its lease is. Unset: one client,
   * subscribed as itself.
   */
  slots?: { group: string; leases: SlotLeases };
}

/**
 * The bridge as a client of the site's broker (mqtt-session.ts): one client
 * with a persistent session, or, with `slots`, the slots of a shared
 * subscription that this replica holds and a client of its own that
 * publishes (commands, heartbeat answers).
 */
export async function startExternalClient(options: ExternalOptions): Promise<Transport> {
  const { uplink } = options;
  const filters = options.discovery ? [uplink.wildcard] : options.serials.map(uplink.topicOf);
  // A broker delivers a message once for each subscription that matches it:
  // a filter left in the session by an earlier run doubles every message.
  const everFiltered = [uplink.wildcard, ...(options.listed ?? []).map(uplink.topicOf)];
  const stale = everFiltered.filter((filter) => !filters.includes(filter));
  const budget = createReceiveBudget(Math.max(IN_FLIGHT_FLOOR, 2 * options.maxPayload));
  inFlightBytesGauge(options.registry, () => budget.bytes);
  const common = { ...options, budget };

  if (!options.slots) {
    // MQTT 5 No Local: the bridge must not receive its own downLink publishes back through a wildcard subscription.
    const session = await openBrokerSession({ ...common, filters, stale, noLocal: true });
    await session.firstAttempt;
    return {
      connected: session.connected,
      listening: () => undefined,
      connectedAt: session.connectedAt,
      onListening(listener) {
        // Connected again: every terminal may be reachable, queued commands may go out (README §Commands with replies).
        session.client.on('connect', () => listener(undefined));
      },
      publish: (topic, payload, qos) => publishOn(session.client, session.writes, topic, payload, qos),
      stop: () => session.stop(),
    };
  }

  // The publisher is a client of this replica's own (MQTT_CLIENT_ID), not a
  // slot: a replica holding no slot (more replicas than slots, or while its
  // database is out of reach) still sends commands, and a command never
  // waits for, or fails with, a slot being handed over. It subscribes to
  // nothing: it only takes what an earlier run without slots left queued in
  // this id's session, and unsubscribes what that run had subscribed.
  const publisher = await openBrokerSession({ ...common, filters: [], stale: everFiltered, noLocal: true });
  const slots = await startSlots({
    ...common,
    group: options.slots.group,
    leases: options.slots.leases,
    filters,
    stale,
    isDownlink: (topic) => uplink.serialOf(topic) === undefined && options.downlink.serialOf(topic) !== undefined,
  });
  await publisher.firstAttempt;
  return {
    // README §Running several replicas: without its leases (the database out of reach) a replica holds no slot and is not ready.
    connected: () => publisher.connected() && slots.healthy(),
    listening: () => undefined,
    connectedAt: publisher.connectedAt,
    onListening(listener) {
      publisher.client.on('connect', () => listener(undefined));
    },
    publish: (topic, payload, qos) => publishOn(publisher.client, publisher.writes, topic, payload, qos),
    slots: slots.held,
    async stop() {
      await slots.stop();
      await publisher.stop();
    },
  };
}

/** What a QoS 0 publish resolves to: one promise, not one per heartbeat answer. */
const WRITTEN = Promise.resolve();

/** A downLink publish: QoS 0 encoded here and written by the end of the turn (turn-writes.ts); QoS 1 resolved on the broker's PUBACK, or rejected after PUBLISH_ACK_TIMEOUT_MS and forgotten. */
function publishOn(client: MqttClient, writes: TurnWrites, topic: string, payload: string, qos: 0 | 1): Promise<void> {
  if (!client.connected) return Promise.reject(new BrokerUnavailable('not connected to the MQTT broker'));
  if (qos === 0) {
    writes.write(qos0Publish(topic, payload, client.options.protocolVersion === 5));
    return WRITTEN;
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
}
