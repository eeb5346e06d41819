import { setTimeout as delay } from 'node:timers/promises';
import type { Receiver } from '../children/receiver.ts';
import { bridgeCounters, sampleCounters } from '../measures/bridge-metrics.ts';
import { monotonicMs } from '../measures/clock.ts';
import { awaitDelivered, type DeliveryTally, recordIndex, tally } from '../measures/delivered.ts';
import { peakBetween, sampleRss } from '../measures/rss.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { connectPaced } from './paced.ts';

export interface DeliveryOutageOptions {
  url: string;
  httpUrl: string;
  receiver: Receiver;
  /** The bridge's resident memory now. */
  bridgeRss: () => number | undefined;
  terminals: number;
  rate: number;
  /** The whole load; the outage sits in its middle. */
  seconds: number;
  outageSeconds: number;
  image: Buffer;
  /** The bridge's DELIVERY_SCHEDULE, recorded with the figures. */
  schedule: string;
  /** Memory is still sampled this long after the last delivery, to see whether the drain's is given back. */
  settleMs: number;
  span?: Span;
}

export interface DeliveryOutageFigures extends DeliveryTally {
  terminals: number;
  rate: number;
  seconds: number;
  outageSeconds: number;
  schedule: string;
  acked: number;
  failed: number;
  /** Seconds from the first publish to the receiver going down and coming back, as they happened. */
  downAtSeconds: number;
  upAtSeconds: number;
  /** Deliveries waiting (the bridge's outbox depth) just before the receiver came back. */
  backlogAtReturn: number | undefined;
  /** Receiver back → every record published before that has arrived: the backlog drained. */
  drainSeconds: number | undefined;
  /** Receiver back → the last record has arrived. */
  allDeliveredSeconds: number | undefined;
  /** The bridge's peak resident memory before the outage, during it, and from the return until all was delivered. */
  rssBeforeBytes: number | undefined;
  rssOutageBytes: number | undefined;
  rssAfterBytes: number | undefined;
  /** The last sample, a few seconds after everything was delivered. */
  rssEndBytes: number | undefined;
  /** Every RSS sample: seconds from the first publish, MB. */
  rssTimeline: [seconds: number, megabytes: number][];
  /**
   * The bridge's /metrics once a second: deliveries waiting, failed attempts
   * so far, and its main thread's heap (used, reserved) and external memory
   * in MB, to tell what the RSS above is made of.
   */
  counterTimeline: [seconds: number, outbox: number, retries: number, heapUsedMB: number | null, heapTotalMB: number | null, externalMB: number | null][];
  maxSendLagMs: number;
  attempts: Record<string, number> | undefined;
}

const RSS_EVERY_MS = 250;
const COUNTERS_EVERY_MS = 1000;
const STALL_MS = 20_000;
/** After the load, the drain may take this long before what is missing counts as lost. */
const DRAIN_LIMIT_MS = 180_000;
/** The schedule's ceiling once past the first retries: the first attempt after the receiver is back comes within it. */
const CEILING_S = 2;

/**
 * The DELIVERY_SCHEDULE of this scenario: 500ms, 1s, then 2 s ceilings, so
 * the drain starts within 2 s of the receiver's return instead of at the
 * default schedule's minutes. With full jitter an attempt waits 1 s on
 * average, so the list is three times as long as the outage has seconds
 * (plus ten): a delivery that ran out of attempts and went dead before the
 * receiver is back would need its delays to average a third of that.
 */
export function outageSchedule(outageSeconds: number): { env: string; shown: string } {
  const repeats = 3 * Math.ceil(outageSeconds / (CEILING_S / 2)) + 10;
  return {
    env: ['500ms', '1s', ...Array.from({ length: repeats }, () => `${CEILING_S}s`)].join(','),
    shown: `500ms,1s,${CEILING_S}s×${repeats}`,
  };
}

/**
 * Records at an even pace while the receiver is down for the middle of the
 * run: whether the bridge holds the backlog without growing, loses or
 * doubles nothing, and how soon it catches up once the receiver is back.
 */
