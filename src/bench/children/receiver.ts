import { startChild } from '../../kit/child-process.ts';
import { moduleUrl, nodeArgs } from '../../lib/module-url.ts';
import { monotonicMs } from '../measures/clock.ts';
import { cpuSeconds } from '../measures/cpu.ts';

const ENTRY = moduleUrl('./receiver-process', import.meta.url);
const READY_TIMEOUT_MS = 30_000;
const CONTROL_TIMEOUT_MS = 10_000;
/** Both processes print and read their clocks within this much of each other, or they are not the same clock. */
const CLOCK_SLACK_MS = 5;

/** One record as the receiver saw it: the first arrival of its key (the body's `user_id`) counts. */
export interface Arrival {
  key: string;
  /** Monotonic ms (clock.ts) when the first request carrying it had arrived whole. */
  firstAt: number;
  /** The body's `received_at` (the bridge's wall clock when the record reached it), on the monotonic clock, to the ms. */
  ingestAt: number | undefined;
  /** Requests that carried it: more than one is a duplicate. */
  count: number;
}

export interface ReceiverStats {
  /** Requests answered 200. */
  received: number;
  distinctIds: number;
  distinctKeys: number;
  /** Requests without a webhook-id header or without a user_id in the body. */
  unreadable: number;
  /** Keys that came with more than one webhook-id: the bridge made two events of one record. */
  keysWithSeveralIds: number;
  up: boolean;
}

export interface Receiver {
  /** Where the bridge posts (WEBHOOK_URL). */
  url: string;
  pid: number;
  stats(): Promise<ReceiverStats>;
  arrivals(): Promise<Arrival[]>;
  /** Closes the webhook port (connections are refused); resolves with the monotonic ms it was closed at. */
  down(): Promise<number>;
  /** Opens the webhook port again, the same one; resolves with the monotonic ms it was open at. */
  up(): Promise<number>;
  cpuSeconds(): number | undefined;
  dispose(): Promise<void>;
}

/** The URL a receiver started on `port` takes webhooks at. */
export function receiverUrl(port: number): string {
  return `http://127.0.0.1:${port}/webhook`;
}

/**
 * Starts receiver-process.ts with its webhook port on `port` (known before,
 * so the bridge can start meanwhile) and resolves once it listens.
 */
export async function startReceiver(port: number): Promise<Receiver> {
  const before = monotonicMs();
  const child = startChild(process.execPath, [...nodeArgs(ENTRY), String(port)]);
  try {
    const line = await child.waitForLine(/^receiver ready \{.*\}$/, READY_TIMEOUT_MS, 'starting the webhook receiver');
    const after = monotonicMs();
    const ready = JSON.parse(line.slice('receiver ready '.length)) as { hookPort: number; controlPort: number; clock: number };
    if (ready.clock < before - CLOCK_SLACK_MS || ready.clock > after + CLOCK_SLACK_MS) {
      throw new Error(
        `the receiver's monotonic clock (${ready.clock.toFixed(0)} ms) is not this process's (${before.toFixed(0)}–${after.toFixed(0)} ms): latencies across the two would be wrong`,
      );
    }
    const control = `http://127.0.0.1:${ready.controlPort}`;
    const ask = async <T>(method: 'GET' | 'POST', path: string): Promise<T> => {
      const response = await fetch(`${control}${path}`, { method, signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS) });
      const body = (await response.json()) as T & { error?: string };
      if (!response.ok) throw new Error(`webhook receiver: ${method} ${path}: ${body.error ?? response.status}`);
      return body;
    };
    return {
      url: receiverUrl(ready.hookPort),
      pid: child.pid,
      stats: () => ask<ReceiverStats>('GET', '/stats'),
      arrivals: () => ask<Arrival[]>('GET', '/arrivals'),
      down: async () => (await ask<{ at: number }>('POST', '/down')).at,
      up: async () => (await ask<{ at: number }>('POST', '/up')).at,
      cpuSeconds: () => cpuSeconds(child.pid),
      dispose: () => child.stop(5000),
    };
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
}
