import mqtt, { type MqttClient } from 'mqtt';
import { encodeLoadRecord, SAMPLE_IMAGE } from '../../src/kit/records.ts';

const SAMPLE_JPEG = Buffer.from(SAMPLE_IMAGE, 'base64');

/** Record i of a load: person FIRST_NUM + i, each at its own second of a morning, with a small image stamped with its number. */
function passRecord(i: number): Buffer {
  return encodeLoadRecord(i, new Date(2026, 10, 22, 10, 0, i), { jpeg: SAMPLE_JPEG, label: 'load' });
}

/**
 * Terminals that publish `records` verified passes at QoS 1, a few in flight
 * each. MQTT.js keeps unacknowledged QoS 1 messages and sends them again after
 * a reconnect, as a real terminal does, so a bridge killed mid-stream gets
 * them again once it is back.
 */
export async function connectLoad(url: string, terminals: number, prefix: string) {
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: terminals }, async (_, t) => {
      const client = mqtt.connect(url, { clientId: `${prefix}-terminal-${t}`, clean: false, reconnectPeriod: 100, connectTimeout: 2000 });
      await new Promise((resolve) => client.once('connect', resolve));
      return client;
    }),
  );
  return {
    async publish(records: number, window = 5) {
      let next = 0;
      await Promise.all(
        clients.map(async (client, t) => {
          const inFlight = new Set<Promise<void>>();
          for (let i = next++; i < records; i = next++) {
            const sent = client.publishAsync(`fungxi_${prefix}${t}_upLink`, passRecord(i), { qos: 1 }).then(() => {});
            inFlight.add(sent);
            void sent.finally(() => inFlight.delete(sent));
            if (inFlight.size >= window) await Promise.race(inFlight);
          }
          await Promise.all(inFlight);
        }),
      );
    },
    end: () => Promise.all(clients.map((c) => c.endAsync(true))),
  };
}