export async function runDeliveryOutage(options: DeliveryOutageOptions): Promise<DeliveryOutageFigures> {
  const { receiver, span = noSpan } = options;
  const paced = await connectPaced(options);
  const rss = sampleRss(options.bridgeRss, RSS_EVERY_MS);
  const counters = sampleCounters(options.httpUrl, COUNTERS_EVERY_MS);
  try {
    span.start();
    const startAt = monotonicMs() + 100;
    const plannedDown = startAt + ((options.seconds - options.outageSeconds) / 2) * 1000;
    const outage = async () => {
      await delay(Math.max(0, plannedDown - monotonicMs()));
      const downAt = await receiver.down();
      await delay(Math.max(0, downAt + options.outageSeconds * 1000 - monotonicMs()));
      const backlog = await bridgeCounters(options.httpUrl);
      const upAt = await receiver.up();
      return { downAt, upAt, backlogAtReturn: backlog?.outboxDepth };
    };
    // The outage keeps its own time beside the load, both counted from startAt.
    const [load, window] = await Promise.all([paced.run(startAt), outage()]);
    const { timedOut } = await awaitDelivered(receiver, load.records, { deadline: monotonicMs() + DRAIN_LIMIT_MS, stallMs: STALL_MS });
    span.end();
    const deliveredAt = monotonicMs();
    await delay(options.settleMs);
    rss.stop();
    counters.stop();

    const arrivals = await receiver.arrivals();
    const stats = await receiver.stats();
    let drainedAt = window.upAt;
    let lastAt = window.upAt;
    let missingBefore = 0;
    const arrived = new Uint8Array(load.records);
    for (const arrival of arrivals) {
      const i = recordIndex(arrival, load.records);
      if (i === undefined) continue;
      arrived[i] = 1;
      lastAt = Math.max(lastAt, arrival.firstAt);
      if (load.publishedAt[i] < window.upAt) drainedAt = Math.max(drainedAt, arrival.firstAt);
    }
    for (let i = 0; i < load.records; i++) if (!arrived[i] && load.publishedAt[i] < window.upAt) missingBefore++;
    const seconds = (at: number) => (at - window.upAt) / 1000;
    const { samples } = rss;
    return {
      ...tally(load.records, stats, arrivals, timedOut),
      terminals: options.terminals,
      rate: options.rate,
      seconds: options.seconds,
      outageSeconds: options.outageSeconds,
      schedule: options.schedule,
      acked: load.acked,
      failed: load.failed,
      downAtSeconds: (window.downAt - startAt) / 1000,
      upAtSeconds: (window.upAt - startAt) / 1000,
      backlogAtReturn: window.backlogAtReturn,
      drainSeconds: missingBefore === 0 ? seconds(drainedAt) : undefined,
      allDeliveredSeconds: timedOut ? undefined : seconds(lastAt),
      rssBeforeBytes: peakBetween(samples, startAt, window.downAt),
      rssOutageBytes: peakBetween(samples, window.downAt, window.upAt),
      rssAfterBytes: peakBetween(samples, window.upAt, deliveredAt),
      rssEndBytes: samples.at(-1)?.bytes,
      rssTimeline: samples.map(({ at, bytes }) => [round((at - startAt) / 1000, 2), round(bytes / 1024 / 1024, 1)]),
      counterTimeline: counters.samples.map((c) => [
        round((c.at - startAt) / 1000, 2),
        c.outboxDepth,
        c.attempts.retry ?? 0,
        mb(c.heapUsedBytes),
        mb(c.heapTotalBytes),
        mb(c.externalBytes),
      ]),
      maxSendLagMs: load.maxSendLagMs,
      attempts: (await bridgeCounters(options.httpUrl))?.attempts,
    };
  } finally {
    rss.stop();
    counters.stop();
    await paced.close();
  }
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));
const mb = (bytes: number | undefined) => (bytes === undefined ? null : round(bytes / 1024 / 1024, 1));
