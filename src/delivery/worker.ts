import { EventEmitter } from 'node:events';
import type { Pool } from 'undici';
import type { StoredEvent } from '../events/events.ts';
import { randomId } from '../events/ids.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { DueDelivery, Endpoint, Store } from '../store/store.ts';
import { webhookBody } from './body.ts';
import { testText } from './chat/alert-text.ts';
import { answerStart, type ChatNext, type ChatTarget, chatTarget, type Exchange, nextChatMessage, postChat } from './chat/chat-lane.ts';
import type { Endpoints } from './endpoints.ts';
import { type Answer, decide } from './policy.ts';
import { sign, signingKey } from './sign.ts';
import { basicAuthorization, webhookUrlProblem } from './webhook-url.ts';

/** What a test message's receiver answered (POST /api/webhooks/{id}/test). */
export interface TestAnswer {
  /** A 2xx, and for a chat app its own code 0 or absent. */
  ok: boolean;
  /** The HTTP status; null when there was no answer. */
  status: number | null;
  /** The start of the answer's body. */
  body: string;
  /** The chat app's own code, when its answer has one. */
  code: unknown;
  error: string | null;
}

/** Characters of a test answer's body shown. */
const TEST_BODY_CHARS = 500;

export interface DeliveryOptions {
  store: Store;
  /** The lanes follow every change of the endpoints, made by their owner; a 410 goes through it too. */
  endpoints: Endpoints;
  metrics: Metrics;
  log: Logger;
  /** README §Running several replicas: this replica runs this endpoint's lane (it holds its slot). */
  owns?: (endpointId: string) => boolean;
  /** The cluster's count of slots taken and let go (cluster.ts Cluster.slotChanges). */
  slotChanges?: () => number;
  schedule: readonly number[];
  timeoutMs: number;
  /** Requests in flight per endpoint. */
  concurrency: number;
  images: 'inline' | 'omit';
  userAgent: string;
  now?: () => number;
  random?: () => number;
  /** Events the outcomes made (delivery.dead), once committed: for the stream, the metrics and the lanes. */
  stored?: (events: StoredEvent[]) => void;
}

interface Lane {
  id: string;
  url: URL;
  key: Buffer | undefined;
  /** Basic credentials from the URL (`https://user:pass@host/…`), which undici does not send by itself. */
  authorization: string | undefined;
  types: Set<string>;
  enabled: boolean;
  /** A chat app's robot (README §Alerts in chat apps); undefined for a standard endpoint. */
  chat: ChatTarget | undefined;
  pool: Pool;
  /** Requests under way: what DELIVERY_CONCURRENCY bounds. */
  sending: number;
  /** Deliveries sent or being sent whose outcome is not committed yet: not fetched again meanwhile. */
  unrecorded: Set<number>;
  /** Due deliveries fetched ahead, in the store's order, not started yet. */
  due: DueDelivery[];
  /** `slotChanges()` when `due` was fetched: under another count, another replica may have made them since. */
  dueUnder: number;
  /** Failed attempts in a row; past PROBE_AFTER the lane sends one probe at a time, then pauses. */
  failures: number;
  pausedUntil: number;
  timer?: NodeJS.Timeout;
  /** A pump reads the store: another one asked for meanwhile runs after it. */
  pumping: boolean;
  pumpAgain: boolean;
}

// Due deliveries fetched at a time beyond the room there is. Fetching only the
// room meant fetching again, each time, every delivery still in flight (all of
// them pending in the store until their outcome commits), only to skip them:
// in a burst ~40 rows read per delivery sent, a tenth of the main thread. With
// 32 ahead it was still ~8 rows (100-280 deliveries await their outcome's
// commit in a burst), 1.4-2.7 % of the main thread; with 128, ~3 rows
// (README §Performance, Compiled once, read once).
const FETCH_AHEAD = 128;
// A lane with nothing due sleeps until its next delivery is due, but looks
// again at least this often (another process may have changed the store).
const MAX_SLEEP_MS = 30_000;
const STOP_GRACE_MS = 2000;
// A receiver that keeps failing gets one request at a time, with a pause
// after each failure that doubles up to 10 s: an outage then costs a probe
// every few seconds, not a retry of the whole backlog as each delivery falls
// due, and its end is noticed within 10 s.
const PROBE_AFTER = 5;
const PROBE_PAUSE_MS = 500;
const MAX_PROBE_PAUSE_MS = 10_000;

