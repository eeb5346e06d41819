import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

// README §Broker settings you must set: a broker that queues only so many
// messages for a slow subscriber drops the rest, although every publisher had
// its acknowledgement (stock Mosquitto: 1,000 a client). The bridge
// acknowledges a terminal's record only after its commit, so it reads slower
// than terminals publish in a burst: on such a broker a burst loses records.
// This finds out before a burst does.

/** More than a stock broker queues for one client (Mosquitto's and EMQX's 1,000), plus the in-flight window. */
export const PROBE_MESSAGES = 1200;
/** The probing reader's in-flight window (MQTT 5 Receive Maximum): everything past it waits in the broker's queue. */
const READER_WINDOW = 10;
/** The reader is done once nothing more has come for this long after it let the queue flow. */
const QUIET_MS = 1500;

export interface ProbeOptions {
  url: string;
  username?: string;
  password?: string;
  ca?: Buffer;
  messages?: number;
  /** The whole probe ends by then, whatever the broker does. */
  timeoutMs?: number;
}

export type ProbeResult =
  | { outcome: 'kept'; sent: number; received: number }
  | { outcome: 'dropped'; sent: number; received: number; dropped: number }
  | { outcome: 'unknown'; reason: string };

function connect(options: ProbeOptions, extra: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(options.url, {
    protocolVersion: 5,
    clean: true,
    username: options.username,
    password: options.password,
    ca: options.ca,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error('the broker closed the connection')));
  });
}

/**
 * A reader that subscribes and holds its acknowledgements, so the broker
 * queues what it publishes to it; a publisher sends PROBE_MESSAGES QoS 1
 * messages, each acknowledged by the broker; then the reader lets them flow
 * and counts what arrives. Fewer than were sent: the broker drops queued
 * messages. Two short-lived clients of their own: the bridge's session is
 * not touched.
 */
export async function probeQueueDrops(options: ProbeOptions): Promise<ProbeResult> {
  const sent = options.messages ?? PROBE_MESSAGES;
  const id = randomBytes(6).toString('hex');
  // Three levels: no terminal topic template's single-level wildcard (`+`) matches it, so the bridge's own subscription never sees the probe.
  const topic = `facegate/queue-probe/${id}`;
  const held: (() => void)[] = [];
  let holding = true;
  let received = 0;
  let lastAt = 0;
  let reader: MqttClient | undefined;
  let publisher: MqttClient | undefined;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  try {
    reader = await connect(options, {
      clientId: `facegate-probe-r-${id}`,
      properties: { receiveMaximum: READER_WINDOW },
      customHandleAcks: (_topic, _message, _packet, done) => {
        received += 1;
        lastAt = Date.now();
        if (holding) held.push(() => done(0));
        else done(0);
      },
    });
    const granted = await reader.subscribeAsync(topic, { qos: 1 });
    if (granted.some((grant) => grant.qos !== 1)) return { outcome: 'unknown', reason: `the broker did not let the bridge subscribe to ${topic}` };
    publisher = await connect(options, { clientId: `facegate-probe-p-${id}` });
    const payload = Buffer.alloc(64, 0x2e);
    for (let i = 0; i < sent; i += 1) {
      if (Date.now() > deadline) return { outcome: 'unknown', reason: 'the broker did not take the messages in time' };
      await publisher.publishAsync(topic, payload, { qos: 1 });
    }
    holding = false;
    for (const release of held.splice(0)) release();
    lastAt = Date.now();
    while (received < sent && Date.now() - lastAt < QUIET_MS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    // None at all: the broker's rules keep the bridge from this topic, which says nothing about its queue.
    if (received === 0)
      return {
        outcome: 'unknown',
        reason: "the broker delivered none of the probe's messages: it may not let the bridge publish or subscribe to facegate/queue-probe/#",
      };
    if (received < sent) return { outcome: 'dropped', sent, received, dropped: sent - received };
    return { outcome: 'kept', sent, received };
  } catch (err) {
    return { outcome: 'unknown', reason: (err as Error).message };
  } finally {
    await Promise.all([reader?.endAsync(true).catch(() => {}), publisher?.endAsync(true).catch(() => {})]);
  }
}
