import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface TestTerminal {
  client: MqttClient;
  sn: string;
  /** Publishes on the terminal's upLink; resolves on the broker's PUBACK (QoS 1) or once written (QoS 0). */
  send(payload: string | Buffer | object, qos?: 0 | 1): Promise<void>;
  /** The next message on the downLink that matches. */
  next(match?: (msg: any) => boolean): Promise<any>;
  received: any[];
  end(): Promise<void>;
}

/** A door terminal as the bridge sees one: an MQTT client on its own upLink and downLink. */
export async function connectTerminal(url: string, sn: string, options: IClientOptions & { uplink?: string; downlink?: string } = {}): Promise<TestTerminal> {
  const uplink = (options.uplink ?? 'fungxi_{sn}_upLink').replace('{sn}', sn);
  const downlink = (options.downlink ?? 'fungxi_{sn}_downLink').replace('{sn}', sn);
  const client = mqtt.connect(url, { clientId: `terminal-${sn}`, reconnectPeriod: 100, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(downlink, { qos: 1 });
  const received: any[] = [];
  const waiters: { match: (msg: any) => boolean; resolve: (msg: any) => void }[] = [];
  client.on('message', (topic, payload) => {
    if (topic !== downlink) return;
    const msg = JSON.parse(payload.toString());
    received.push(msg);
    const waiter = waiters.find((w) => w.match(msg));
    if (waiter) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(msg);
    }
  });
  return {
    client,
    sn,
    received,
    async send(payload, qos = 1) {
      const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
      await client.publishAsync(uplink, body, { qos });
    },
    next(match = () => true) {
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    end: () => client.endAsync(),
  };
}
