import type { Receiver } from '../children/receiver.ts';
import { bridgeCounters } from '../measures/bridge-metrics.ts';
import { monotonicMs } from '../measures/clock.ts';
import { awaitDelivered, type DeliveryTally, recordIndex, tally } from '../measures/delivered.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { type Distribution, distribution } from '../measures/stats.ts';
import { connectPaced } from './paced.ts';

export interface DeliverySteadyOptions {
  url: string;
  httpUrl: string;
  receiver: Receiver;
  terminals: number;
  /** Records a second, all terminals together. */
  rate: number;
  seconds: number;
  image: Buffer;
  span?: Span;
}

export interface DeliverySteadyFigures extends DeliveryTally {
  terminals: number;
  rate: number;
  seconds: number;
  acked: number;
  failed: number;
  /** Terminal publish → the webhook has arrived whole at the receiver. */
  latency: Distribution | undefined;
  /** Terminal publish → the bridge has the message (the body's received_at, to the ms): broker and transport. */
  toBridge: Distribution | undefined;
  /** The bridge has the message → the webhook has arrived: commit, outbox, HTTP. */
  throughBridge: Distribution | undefined;
  maxSendLagMs: number;
  attempts: Record<string, number> | undefined;
}

/** After the last publish, records still missing are lost after this long without one arriving. */
const STALL_MS = 15_000;
const DRAIN_LIMIT_MS = 60_000;

/**
 * Records at an even pace a receiver keeps up with: how long a door event
 * takes to reach the backend when nothing is wrong.
 */
export async function runDeliverySteady(options: DeliverySteadyOptions): Promise<DeliverySteadyFigures> {
  const { receiver, span = noSpan } = options;
  const paced = await connectPaced(options);
  try {
    span.start();
    const load = await paced.run(monotonicMs() + 100);
    const { timedOut } = await awaitDelivered(receiver, load.records, { deadline: monotonicMs() + DRAIN_LIMIT_MS, stallMs: STALL_MS });
    span.end();

    const arrivals = await receiver.arrivals();
    const stats = await receiver.stats();
    const latency: number[] = [];
    const toBridge: number[] = [];
    const throughBridge: number[] = [];
    for (const arrival of arrivals) {
      const i = recordIndex(arrival, load.records);
      if (i === undefined) continue;
      latency.push(arrival.firstAt - load.publishedAt[i]);
      if (arrival.ingestAt === undefined) continue;
      toBridge.push(arrival.ingestAt - load.publishedAt[i]);
      throughBridge.push(arrival.firstAt - arrival.ingestAt);
    }
    return {
      ...tally(load.records, stats, arrivals, timedOut),
      terminals: options.terminals,
      rate: options.rate,
      seconds: options.seconds,
      acked: load.acked,
      failed: load.failed,
      latency: distribution(latency),
      toBridge: distribution(toBridge),
      throughBridge: distribution(throughBridge),
      maxSendLagMs: load.maxSendLagMs,
      attempts: (await bridgeCounters(options.httpUrl))?.attempts,
    };
  } finally {
    await paced.close();
  }
}