/**
 * What cuts one POST: its deadline, or a stop. An EventEmitter, which undici
 * takes as a request's signal (its Dispatcher.request), not an
 * AbortController: on Node 20 each controller left ~1 KB that only a full
 * collection frees, 14 MB in a burst of 20,000 (README §Performance, "The
 * views' hidden classes").
 */
class Cut extends EventEmitter {
  aborted = false;
  reason: Error | undefined = undefined;
  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/** A delivery posted: the answer, and its event when it was still stored. */
interface Sent {
  event?: StoredEvent;
  answer: Answer;
}

// undici is loaded with the first endpoint, not at start: all of it comes
// with its index (fetch, WebSocket, caches, mocks), ~2.5 MB of the heap that
// a bridge without endpoints held for nothing (README §Performance, Memory).
let undici: typeof import('undici') | undefined;

/**
 * Sends the outbox, one lane per endpoint: its own connection pool, its own
 * bounded number of requests in flight, so a slow receiver holds up only
 * itself. The backlog stays on disk; a lane holds in memory only what it is
 * sending. Nothing marks a delivery as taken in the store, so one whose
 * attempt was cut short by a crash is simply due again after a restart.
 */
export function createDeliveryWorker(options: DeliveryOptions) {
  const { store, endpoints, metrics, log, now = Date.now, owns = () => true, slotChanges = () => 0 } = options;
  const lanes = new Map<string, Lane>();
  let stopping = false;
  const attempts = new Set<Promise<void>>();
  // The POSTs under way; a stop cuts them when its grace period is over, and any begun after.
  const underWay = new Set<Cut>();
  let cutOff: Error | undefined;

  // One at a time, in the order asked: each applies the endpoints as it read them.
  let refreshed = Promise.resolve();
  function refresh(): Promise<void> {
    const done = refreshed.then(async () => {
      const rows = await endpoints.list();
      if (rows.length > 0) undici ??= await import('undici');
      applyEndpoints(rows);
    });
    refreshed = done.catch(() => {});
    return done;
  }

  function applyEndpoints(rows: Endpoint[]): void {
    for (const [id, lane] of lanes) {
      if (!rows.some((row) => row.id === id)) {
        clearTimeout(lane.timer);
        void lane.pool.close();
        lanes.delete(id);
      }
    }
    for (const row of rows) {
      // A row that an older version accepted: its lane waits, the others go on.
      const problem = webhookUrlProblem(row.url);
      if (problem) {
        if (!lanes.has(row.id)) log.error({ endpoint: row.id, problem }, 'webhook endpoint not served: fix or delete it');
        continue;
      }
      const url = new URL(row.url);
      let lane = lanes.get(row.id);
      if (!lane || lane.url.origin !== url.origin) {
        if (lane) void lane.pool.close();
        const pool = new undici!.Pool(url.origin, {
          connections: options.concurrency,
          keepAliveTimeout: 30_000,
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        });
        lane = {
          id: row.id,
          url,
          key: undefined,
          authorization: undefined,
          types: new Set(),
          enabled: true,
          chat: lane?.chat,
          pool,
          sending: lane?.sending ?? 0,
          unrecorded: lane?.unrecorded ?? new Set(),
          due: [],
          dueUnder: 0,
          failures: 0,
          pausedUntil: 0,
          pumping: false,
          pumpAgain: false,
        };
        lanes.set(row.id, lane);
      }
      lane.url = url;
      lane.authorization = basicAuthorization(url);
      lane.key = row.secret ? signingKey(row.secret) : undefined;
      lane.types = new Set(row.eventTypes);
      lane.enabled = row.enabled;
      lane.chat = chatTarget(row, lane.chat);
      // What was fetched ahead under the old settings is fetched again.
      lane.due = [];
      pump(lane);
    }
  }

  /** Starts as many due deliveries as the lane has room for, then sleeps until the next is due. */
  function pump(lane: Lane): void {
    // README §Running several replicas: while another replica holds the
    // lane's slot, what was fetched ahead here is not held for nothing (were
    // it kept, the slot count in fill would have it read again anyway).
    const owned = owns(lane.id);
    if (!owned) lane.due = [];
    if (stopping || !lane.enabled || !owned) return;
    if (lane.pumping) {
      lane.pumpAgain = true;
      return;
    }
    lane.pumping = true;
    fill(lane)
      .catch((err: Error) => {
        // The store could not be read: the lane looks again at its next timer.
        log.error({ endpoint: lane.id, err: err.message }, 'due deliveries not read');
        sleep(lane, MAX_SLEEP_MS);
      })
      .finally(() => {
        lane.pumping = false;
        if (lane.pumpAgain) {
          lane.pumpAgain = false;
          pump(lane);
        }
      });
  }

  async function fill(lane: Lane): Promise<void> {
    clearTimeout(lane.timer);
    const t = now();
    if (t < lane.pausedUntil) return sleep(lane, lane.pausedUntil - t);
    if (lane.chat) return fillChat(lane, lane.chat, t);
    const probing = lane.failures >= PROBE_AFTER;
    const room = (probing ? 1 : options.concurrency) - lane.sending;
    if (room <= 0) return;
    // README §Running several replicas: the lane's slot may have left and come
    // back since the fetch ahead (owns said yes both times), and its holder
    // meanwhile made some of those deliveries.
    const under = slotChanges();
    if (lane.dueUnder !== under) lane.due = [];
    if (lane.due.length < room) {
      // Those in flight and those already fetched are pending in the store too;
      // so are those whose outcome commits while the read is under way.
      const unrecorded = new Set(lane.unrecorded);
      const fetched = await store.dueDeliveries(lane.id, t, room + unrecorded.size + lane.due.length + FETCH_AHEAD);
      if (stopping || !lane.enabled || !owns(lane.id)) return;
      if (slotChanges() !== under) {
        // A slot came or went during the read: read again, under the new count.
        lane.pumpAgain = true;
        return;
      }
      lane.dueUnder = under;
      const known = (seq: number) => unrecorded.has(seq) || lane.unrecorded.has(seq) || lane.due.some((d) => d.seq === seq);
      lane.due.push(...fetched.filter((d) => !known(d.seq)));
    }
    for (const delivery of lane.due.splice(0, room)) track(attempt(lane, delivery));
    if (lane.sending === 0) {
      const next = await store.nextDueAt(lane.id);
      if (lane.sending === 0) sleep(lane, next === undefined ? MAX_SLEEP_MS : Math.max(next - t, 0));
    }
  }

  /** A chat lane: one message at a time, a single alert or a digest, when the robot may post (README §Alerts in chat apps). */
  async function fillChat(lane: Lane, chat: ChatTarget, t: number): Promise<void> {
    if (lane.sending > 0) return;
    const unrecorded = new Set(lane.unrecorded);
    const next = await nextChatMessage(store, lane.id, chat, t, (seq) => unrecorded.has(seq) || lane.unrecorded.has(seq));
    if (stopping || !lane.enabled) return;
    if ('waitUntil' in next) return sleep(lane, next.waitUntil - t);
    if ('message' in next) return track(attemptChat(lane, chat, next));
    const due = await store.nextDueAt(lane.id);
    if (lane.sending === 0) sleep(lane, due === undefined ? MAX_SLEEP_MS : Math.max(due - t, 0));
  }

  function sleep(lane: Lane, ms: number) {
    clearTimeout(lane.timer);
    lane.timer = setTimeout(() => pump(lane), Math.min(ms, MAX_SLEEP_MS));
    lane.timer.unref();
  }

  function track(promise: Promise<void>) {
    attempts.add(promise);
    void promise.finally(() => attempts.delete(promise));
  }

  async function attempt(lane: Lane, delivery: DueDelivery): Promise<void> {
    lane.unrecorded.add(delivery.seq);
    lane.sending += 1;
    const started = now();
    let sent: Sent;
    try {
      sent = await readAndSend(lane, delivery);
    } catch (err) {
      // The store could not be read: nothing was sent, the delivery stays pending and is due again.
      lane.sending -= 1;
      lane.unrecorded.delete(delivery.seq);
      log.error({ delivery: delivery.seq, err: (err as Error).message }, 'delivery not read');
      if (lane.sending === 0) sleep(lane, MAX_SLEEP_MS);
      return;
    }
    // The request is over: its slot goes to the next delivery while this outcome is committed.
    lane.sending -= 1;
    if (cutOff) {
      // Stopping: the delivery stays pending as it was and goes out after the restart.
      lane.unrecorded.delete(delivery.seq);
      return;
    }
    await conclude(lane, [{ delivery, event: sent.event }], sent.answer, started);
  }

  /**
   * Reads a delivery's event (and its image) and posts it. A function of its
   * own because an async function keeps what its block's locals held until
   * it returns, and `attempt` then waits for the outcome's commit (~1 s in a
   * burst through Mosquitto): every image read (~36 KB) lived that long, into
   * V8's old generation (README §Performance, "The views' hidden classes").
   */
  async function readAndSend(lane: Lane, delivery: DueDelivery): Promise<Sent> {
    const read = await store.eventWithImage(delivery.eventSeq, options.images === 'inline');
    if (!read) return { answer: { error: 'event no longer stored' } };
    return { event: read.event, answer: await send(lane, read.event.id, webhookBody(read.event, read.image)) };
  }

  /** One message to a chat app's robot: one attempt for each delivery it stands for, with the one answer. */
  async function attemptChat(lane: Lane, chat: ChatTarget, next: Extract<ChatNext, { orphans: DueDelivery[] }>): Promise<void> {
    const { message, orphans } = next;
    const all = [...orphans, ...(message?.items.map((item) => item.delivery) ?? [])];
    for (const delivery of all) lane.unrecorded.add(delivery.seq);
    lane.sending += 1;
    const started = now();
    let answer: Answer | undefined;
    if (message) {
      const posted = await postChat(lane.url, chat, message.text, now, (path, headers, body) => exchange(lane, path, headers, body, true));
      answer = posted.answer;
      if (message.digest) metrics.alertDigests.inc({ endpoint: lane.id });
      if (posted.throttled) {
        metrics.alertThrottled.inc({ endpoint: lane.id });
        log.warn(
          { endpoint: lane.id, format: chat.format, error: 'error' in answer ? answer.error : null },
          'chat app answered that its robot posts too often',
        );
      }
    }
    lane.sending -= 1;
    if (cutOff) {
      for (const delivery of all) lane.unrecorded.delete(delivery.seq);
      return;
    }
    await Promise.all([
      orphans.length > 0
        ? conclude(
            lane,
            orphans.map((delivery) => ({ delivery })),
            { error: 'event no longer stored' },
            started,
          )
        : undefined,
      message && answer ? conclude(lane, message.items, answer, started) : undefined,
    ]);
  }

  /**
   * Records the outcome of one request for each delivery it stood for (one,
   * or a chat digest's), all in one commit; a delivery whose event is gone
   * is dead. The lane's failures count the request once.
   */
  async function conclude(lane: Lane, items: { delivery: DueDelivery; event?: StoredEvent }[], answer: Answer, started: number): Promise<void> {
    const at = now();
    const status = answer.status ?? null;
    const error = 'error' in answer ? answer.error : status !== null && (status < 200 || status >= 300) ? `HTTP ${status}` : null;
    const outcomes = items.map(({ delivery, event }) =>
      event ? decide(delivery.attempts + 1, answer, { schedule: options.schedule, random: options.random, now }) : { kind: 'dead' as const },
    );
    if (outcomes.some((outcome) => outcome.kind === 'retry' || outcome.kind === 'dead')) {
      lane.failures += 1;
      if (lane.failures >= PROBE_AFTER) {
        const pause = Math.min(MAX_PROBE_PAUSE_MS, PROBE_PAUSE_MS * 2 ** Math.min(lane.failures - PROBE_AFTER, 16));
        lane.pausedUntil = at + Math.round(pause / 2 + (options.random ?? Math.random)() * (pause / 2));
      }
    } else {
      lane.failures = 0;
      lane.pausedUntil = 0;
    }
    pump(lane);
    items.forEach(({ delivery, event }, i) => {
      const outcome = outcomes[i];
      metrics.deliveryAttempts.inc({ endpoint: lane.id, outcome: outcome.kind });
      if (outcome.kind === 'delivered' && event) metrics.deliveryLatency.observe((at - event.receivedAt) / 1000);
      // A line for every success is a flood at a thousand deliveries a second
      // (and 7 % of the main thread in a burst): those are debug. A failed
      // attempt is what an operator must see.
      const level = outcome.kind === 'delivered' ? 'debug' : outcome.kind === 'retry' ? 'info' : 'warn';
      if (log.isLevelEnabled(level))
        log[level](
          {
            delivery: delivery.seq,
            event: event?.id,
            endpoint: lane.id,
            attempt: delivery.attempts + 1,
            status,
            ms: at - started,
            outcome: outcome.kind,
            error: event ? error : 'event no longer stored',
          },
          'delivery attempt',
        );
    });
    try {
      const written = await Promise.all(
        items.map(({ delivery }, i) => {
          const outcome = outcomes[i];
          return store.write({
            kind: 'attempt',
            seq: delivery.seq,
            at,
            status,
            error,
            outcome: outcome.kind,
            nextAttemptAt: outcome.kind === 'retry' ? at + outcome.afterMs : at,
          });
        }),
      );
      const made = written.flatMap((result) => result.events);
      if (made.length > 0) options.stored?.(made);
      if (outcomes.some((outcome) => outcome.kind === 'gone') && lane.enabled) {
        lane.enabled = false;
        await endpoints.disable(lane.id, 'gone');
        log.warn({ endpoint: lane.id, url: lane.url.origin }, 'endpoint disabled: the receiver answered 410 Gone');
      }
    } catch (err) {
      // Not recorded: the deliveries are still pending in the store and are made again.
      log.error({ deliveries: items.map((item) => item.delivery.seq), err: (err as Error).message }, 'delivery outcome not recorded');
    } finally {
      for (const { delivery } of items) lane.unrecorded.delete(delivery.seq);
      pump(lane);
    }
  }

  async function send(lane: Lane, id: string, body: Buffer, read = false): ReturnType<Exchange> {
    const timestamp = Math.floor(now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
    };
    if (lane.key) headers['webhook-signature'] = sign(lane.key, id, timestamp, body);
    return exchange(lane, lane.url.pathname + lane.url.search, headers, body, read);
  }

  /** One POST through the lane's pool, within DELIVERY_TIMEOUT and cut by a stop: the status (and the answer's start when asked for), or why there was none. */
  async function exchange(lane: Lane, path: string, headers: Record<string, string>, body: Buffer | string, read: boolean): ReturnType<Exchange> {
    headers['user-agent'] = options.userAgent;
    if (lane.authorization) headers.authorization = lane.authorization;
    // One cut per attempt whose timer goes when the attempt ends.
    // AbortSignal.any([AbortSignal.timeout(…), stop]) kept a timer, two
    // signals and a registration on the stop signal alive for the whole
    // DELIVERY_TIMEOUT after each POST: at 200 POSTs a second that garbage
    // reached the old generation and cost a full GC every half second, whose
    // 10-25 ms pauses made the end-to-end p99.
    const cut = new Cut();
    const timer = setTimeout(() => cut.abort(new DOMException(`no answer within ${options.timeoutMs} ms`, 'TimeoutError')), options.timeoutMs);
    underWay.add(cut);
    if (cutOff) cut.abort(cutOff);
    try {
      const response = await lane.pool.request({ method: 'POST', path, headers, body, signal: cut });
      let text = '';
      if (read) text = await answerStart(response.body);
      else await response.body.dump();
      const retryAfter = response.headers['retry-after'];
      return { status: response.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, text };
    } catch (err) {
      const e = err as Error & { code?: string };
      return {
        error:
          e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT'
            ? `no answer within ${options.timeoutMs} ms`
            : (e.code ?? e.message),
      };
    } finally {
      clearTimeout(timer);
      underWay.delete(cut);
    }
  }

  let unsubscribe = () => {};

  return {
    /** Lanes for the endpoints stored; from now on, those the owner adds, and no more those it removes or disables. */
    start(): Promise<void> {
      // Endpoints changed: new ones are picked up, deleted ones dropped, re-enabled ones woken.
      const off = endpoints.onChange(refresh);
      unsubscribe = () => void off();
      return refresh();
    },
    /** New events are committed: their lanes look for work now instead of at their next timer. */
    wake(events: StoredEvent[]): void {
      for (const lane of lanes.values()) if (events.some((e) => lane.types.has(e.type))) pump(lane);
    },
    /**
     * One test message now, outside the outbox, through the endpoint's lane
     * (README §Alerts in chat apps): a chat robot's pace counts it, and
     * holds it back when the robot may not post (`notBefore`). Undefined
     * when the endpoint has no lane (unknown, or its URL not served).
     */
    async test(id: string): Promise<TestAnswer | { notBefore: number } | undefined> {
      const lane = lanes.get(id);
      if (!lane) return undefined;
      const t = now();
      if (lane.chat) {
        const chat = lane.chat;
        if (chat.pace.free(t) === 0) return { notBefore: chat.pace.nextAt(t) };
        const posted = await postChat(lane.url, chat, testText(chat.lang, t), now, (path, headers, body) => exchange(lane, path, headers, body, true));
        const { answer } = posted;
        const status = answer.status ?? null;
        const ok = !('error' in answer) && status !== null && status >= 200 && status < 300;
        return {
          ok,
          status,
          body: (posted.text ?? '').slice(0, TEST_BODY_CHARS),
          code: posted.code ?? null,
          error: 'error' in answer ? answer.error : ok ? null : `HTTP ${status}`,
        };
      }
      // A standard receiver gets a body of its own type, signed as every delivery is: it can tell a test apart and verify it.
      const testId = randomId('msg');
      const body = Buffer.from(JSON.stringify({ type: 'facegate.test', id: testId, endpoint_id: id, sent_at: new Date(t).toISOString() }));
      const answer = await send(lane, testId, body, true);
      if ('error' in answer) return { ok: false, status: null, body: '', code: null, error: answer.error };
      const ok = answer.status >= 200 && answer.status < 300;
      return { ok, status: answer.status, body: answer.text.slice(0, TEST_BODY_CHARS), code: null, error: ok ? null : `HTTP ${answer.status}` };
    },
    /**
     * Wakes every lane, each to read what is due afresh: a delivery was put
     * back to pending (and may be due before what was fetched ahead), or a
     * slot came to this replica (README §Running several replicas: its
     * lane's work is here now; what other lanes fetched ahead under the
     * slots' old count fill reads again by itself).
     */
    wakeAll(): void {
      for (const lane of lanes.values()) {
        lane.due = [];
        pump(lane);
      }
    },
    /** Lets attempts under way finish for a moment, cuts the rest (they stay pending), then closes the pools. */
    async stop(): Promise<void> {
      stopping = true;
      unsubscribe();
      for (const lane of lanes.values()) clearTimeout(lane.timer);
      const grace = setTimeout(() => {
        cutOff = new DOMException('stopping', 'AbortError');
        for (const cut of underWay) cut.abort(cutOff);
      }, STOP_GRACE_MS);
      await Promise.allSettled([...attempts]);
      clearTimeout(grace);
      await Promise.allSettled([...lanes.values()].map((lane) => lane.pool.close()));
    },
  };
}

export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
