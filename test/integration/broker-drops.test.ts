import { afterEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { until } from '../../src/kit/wait.ts';
import { probeQueueDrops } from '../../src/transport/queue-probe.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Broker settings you must set: a broker that drops what it queued
// for a slow reader is found at start, said in the log, on /readyz and in
// the metrics, and its own count of drops is watched.

let bridge: TestBridge | undefined;
let mosquitto: Mosquitto | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  await mosquitto?.dispose();
  mosquitto = undefined;
});

/** Stock Mosquitto's queue and window, and its $SYS counts every second. */
const STOCK = ['max_queued_messages 1000', 'max_inflight_messages 20', 'sys_interval 1'];

describe('a broker that drops queued messages', () => {
  it('is found by the probe; one set as the README asks keeps them all', async () => {
    mosquitto = await startMosquitto();
    expect(await probeQueueDrops({ url: mosquitto.url })).toEqual({ outcome: 'kept', sent: 1200, received: 1200 });
    await mosquitto.dispose();
    mosquitto = await startMosquitto(STOCK);
    const probe = await probeQueueDrops({ url: mosquitto.url });
    expect(probe).toMatchObject({ outcome: 'dropped', sent: 1200 });
    if (probe.outcome === 'dropped') expect(probe.dropped).toBeGreaterThan(0);
  });

  it('is said at start by the bridge: a warning naming the settings, /readyz, the metrics, and the broker’s own count', async () => {
    mosquitto = await startMosquitto(STOCK);
    const b = (bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-drops' }));
    await until(() => b.logLines.some((line) => line.includes('the broker drops queued messages')));
    const warning = JSON.parse(b.logLines.find((line) => line.includes('the broker drops queued messages'))!);
    expect(warning.msg).toMatch(/max_queued_messages 0/);
    const ready = await fetch(`http://127.0.0.1:${b.httpPort}/readyz`);
    expect(ready.status).toBe(200);
    // The broker's own count may say so too, once it is published.
    expect(((await ready.json()) as { warnings: string[] }).warnings).toContainEqual(
      expect.stringMatching(/^the broker drops queued messages \(\d+ of 1200 in the start probe\)/),
    );
    expect(await b.metric('facegate_broker_probe_dropped')).toMatch(/^facegate_broker_probe_dropped [1-9]\d*$/m);
    // The probe's drops show in Mosquitto's own count, which the bridge watches.
    await until(async () => /^facegate_broker_dropped_messages [1-9]\d*$/m.test(await b.metric('facegate_broker_dropped_messages')));
    // Each as a broker.drops event, about the broker (no device_sn): the probe's, and the broker's own count.
    await until(async () => (await b.api('GET', '/api/events?type=broker.drops')).json.items.length === 2);
    const events = (await b.api('GET', '/api/events?type=broker.drops')).json.items;
    expect(events).toContainEqual(expect.objectContaining({ type: 'broker.drops', source: 'probe', sent: 1200, dropped: expect.any(Number) }));
    expect(events).toContainEqual(expect.objectContaining({ type: 'broker.drops', source: 'broker', sent: null }));
    expect(events.every((e: { device_sn?: string; dropped: number }) => e.device_sn === undefined && e.dropped > 0)).toBe(true);
    // Nothing of the probe reached the bridge's own subscription.
    expect(await b.metric('facegate_messages_ignored_total')).toMatch(/facegate_messages_ignored_total 0$/m);
  });
});
