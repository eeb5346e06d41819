import type { MqttClient } from 'mqtt';
import { serials, UPLINK } from '../../kit/terminal.ts';
import { withTimeout } from '../../kit/wait.ts';
import type { Receiver } from '../children/receiver.ts';
import { bridgeCounters } from '../measures/bridge-metrics.ts';
import { monotonicMs } from '../measures/clock.ts';
import { awaitDelivered, type DeliveryTally, recordIndex, since, tally } from '../measures/delivered.ts';
import { peakBetween, sampleRss } from '../measures/rss.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { connectAll, type PumpResult, pump, warmUp } from './burst.ts';

/**
 * What the records carry and what the webhooks carry of it: inline, a ~27 KB
 * image in each record, posted base64 in each webhook (IMAGES=inline); omit,
 * the same records with the bridge's IMAGES=omit; none, records without an
 * image at all.
 */
export type Images = 'inline' | 'omit' | 'none';
/** The records as the broker sees them, which IMAGES does not change: the ceilings are measured for each kind. */
export type RecordKind = 'image' | 'none';

export const recordKind = (images: Images): RecordKind => (images === 'none' ? 'none' : 'image');

export interface DeliveryBurstOptions {
  /** Where terminals connect. */
  url: string;
  /** The bridge's HTTP API, for its delivery counters. */
  httpUrl: string;
  /** The bridge's resident memory now (VmRSS), sampled through the burst; none for the replicas of the cluster scenario, counted there. */
  bridgeRss?: () => number | undefined;
  receiver: Receiver;
  /** From encodeLoad (kit/records.ts): one list per terminal. */
  payloads: Buffer[][];
  /** Publishes in flight per terminal. */
  window: number;
  /** What the records and the webhooks carry, recorded with the figures. */
  images: Images;
  /** Publishing and delivering end by then; what has not arrived counts as lost. */
  timeoutMs: number;
  /** Records delivered before the clock starts, numbered past the burst's (burst.ts, warmUp); none: a fresh bridge's first records. */
  warmUp?: Buffer[][];
  span?: Span;
}

export interface DeliveryBurstFigures extends DeliveryTally {
  terminals: number;
  window: number;
  images: Images;
  payloadBytes: number;
  acked: number;
  failed: number;
  /** First publish → last PUBACK. */
  ackSeconds: number;
  ackedPerSecond: number;
  /** First publish → the receiver has every record (or the last one that came). */
  deliveredSeconds: number;
  deliveredPerSecond: number;
  /** Last PUBACK → last record delivered: how far delivery trails ingest. */
  trailSeconds: number;
  /** The bridge's attempts by outcome afterwards. */
  attempts: Record<string, number> | undefined;
  /**
   * The bridge's peak resident memory from the burst's first publish until
   * its last record arrived: what the burst holds. The life's peak (VmHWM,
   * the result's bridgePeakRssBytes) also holds the warm-up's, when V8
   * compiles the hot paths of a bridge that was idle until then and keeps
   * the compiler's memory for a tenth of a second (README §Performance,
   * Where the burst's peak is); with `--warm-up 0` that is in the burst.
   */
  rssBurstBytes: number | undefined;
  /** Records the bridge had delivered before the clock started. */
  warmedUp: number;
}

/** With every record acknowledged, the ones the receiver still lacks are lost once no new one has come for this long. */
const STALL_MS = 15_000;
/** Often enough to see the compiler's tenth of a second (README §Performance, Where the burst's peak is); a read of /proc/<pid>/status is ~30 µs. */
const RSS_EVERY_MS = 10;

/**
 * The burst of burst.ts with a webhook receiver behind the bridge: records
 * a second from the first publish until the receiver holds each of them,
 * which is what a backend sees of a flood after a site's terminals come
 * back online.
 */
export async function runDeliveryBurst(options: DeliveryBurstOptions): Promise<DeliveryBurstFigures> {
  const { payloads, receiver, span = noSpan } = options;
  const sns = serials('DB', payloads.length);
  const records = payloads.reduce((sum, list) => sum + list.length, 0);
  const payloadBytes = payloads.reduce((sum, list) => sum + list.reduce((s, p) => s + p.length, 0), 0);
  let clients: MqttClient[] = [];
  let rss: ReturnType<typeof sampleRss> | undefined;
  try {
    clients = await connectAll(options.url, sns);
    const warmedUp = await warmUp(clients, sns, options.warmUp, options.window, options.timeoutMs, async (n) => (await receiver.stats()).distinctKeys >= n);
    // What the receiver counted of the warm-up is taken off its figures below: they are the burst's.
    const before = await receiver.stats();
    span.start();
    if (options.bridgeRss) rss = sampleRss(options.bridgeRss, RSS_EVERY_MS);
    // pump() times PUBACKs with performance.now(), the receiver times arrivals on the monotonic clock: each span is measured on its own clock.
    const startedPerf = performance.now();
    const startedAt = monotonicMs();
    const deadline = startedAt + options.timeoutMs;
    const sent = clients.map((): PumpResult => ({ acked: 0, failed: 0, lastAckAt: 0 }));
    const sending = Promise.all(clients.map((client, i) => pump(client, UPLINK.topicOf(sns[i]), payloads[i], options.window, sent[i])));
    let timedOut = false;
    try {
      await withTimeout(sending, options.timeoutMs, 'delivery burst');
      timedOut = (await awaitDelivered(receiver, before.distinctKeys + records, { deadline, stallMs: STALL_MS })).timedOut;
    } catch {
      timedOut = true;
    } finally {
      span.end();
    }

    const arrivals = await receiver.arrivals();
    const counted = tally(records, since(before, await receiver.stats()), arrivals, timedOut);
    let lastArrival = startedAt;
    for (const arrival of arrivals) if (recordIndex(arrival, records) !== undefined) lastArrival = Math.max(lastArrival, arrival.firstAt);
    const lastAckPerf = Math.max(startedPerf, ...sent.map((s) => s.lastAckAt));
    const acked = sent.reduce((sum, s) => sum + s.acked, 0);
    const ackSeconds = (lastAckPerf - startedPerf) / 1000;
    const deliveredSeconds = (lastArrival - startedAt) / 1000;
    return {
      ...counted,
      terminals: payloads.length,
      window: options.window,
      images: options.images,
      payloadBytes,
      acked,
      failed: sent.reduce((sum, s) => sum + s.failed, 0),
      ackSeconds,
      ackedPerSecond: ackSeconds > 0 ? acked / ackSeconds : 0,
      deliveredSeconds,
      deliveredPerSecond: deliveredSeconds > 0 ? counted.delivered / deliveredSeconds : 0,
      trailSeconds: deliveredSeconds - ackSeconds,
      attempts: (await bridgeCounters(options.httpUrl))?.attempts,
      rssBurstBytes: rss && peakBetween(rss.samples, startedAt, lastArrival),
      warmedUp,
    };
  } finally {
    rss?.stop();
    await Promise.allSettled(clients.map((client) => withTimeout(client.endAsync(true), 5000, 'disconnecting')));
  }
}
