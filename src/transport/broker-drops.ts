import mqtt, { type MqttClient } from 'mqtt';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../lib/log.ts';
import { type ProbeOptions, type ProbeResult, probeQueueDrops } from './queue-probe.ts';

// README §Broker settings you must set: against an external broker, the
// bridge finds out at start whether the broker drops messages it queued
// (queue-probe.ts), and where the broker counts its drops (Mosquitto's
// $SYS/broker/publish/messages/dropped) it watches that count. Either way it
// says so loudly: a warning naming the settings, /readyz, a metric.

/** Mosquitto's count of messages it dropped (queues full, in flight limits), published every sys_interval. */
export const MOSQUITTO_DROPPED = '$SYS/broker/publish/messages/dropped';

/** What to change, said once in each warning. */
const SETTINGS = "raise the broker's per-client queue: Mosquitto max_queued_messages 0 (and max_inflight_messages 1000), EMQX mqtt.max_mqueue_len";

/** What the broker dropped, for its broker.drops event: in the start probe (of `sent`), or by its own count. */
export interface Drops {
  dropped: number;
  source: 'probe' | 'broker';
  sent: number | null;
}

/** The broker's own count is reported at most this often, summed: a broker dropping all day is one alert every ten minutes, not thousands. */
const REPORT_EVERY_MS = 10 * 60_000;

export interface BrokerDropsOptions extends Omit<ProbeOptions, 'messages' | 'timeoutMs'> {
  registry: Registry;
  log: Logger;
  /** Drops found: the bridge stores them as a broker.drops event. */
  report: (drops: Drops) => void;
}

export function watchBrokerDrops(options: BrokerDropsOptions) {
  const { log } = options;
  let probe: ProbeResult | undefined;
  let reported: number | undefined;
  let baseline: number | undefined;
  let watcher: MqttClient | undefined;
  let stopped = false;
  /** The broker's count at its last report, and when that was. */
  let reportedAt = 0;
  let reportedCount: number | undefined;
  let pending: NodeJS.Timeout | undefined;

  function reportCount() {
    pending = undefined;
    if (stopped || reported === undefined || reportedCount === undefined || reported <= reportedCount) return;
    options.report({ dropped: reported - reportedCount, source: 'broker', sent: null });
    reportedCount = reported;
    reportedAt = Date.now();
  }

  new Gauge({
    name: 'facegate_broker_probe_dropped',
    help: 'messages of the start probe the external broker dropped from a full queue (0: it kept them all; absent until the probe ran)',
    registers: [options.registry],
    collect() {
      this.reset();
      if (probe?.outcome === 'dropped') this.set(probe.dropped);
      if (probe?.outcome === 'kept') this.set(0);
    },
  });
  new Gauge({
    name: 'facegate_broker_dropped_messages',
    help: `messages the external broker says it dropped since the bridge connected (${MOSQUITTO_DROPPED}); absent where the broker does not say`,
    registers: [options.registry],
    collect() {
      this.reset();
      if (reported !== undefined && baseline !== undefined) this.set(reported - baseline);
    },
  });

  async function runProbe() {
    probe = await probeQueueDrops(options);
    if (stopped) return;
    if (probe.outcome === 'dropped') options.report({ dropped: probe.dropped, source: 'probe', sent: probe.sent });
    if (probe.outcome === 'dropped')
      log.warn(
        { sent: probe.sent, received: probe.received, dropped: probe.dropped },
        `the broker drops queued messages: ${probe.dropped} of ${probe.sent} messages queued for a slow reader were lost although the broker had acknowledged them; a burst of records would lose records the same way: ${SETTINGS}`,
      );
    else if (probe.outcome === 'unknown') log.info({ reason: probe.reason }, 'whether the broker drops queued messages is not known');
    else log.info({ sent: probe.sent }, "the broker keeps queued messages: none of the probe's was dropped");
  }

  function watchSys() {
    const client = mqtt.connect(options.url, {
      clientId: `facegate-drops-${process.pid}-${Date.now().toString(36)}`,
      clean: true,
      username: options.username,
      password: options.password,
      ca: options.ca,
      reconnectPeriod: 5000,
    });
    watcher = client;
    client.on('error', () => {});
    client.on('connect', () => void client.subscribeAsync(MOSQUITTO_DROPPED, { qos: 0 }).catch(() => {}));
    client.on('message', (_topic, payload) => {
      const count = Number(payload.toString());
      if (!Number.isFinite(count)) return;
      baseline ??= count;
      reportedCount ??= count;
      if (reported !== undefined && count > reported)
        log.warn({ dropped: count - reported, since: count - baseline }, `the broker dropped ${count - reported} messages (${MOSQUITTO_DROPPED}): ${SETTINGS}`);
      reported = count;
      if (count > reportedCount && pending === undefined) {
        pending = setTimeout(reportCount, Math.max(0, reportedAt + REPORT_EVERY_MS - Date.now()));
        pending.unref();
      }
    });
  }

  return {
    /** Starts the probe and the watch; neither holds up the start. */
    start(): void {
      runProbe().catch((err: Error) => log.error({ err: err.message }, 'broker probe failed'));
      watchSys();
    },
    /** For /readyz: what an operator must fix about the broker, if anything. */
    warnings(): string[] {
      const warnings: string[] = [];
      if (probe?.outcome === 'dropped') warnings.push(`the broker drops queued messages (${probe.dropped} of ${probe.sent} in the start probe): ${SETTINGS}`);
      if (reported !== undefined && baseline !== undefined && reported > baseline)
        warnings.push(`the broker dropped ${reported - baseline} messages since the bridge connected: ${SETTINGS}`);
      return warnings;
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(pending);
      await watcher?.endAsync(true).catch(() => {});
    },
  };
}

export type BrokerDrops = ReturnType<typeof watchBrokerDrops>;
