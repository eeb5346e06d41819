import { setTimeout as delay } from 'node:timers/promises';
import { heartU } from '../sim/records.ts';
import { noSpan, type Span } from './span.ts';
import { distribution, type Distribution } from './stats.ts';
import { serials, startTerminals, stopTerminals } from './terminals.ts';
import { until } from './wait.ts';

export interface HeartbeatOptions {
  url: string;
  terminals: number;
  seconds: number;
  intervalMs: number;
  span?: Span;
}

export interface HeartbeatFigures {
  terminals: number;
  seconds: number;
  intervalMs: number;
  sent: number;
  answered: number;
  missing: number;
  /** heartD with no heartU waiting for it (answered after the wait below gave up on it). */
  late: number;
  /** Publish → heartD on the same terminal's downLink. */
  roundTrip: Distribution | undefined;
  /** How far behind its schedule the load generator sent a heartbeat at worst: large values mean the figures measure the benchmark itself. */
  maxSendLagMs: number;
}

/** A heartD later than this is counted missing; its heartU stops waiting so the next answer pairs with the right one. */
const ANSWER_LIMIT_MS = 5000;
/** Time for the last answers after the last heartbeat. */
const GRACE_MS = 3000;

/**
 * N terminals, each sending heartU at QoS 0 once per interval, their phases
 * spread evenly over the interval so the load is steady rather than N at once.
 */
export async function runHeartbeats(options: HeartbeatOptions): Promise<HeartbeatFigures> {
  const terminals = await startTerminals(options.url, serials('HB', options.terminals));
  try {
    const samples: number[] = [];
    const waiting: number[][] = terminals.map(() => []);
    let sent = 0;
    let late = 0;

    terminals.forEach((terminal, i) => {
      const queue = waiting[i];
      terminal.onMessage((message) => {
        if (message.cmd !== 'heartD') return;
        // heartD names no heartU: over one connection answers come in order, so it answers the oldest one waiting.
        while (queue.length > 0 && message.receivedAt - queue[0] > ANSWER_LIMIT_MS) queue.shift();
        const sentAt = queue.shift();
        if (sentAt === undefined) late++;
        else samples.push(message.receivedAt - sentAt);
      });
    });

    const payload = heartU();
    const beats = Math.max(1, Math.round((options.seconds * 1000) / options.intervalMs));
    const slotMs = options.intervalMs / terminals.length;
    const span = options.span ?? noSpan;
    span.start();
    const startAt = performance.now() + 50;
    let maxSendLagMs = 0;
    for (let k = 0; k < beats; k++) {
      for (let i = 0; i < terminals.length; i++) {
        const due = startAt + k * options.intervalMs + i * slotMs;
        const wait = due - performance.now();
        if (wait >= 1) await delay(wait);
        const now = performance.now();
        maxSendLagMs = Math.max(maxSendLagMs, now - due);
        waiting[i].push(now);
        sent++;
        void terminals[i].send(payload).catch(() => {});
      }
    }
    await until(() => (waiting.every((q) => q.length === 0) ? true : undefined), 20, GRACE_MS, 'heartD').catch(() => {});
    span.end();

    return {
      terminals: terminals.length,
      seconds: options.seconds,
      intervalMs: options.intervalMs,
      sent,
      answered: samples.length,
      missing: sent - samples.length,
      late,
      roundTrip: distribution(samples),
      maxSendLagMs,
    };
  } finally {
    await stopTerminals(terminals);
  }
}
