import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { freePort } from '../../src/kit/ports.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

const TERMINALS = 500;

let bridge: TestBridge | undefined;
let clients: MqttClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  clients = [];
  await bridge?.stop();
});

/** Every terminal sends a heartbeat and gets its heartD. */
async function heartbeats() {
  await Promise.all(
    clients.map(
      (client, i) =>
        new Promise<void>((resolve) => {
          const onMessage = (topic: string) => {
            if (topic !== `fungxi_S${i}_downLink`) return;
            client.off('message', onMessage);
            resolve();
          };
          client.on('message', onMessage);
          client.publish(`fungxi_S${i}_upLink`, '{"cmd":"heartU"}');
        }),
    ),
  );
}

it('takes 500 terminals reconnecting at once after a restart, and answers all their heartbeats', async () => {
  const port = await freePort();
  // All of them are new serials to the first start: DISCOVERY_RATE lets them all in at once.
  const env = { BROKER_PORT: String(port), DISCOVERY_RATE: `${TERMINALS}/s` };
  bridge = await startBridge(env);
  clients = await Promise.all(
    Array.from({ length: TERMINALS }, async (_, i) => {
      const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `storm-${i}`, reconnectPeriod: 200, connectTimeout: 10_000 });
      await new Promise((resolve) => client.once('connect', resolve));
      await client.subscribeAsync(`fungxi_S${i}_downLink`, { qos: 0 });
      return client;
    }),
  );
  await heartbeats();
  await bridge.eventsStored(TERMINALS, (e) => e.type === 'device.online');

  // The bridge restarts: every terminal drops and comes back at about the same moment.
  const dataDir = bridge.dataDir;
  const back = clients.map((client) => new Promise((resolve) => client.once('connect', resolve)));
  await bridge.stop({ keepData: true });
  bridge = await startBridge(env, dataDir);
  await Promise.all(back);
  // MQTT.js subscribes again on reconnect (its resubscribe default).
  await heartbeats();
  expect(clients.every((c) => c.connected)).toBe(true);
  const { json } = await bridge.api('GET', `/api/devices?online=true&limit=${TERMINALS}`);
  expect(json.items).toHaveLength(TERMINALS);
  expect(json.next_cursor).toBeNull();
});
