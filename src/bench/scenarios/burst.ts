import mqtt, { type MqttClient } from 'mqtt';
import { serials, UPLINK } from '../../kit/terminal.ts';
import { until, withTimeout } from '../../kit/wait.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { storedCounter } from '../measures/stored.ts';

export interface BurstOptions {
  url: string;
  /** The bridge's store, where the records are counted: its SQLite file, or its PostgreSQL database. */
  store: { dbPath: string } | { databaseUrl: string };
  /** Publishes in flight per terminal. */
  window: number;
  /** From encodeLoad (kit/records.ts): one list per terminal. */
  payloads: Buffer[][];
  /** The whole burst, publishing and storing, ends by then; what is not stored by then counts as lost. */
  timeoutMs: number;
  /** Records stored before the clock starts, numbered past the burst's (warmUp below); none: a fresh bridge's first records. */
  warmUp?: Buffer[][];
  span?: Span;
}

export interface BurstFigures {
  terminals: number;
  window: number;
  records: number;
  payloadBytes: number;
  acked: number;
  failed: number;
  /** First publish → last PUBACK. */
  ackSeconds: number;
  ackedPerSecond: number;
  /** First publish → the database holds every stored record. */
  storedSeconds: number;
  storedPerSecond: number;
  /** Megabytes of payload stored per second. */
  storedMBPerSecond: number;
  stored: number;
  lost: number;
  duplicates: number;
  /** The deadline came before every record was acknowledged and stored. */
  timedOut: boolean;
  /** Records the bridge had stored before the clock started. */
  warmedUp: number;
}

// Records are counted from the bridge's store (measures/stored.ts), in this process.
const POLL_MS = 50;
/** After the last PUBACK, the records still missing are lost once the count has not moved for this long. */
const STALL_MS = 5000;

/**
 * T terminals publish R verifiedRecordU messages (one record each, every
 * image different as a camera's would be) at QoS 1 as fast as the broker
 * acknowledges, each keeping `window` publishes in flight.
 */
export async function runBurst(options: BurstOptions): Promise<BurstFigures> {
  const { payloads, span = noSpan } = options;
  const sns = serials('BR', payloads.length);
  const records = payloads.reduce((sum, list) => sum + list.length, 0);
  const payloadBytes = payloads.reduce((sum, list) => sum + list.reduce((s, p) => s + p.length, 0), 0);
  const counter = await storedCounter(options.store);
  let clients: MqttClient[] = [];
  try {
    clients = await connectAll(options.url, sns);
    const warmedUp = await warmUp(clients, sns, options.warmUp, options.window, options.timeoutMs, async (n) => (await counter.count()) >= n);
    // The warm-up's records are in the store: counted from here on, the burst's alone.
    const count = async () => (await counter.count()) - warmedUp;
    let stored = 0;
    let storedAt: number | undefined;
    let polling: Promise<void> | undefined;
    // One read at a time: a PostgreSQL count may take longer than the interval.
    const poll = () =>
      (polling ??= count()
        .then((n) => {
          if (n > stored) {
            stored = n;
            storedAt = performance.now();
          }
        })
        .finally(() => (polling = undefined)));

    const deadline = performance.now() + options.timeoutMs;
    span.start();
    const startedAt = performance.now();
    const sent = clients.map((): PumpResult => ({ acked: 0, failed: 0, lastAckAt: 0 }));
    const sending = Promise.all(clients.map((client, i) => pump(client, UPLINK.topicOf(sns[i]), payloads[i], options.window, sent[i])));
    const poller = setInterval(() => void poll().catch(() => {}), POLL_MS);
    let timedOut = false;
    try {
      await withTimeout(sending, Math.max(0, deadline - performance.now()), 'burst');
      // With the embedded broker a PUBACK follows the commit: the count read now is exact to the moment.
      await polling?.catch(() => {});
      await poll();
      while (stored < records && performance.now() < deadline && performance.now() - (storedAt ?? startedAt) < STALL_MS) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      timedOut = stored < records && performance.now() >= deadline;
    } catch {
      timedOut = true;
    } finally {
      clearInterval(poller);
      span.end();
    }
    await polling?.catch(() => {});
    await poll();

    const lastAckAt = Math.max(startedAt, ...sent.map((s) => s.lastAckAt));
    const acked = sent.reduce((sum, s) => sum + s.acked, 0);
    const failed = sent.reduce((sum, s) => sum + s.failed, 0);
    const tally = await counter.tally();
    const final = { rows: tally.rows - warmedUp, records: tally.records - warmedUp };
    const ackSeconds = (lastAckAt - startedAt) / 1000;
    const storedSeconds = ((storedAt ?? startedAt) - startedAt) / 1000;
    const storedBytes = (payloadBytes / records) * final.records;
    return {
      terminals: payloads.length,
      window: options.window,
      records,
      payloadBytes,
      acked,
      failed,
      ackSeconds,
      ackedPerSecond: ackSeconds > 0 ? acked / ackSeconds : 0,
      storedSeconds,
      storedPerSecond: storedSeconds > 0 ? final.records / storedSeconds : 0,
      storedMBPerSecond: storedSeconds > 0 ? storedBytes / 1e6 / storedSeconds : 0,
      stored: final.records,
      lost: records - final.records,
      duplicates: final.rows - final.records,
      timedOut,
      warmedUp,
    };
  } finally {
    await counter.close().catch(() => {});
    await Promise.allSettled(clients.map((client) => withTimeout(client.endAsync(true), 5000, 'disconnecting')));
  }
}

