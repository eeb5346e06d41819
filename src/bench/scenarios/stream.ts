import { setTimeout as delay } from 'node:timers/promises';
import type { StreamClients, StreamStats } from '../children/stream-clients.ts';
import { monotonicMs } from '../measures/clock.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { type Distribution, distribution } from '../measures/stats.ts';
import { connectPaced } from './paced.ts';

export interface StreamOptions {
  url: string;
  streams: StreamClients;
  terminals: number;
  /** Records a second, all terminals together. */
  rate: number;
  seconds: number;
  image: Buffer;
  span?: Span;
}

export interface StreamFigures {
  clients: number;
  terminals: number;
  rate: number;
  seconds: number;
  /** Records sent; each is one face.verified event every client should receive once. */
  sent: number;
  acked: number;
  failed: number;
  /** Records missing at a client, all clients together. */
  lost: number;
  /** The most any one client missed, and how many clients missed any. */
  lostMaxPerClient: number;
  clientsWithLoss: number;
  /** Events a client received again, all clients together. */
  duplicates: number;
  /** Streams the bridge closed under the load (clients too far behind), each reopened with Last-Event-ID. */
  reconnects: number;
  /** Events on the stream that were no record of the load. */
  foreign: number;
  /** Terminal publish → the event's first arrival at any client. */
  latency: Distribution | undefined;
  /** Terminal publish → half of the clients have the event. */
  medianClient: Distribution | undefined;
  /** Terminal publish → the event at client 0: one console's view. */
  oneClient: Distribution | undefined;
  /** Terminal publish → the bridge has the message (the event's received_at, to the ms): broker and transport. */
  toBridge: Distribution | undefined;
  /** The bridge has the message → the event's first arrival at a client: commit, the stream hub, HTTP. */
  throughBridge: Distribution | undefined;
  maxSendLagMs: number;
  /** The wait below ran out of time (or of progress) before every client had every record. */
  timedOut: boolean;
}

/** After the last publish, records still missing at a client are lost after this long without one arriving anywhere. */
const STALL_MS = 10_000;
const DRAIN_LIMIT_MS = 30_000;
const POLL_MS = 100;

/**
 * Records at an even pace while many consoles watch the live stream: how
 * long a door event takes to show on a screen, and whether every screen
 * gets every event once.
 */
export async function runStream(options: StreamOptions): Promise<StreamFigures> {
  const { streams, span = noSpan } = options;
  const paced = await connectPaced(options);
  try {
    span.start();
    const load = await paced.run(monotonicMs() + 100);
    const { timedOut } = await awaitStreamed(streams, load.records, { deadline: monotonicMs() + DRAIN_LIMIT_MS, stallMs: STALL_MS });
    span.end();

    const arrivals = await streams.arrivals();
    const since = (at: (number | null)[]) => at.flatMap((t, i) => (t === null ? [] : [t - load.publishedAt[i]]));
    const throughBridge = arrivals.first.flatMap((t, i) => {
      const ingest = arrivals.ingest[i];
      return t === null || ingest === null ? [] : [t - ingest];
    });
    const missed = arrivals.clients.map((c) => load.records - c.distinct);
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    return {
      clients: arrivals.clients.length,
      terminals: options.terminals,
      rate: options.rate,
      seconds: options.seconds,
      sent: load.records,
      acked: load.acked,
      failed: load.failed,
      lost: sum(missed),
      lostMaxPerClient: Math.max(0, ...missed),
      clientsWithLoss: missed.filter((n) => n > 0).length,
      duplicates: sum(arrivals.clients.map((c) => c.duplicates)),
      reconnects: sum(arrivals.clients.map((c) => c.reconnects)),
      foreign: sum(arrivals.clients.map((c) => c.foreign)),
      latency: distribution(since(arrivals.first)),
      medianClient: distribution(since(arrivals.median)),
      oneClient: distribution(since(arrivals.one)),
      toBridge: distribution(since(arrivals.ingest)),
      throughBridge: distribution(throughBridge),
      maxSendLagMs: load.maxSendLagMs,
      timedOut,
    };
  } finally {
    await paced.close();
  }
}

/** Waits until every client has `sent` records, or until none has arrived anywhere for `stallMs`, or until the monotonic `deadline`. */
async function awaitStreamed(
  streams: StreamClients,
  sent: number,
  limits: { deadline: number; stallMs: number },
): Promise<{ stats: StreamStats; timedOut: boolean }> {
  let stats = await streams.stats();
  let movedAt = monotonicMs();
  for (;;) {
    if (stats.leastDistinct >= sent) return { stats, timedOut: false };
    const now = monotonicMs();
    if (now >= limits.deadline || now - movedAt >= limits.stallMs) return { stats, timedOut: true };
    await delay(POLL_MS);
    const next = await streams.stats();
    if (next.distinct > stats.distinct) movedAt = monotonicMs();
    stats = next;
  }
}
