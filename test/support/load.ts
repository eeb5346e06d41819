import mqtt, { type MqttClient } from 'mqtt';

/** Record i of a load: unique by its time and image, a few people passing again and again. */
export function passRecord(i: number): string {
  const time = `2026-11-22 ${String(10 + Math.floor(i / 3600)).padStart(2, '0')}:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`;
  const data = [{ num: String(1000 + (i % 50)), name: `Person ${i % 50}`, liveImageBase64: `/9j/${'A'.repeat(2000)}${i}`, verifiedCode: 0, time, personType: '1' }];
  return JSON.stringify({ cmd: 'verifiedRecordU', data });
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
