/**
 * What to do after one delivery attempt (SPEC §Webhooks, Standard Webhooks):
 * a pure function of the attempt number and the answer, so it is tested alone.
 */
export type Outcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; afterMs: number }
  | { kind: 'dead' }
  /** 410 Gone: the receiver asks for no more; the endpoint is disabled, its deliveries wait. */
  | { kind: 'gone' };

/** The answer to one attempt: an HTTP status, or no answer at all (timeout, refused, reset). */
export type Answer = { status: number; retryAfter?: string | null } | { error: string };

export interface PolicyOptions {
  /** Ceilings of the delay before retry 1, 2, …; after the last one the delivery is dead. */
  schedule: readonly number[];
  /** 0 ≤ random() < 1; injected so tests are exact. */
  random?: () => number;
  now?: () => number;
}

// A Retry-After beyond this is not believed: a day is the whole schedule's span.
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/**
 * `attempt` counts from 1 (the attempt just made). Delays use full jitter
 * (a random share of the ceiling), so retries of many deliveries after an
 * outage spread out instead of arriving together.
 */
export function decide(attempt: number, answer: Answer, { schedule, random = Math.random, now = Date.now }: PolicyOptions): Outcome {
  if ('status' in answer) {
    if (answer.status >= 200 && answer.status < 300) return { kind: 'delivered' };
    if (answer.status === 410) return { kind: 'gone' };
  }
  if (attempt > schedule.length) return { kind: 'dead' };
  const jittered = Math.round(random() * schedule[attempt - 1]);
  const asked = 'status' in answer ? retryAfterMs(answer.retryAfter, now()) : undefined;
  return { kind: 'retry', afterMs: asked === undefined ? jittered : Math.max(asked, jittered) };
}

/** Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