export async function connectAll(url: string, sns: string[]): Promise<MqttClient[]> {
  const connecting = sns.map((sn) =>
    withTimeout(
      mqtt.connectAsync(url, { clientId: sn, clean: true, keepalive: 30, connectTimeout: 10_000, reconnectPeriod: 1000 }),
      10_000,
      `connecting ${sn}`,
    ),
  );
  const settled = await Promise.allSettled(connecting);
  const clients = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.allSettled(clients.map((client) => client.endAsync(true)));
    throw failed.reason;
  }
  return clients;
}

/**
 * The warm-up: `payloads` (numbered past the burst's records) sent on the
 * burst's own connections, and `holds` asked until the far end holds all of
 * them, before the burst's clock starts. The burst then measures a process
 * that has run its path before, as a site's bridge has by the time its
 * terminals' backlog comes, and as the POST ceiling's client has (README
 * §Performance, Warmed up first). Resolves with the records sent.
 */
export async function warmUp(
  clients: MqttClient[],
  sns: string[],
  payloads: Buffer[][] | undefined,
  window: number,
  timeoutMs: number,
  holds: (records: number) => Promise<boolean>,
): Promise<number> {
  const records = payloads?.reduce((sum, list) => sum + list.length, 0) ?? 0;
  if (payloads === undefined || records === 0) return 0;
  const deadline = performance.now() + timeoutMs;
  const sent = clients.map((): PumpResult => ({ acked: 0, failed: 0, lastAckAt: 0 }));
  await withTimeout(Promise.all(clients.map((client, i) => pump(client, UPLINK.topicOf(sns[i]), payloads[i], window, sent[i]))), timeoutMs, 'warm-up');
  const failed = sent.reduce((sum, s) => sum + s.failed, 0);
  if (failed > 0) throw new Error(`warm-up: ${failed} of ${records} publishes failed`);
  await until(() => holds(records), POLL_MS, { ms: Math.max(0, deadline - performance.now()), what: 'warm-up' });
  return records;
}

export interface PumpResult {
  acked: number;
  failed: number;
  lastAckAt: number;
}

/** Publishes the payloads in order at QoS 1, keeping at most `window` unacknowledged; counts into `result` as answers come, resolves when each has one. */
export function pump(client: MqttClient, topic: string, payloads: Buffer[], window: number, result: PumpResult): Promise<void> {
  if (payloads.length === 0) return Promise.resolve();
  let next = 0;
  let inFlight = 0;
  return new Promise((resolve) => {
    const onAck = (err?: Error) => {
      inFlight--;
      if (err) result.failed++;
      else {
        result.acked++;
        result.lastAckAt = performance.now();
      }
      if (result.acked + result.failed === payloads.length) resolve();
      else fill();
    };
    const fill = () => {
      while (inFlight < window && next < payloads.length) {
        inFlight++;
        client.publish(topic, payloads[next++], { qos: 1 }, onAck);
      }
    };
    fill();
  });
}
