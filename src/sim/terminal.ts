import mqtt, { type MqttClient } from 'mqtt';
import type { TopicTemplate } from '../protocol/topics.ts';

export interface TerminalOptions {
  url: string;
  sn: string;
  uplink: TopicTemplate;
  downlink: TopicTemplate;
  /** QoS of what the terminal publishes; it always subscribes at QoS 1. */
  qos?: 0 | 1;
  username?: string;
  password?: string;
  connectTimeoutMs?: number;
  /** Connection changes after the first connect: losses, reconnects, errors. */
  onStatus?: (status: string) => void;
}

/** A message from the downLink. `cmd` and `body` are undefined when it is not a JSON object with a string cmd. */
export interface Downlink {
  cmd: string | undefined;
  body: Record<string, unknown> | undefined;
  size: number;
  /** performance.now() on arrival, for round-trip times. */
  receivedAt: number;
}

export interface Terminal {
  readonly sn: string;
  /** Publishes on the upLink: resolves on the PUBACK at QoS 1, once written at QoS 0, with the payload's size in bytes. */
  send(message: object): Promise<number>;
  /** Returns the function that removes the listener. */
  onMessage(listener: (message: Downlink) => void): () => void;
  /** Waits up to `waitMs` for unacknowledged publishes, then disconnects. */
  stop(waitMs?: number): Promise<void>;
}

/** One terminal, one MQTT connection whose client id is its serial, as a device has. Resolves once connected and subscribed. */
export async function startTerminal(options: TerminalOptions): Promise<Terminal> {
  const { sn, qos = 1, onStatus = () => {} } = options;
  const upTopic = options.uplink.topicOf(sn);
  const downTopic = options.downlink.topicOf(sn);
  const connectTimeout = options.connectTimeoutMs ?? 10_000;

  const client: MqttClient = mqtt.connect(options.url, {
    clientId: sn,
    username: options.username,
    password: options.password,
    clean: true,
    keepalive: 30,
    connectTimeout,
    reconnectPeriod: 1000,
  });
  await firstConnect(client, options.url, connectTimeout);

  const granted = await client.subscribeAsync(downTopic, { qos: 1 });
  if (granted.some((g) => g.qos === 128)) {
    await client.endAsync(true);
    throw new Error(`${sn}: the broker refused the subscription to ${downTopic}`);
  }

  // Reconnection is automatic (and resubscribes); these only say what happens.
  let lastError = '';
  client.on('offline', () => onStatus('connection lost, reconnecting'));
  client.on('connect', () => {
    lastError = '';
    onStatus('reconnected');
  });
  client.on('error', (err) => {
    if (err.message !== lastError) onStatus(`error: ${err.message}`);
    lastError = err.message;
  });

  const listeners = new Set<(message: Downlink) => void>();
  client.on('message', (_topic, payload) => {
    const message = decode(payload);
    for (const listener of listeners) listener(message);
  });

  const inflight = new Set<Promise<unknown>>();

  return {
    sn,
    async send(message) {
      const payload = JSON.stringify(message);
      const sent = client.publishAsync(upTopic, payload, { qos });
      inflight.add(sent);
      try {
        await sent;
      } finally {
        inflight.delete(sent);
      }
      return Buffer.byteLength(payload);
    },
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop(waitMs = 5000) {
      if (inflight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise((resolve) => (timer = setTimeout(resolve, waitMs)));
        await Promise.race([Promise.allSettled(inflight), timeout]);
        clearTimeout(timer);
      }
      // A graceful end would wait for acks forever if the broker is gone.
      await client.endAsync(!client.connected || inflight.size > 0);
    },
  };
}

function firstConnect(client: MqttClient, url: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      cleanup();
      client.end(true);
      reject(err);
    };
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => fail(new Error(`cannot connect to ${url}: ${err.message}`));
    const timer = setTimeout(() => fail(new Error(`no answer from ${url} within ${timeoutMs / 1000} s`)), timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
    }
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}

function decode(payload: Buffer): Downlink {
  const message: Downlink = { cmd: undefined, body: undefined, size: payload.length, receivedAt: performance.now() };
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const body = value as Record<string, unknown>;
      message.body = body;
      if (typeof body.cmd === 'string') message.cmd = body.cmd;
    }
  } catch {
    // Not JSON: reported as a message without cmd.
  }
  return message;
}
