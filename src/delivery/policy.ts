/**
 * What to do after one delivery attempt (README §Retries, Standard Webhooks):
 * a pure function of the attempt number and the answer, so it is tested alone.
 */
export type Outcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; afterMs: number }
  | { kind: 'dead' }
  /** 410 Gone: the receiver asks for no more; the endpoint is disabled, its deliveries wait. */
  | { kind: 'gone' };

/**
 * The answer to one attempt: an HTTP status, or a failure: no answer at all
 * (timeout, refused, reset), or a chat app's 2xx whose code says it failed
 * (README §Alerts in chat apps), which may ask for a wait (`retryAfterMs`: a
 * robot over its limit) and keeps its HTTP status for the record.
 */
export type Answer = { status: number; retryAfter?: string | null } | { error: string; status?: number; retryAfterMs?: number };

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
  if (!('error' in answer)) {
    if (answer.status >= 200 && answer.status < 300) return { kind: 'delivered' };
    if (answer.status === 410) return { kind: 'gone' };
  }
  if (attempt > schedule.length) return { kind: 'dead' };
  const jittered = Math.round(random() * schedule[attempt - 1]);
  const asked = 'error' in answer ? answer.retryAfterMs : retryAfterMs(answer.retryAfter, now());
  return { kind: 'retry', afterMs: asked === undefined ? jittered : Math.max(asked, jittered) };
}

// The three HTTP-date forms a receiver must accept (RFC 9110 §5.6.7); Date.parse
// alone would also take "Dec 2099" and read asctime in local time.
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const IMF_FIXDATE = new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`);
const RFC850 = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-${MONTH}-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`);
const ASCTIME = new RegExp(`^${DAY} ${MONTH} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`);

/** Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else if (IMF_FIXDATE.test(text) || RFC850.test(text)) ms = Date.parse(text) - now;
  else if (ASCTIME.test(text)) ms = Date.parse(`${text} GMT`) - now;
  else return undefined;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
