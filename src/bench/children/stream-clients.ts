import { startChild } from '../../kit/child-process.ts';
import { moduleUrl, nodeArgs } from '../../lib/module-url.ts';
import { monotonicMs } from '../measures/clock.ts';
import { cpuSeconds } from '../measures/cpu.ts';

const ENTRY = moduleUrl('./stream-process', import.meta.url);
const READY_TIMEOUT_MS = 30_000;
const CONTROL_TIMEOUT_MS = 10_000;
/** Both processes print and read their clocks within this much of each other, or they are not the same clock. */
const CLOCK_SLACK_MS = 5;

/** What stream-process.ts is started with (one JSON argument). */
export interface StreamConfig {
  /** GET /api/stream with its filter. */
  url: string;
  token: string;
  clients: number;
  /** Records the load will send: record i carries user_id firstNum + i. */
  records: number;
  firstNum: number;
}

export interface StreamClientTally {
  /** Records of the load it received, each counted once. */
  distinct: number;
  /** Events of a record it had already received. */
  duplicates: number;
  /** Events that are no record of the load. */
  foreign: number;
  /** Times the bridge closed its stream (a client too far behind is dropped) and it came back with Last-Event-ID. */
  reconnects: number;
}

export interface StreamStats {
  clients: number;
  /** Streams open now. */
  open: number;
  /** The fewest records any one client has received. */
  leastDistinct: number;
  /** Records received, all clients together. */
  distinct: number;
}

/** Per record i, monotonic ms (clock.ts) it arrived, or null when it never did. */
export interface StreamArrivals {
  clients: StreamClientTally[];
  /** At the first client to receive it. */
  first: (number | null)[];
  /** At the median client: half of the clients had it by then. */
  median: (number | null)[];
  /** At client 0: what one console sees. */
  one: (number | null)[];
  /** The event's received_at: when the bridge had the record, to the ms. */
  ingest: (number | null)[];
}

export interface StreamClients {
  pid: number;
  stats(): Promise<StreamStats>;
  arrivals(): Promise<StreamArrivals>;
  cpuSeconds(): number | undefined;
  /** Stops reconnecting (before the bridge goes), then the process. */
  dispose(): Promise<void>;
}

/** Starts stream-process.ts and resolves once every one of its clients has its stream open. */
export async function startStreamClients(config: StreamConfig): Promise<StreamClients> {
  const before = monotonicMs();
  const child = startChild(process.execPath, [...nodeArgs(ENTRY), JSON.stringify(config)]);
  try {
    const line = await child.waitForLine(/^streams ready \{.*\}$/, READY_TIMEOUT_MS, `opening ${config.clients} streams`);
    const after = monotonicMs();
    const ready = JSON.parse(line.slice('streams ready '.length)) as { controlPort: number; clock: number };
    if (ready.clock < before - CLOCK_SLACK_MS || ready.clock > after + CLOCK_SLACK_MS) {
      throw new Error(
        `the stream clients' monotonic clock (${ready.clock.toFixed(0)} ms) is not this process's (${before.toFixed(0)}–${after.toFixed(0)} ms): latencies across the two would be wrong`,
      );
    }
    const ask = async <T>(method: 'GET' | 'POST', path: string): Promise<T> => {
      const response = await fetch(`http://127.0.0.1:${ready.controlPort}${path}`, { method, signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS) });
      const body = (await response.json()) as T & { error?: string };
      if (!response.ok) throw new Error(`stream clients: ${method} ${path}: ${body.error ?? response.status}`);
      return body;
    };
    return {
      pid: child.pid,
      stats: () => ask<StreamStats>('GET', '/stats'),
      arrivals: () => ask<StreamArrivals>('GET', '/arrivals'),
      cpuSeconds: () => cpuSeconds(child.pid),
      dispose: async () => {
        await ask('POST', '/stop').catch(() => {});
        await child.stop(5000);
      },
    };
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
}
