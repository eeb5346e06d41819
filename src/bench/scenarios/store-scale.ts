import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import { migrateDatabase, openDatabase } from '../../store/sqlite/open.ts';
import { monotonicMs } from '../measures/clock.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { type Distribution, distribution } from '../measures/stats.ts';

// A store as a long receiver outage leaves it: a million events past
// retention that an enabled endpoint still waits for, beside a day of recent
// traffic. What it measures is what such a store costs the bridge: the
// longest step of the retention purge (the writer, and every terminal's
// acknowledgement, waits for it), a terminal's PUBACK while the purge runs,
// and the API's reads of the lists and of /metrics (main thread).

const DAY = 86_400_000;
const ENDPOINT = 'ep_scale';
/** A terminal that sent a handful of events among a day of everyone else's: the filter that matches rarely. */
export const RARE_TERMINAL = 'RARE0001';
const TERMINALS = 100;
const BUILD_CHUNK = 50_000;
/** Terminals publish a record this often while the purge runs, to see how long the writer keeps them waiting. */
const PUBLISH_EVERY_MS = 50;

export interface StoreScaleOptions {
  /** Events past retention, each with a pending delivery to an enabled endpoint. */
  waiting: number;
  /** Events of the last day, spread over TERMINALS terminals. */
  recent: number;
  /** Requests of each kind. */
  repetitions: number;
  /** How long the purge may take before the figures are taken anyway. */
  purgeLimitMs: number;
}

export interface Timed {
  what: string;
  /** Each request's time from sending it to the last byte of the answer. */
  latency: Distribution | undefined;
  status: number[];
  bytes: number;
}

export interface StoreScaleFigures {
  waiting: number;
  recent: number;
  /** Purged at the start: delivered events past retention. */
  purgeable: number;
  buildSeconds: number;
  /** From the bridge's "retention purge" line (seconds: the bridge ready → that line); undefined when it did not come within the limit. */
  purge: { seconds: number; removed: number; steps: number | undefined; longestStepMs: number | undefined } | undefined;
  /** A terminal's record, publish → PUBACK, while the purge ran (with the one still waiting at the end, if any). */
  ackWhilePurging: Distribution | undefined;
  requests: Timed[];
}

/**
 * Writes the store with plain SQL (the bench's own connection, before the
 * bridge starts on it), through the real migrations: the triggers and
 * indexes are the bridge's own.
 */
export function buildStore(dataDir: string, options: Pick<StoreScaleOptions, 'waiting' | 'recent'>, now = Date.now()): { purgeable: number; seconds: number } {
  const started = performance.now();
  const { sqlite, db } = openDatabase(dataDir, 'normal');
  try {
    migrateDatabase(db);
    sqlite.pragma('synchronous = OFF');
    // No receiver: a closed port. Its deliveries are not due for hours, as after an outage's backoff.
    sqlite
      .prepare(
        'insert into endpoints (id, url, event_types, enabled, created_at) values (?, \'http://127.0.0.1:9/outage\', \'["face.verified","face.rejected","face.stranger","device.message"]\', 1, ?)',
      )
      .run(ENDPOINT, now - 60 * DAY);
    const insertEvent = sqlite.prepare('insert into events (id, type, device_sn, received_at, fields, has_image) values (?, ?, ?, ?, ?, 0)');
    const insertDelivery = sqlite.prepare(
      'insert into deliveries (event_seq, endpoint_id, status, attempts, next_attempt_at, created_at, delivered_at) values (?, ?, ?, ?, ?, ?, ?)',
    );
    let n = 0;
    const add = (type: string, sn: string, at: number, status: 'pending' | 'delivered') => {
      const i = n++;
      const fields =
        type === 'device.message'
          ? JSON.stringify({ cmd: 'openDoorU', code: 0, seq: i })
          : JSON.stringify({
              num: String(1000 + (i % 5000)),
              name: `Person ${i % 5000}`,
              verifiedCode: 0,
              time: new Date(at).toISOString().slice(0, 19).replace('T', ' '),
              personType: '1',
            });
      const { lastInsertRowid } = insertEvent.run(`evt_scale_${i}`, type, sn, at, fields);
      insertDelivery.run(
        lastInsertRowid,
        ENDPOINT,
        status,
        status === 'pending' ? 8 : 1,
        status === 'pending' ? now + 6 * 3_600_000 + (i % 3_600_000) : at,
        at,
        status === 'delivered' ? at + 50 : null,
      );
    };
    const typeOf = (i: number) => (i % 20 === 0 ? 'face.stranger' : i % 20 === 1 ? 'face.rejected' : i % 20 === 2 ? 'device.message' : 'face.verified');
    const terminal = (i: number) => `SCALE${String(i % TERMINALS).padStart(3, '0')}`;
    const inChunks = (count: number, each: (i: number) => void) => {
      for (let from = 0; from < count; from += BUILD_CHUNK)
        sqlite.transaction(() => {
          for (let i = from; i < Math.min(count, from + BUILD_CHUNK); i++) each(i);
        })();
    };
    // Delivered before the outage, 45 days ago: what the purge removes.
    const purgeable = Math.max(1000, Math.round(options.waiting / 100));
    inChunks(purgeable, (i) => add(typeOf(i), terminal(i), now - 45 * DAY + i, 'delivered'));
    // The outage: 40 to 31 days ago, every event still owed to the endpoint.
    const span = 9 * DAY;
    inChunks(options.waiting, (i) => add(typeOf(i), terminal(i), now - 40 * DAY + Math.floor((i * span) / options.waiting), 'pending'));
    // The last day; the rare terminal's few events early in it.
    inChunks(options.recent, (i) =>
      add(
        typeOf(i),
        i % Math.max(1, Math.floor(options.recent / 5)) === 7 ? RARE_TERMINAL : terminal(i),
        now - DAY + Math.floor((i * DAY) / options.recent),
        'pending',
      ),
    );
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    return { purgeable, seconds: (performance.now() - started) / 1000 };
  } finally {
    sqlite.close();
  }
}

export interface StoreScaleRun {
  brokerUrl: string;
  httpUrl: string;
  adminToken: string;
  /** Monotonic ms (clock.ts) when the bridge was ready: GET /readyz answered 200. */
  readyAt: number;
  /** Resolves with the bridge's first log line since its start that matches and the monotonic ms it came at, or undefined after `timeoutMs`. */
  logLine(pattern: RegExp, timeoutMs: number): Promise<{ line: string; at: number } | undefined>;
  options: StoreScaleOptions;
  built: { purgeable: number; seconds: number };
  now: number;
  span?: Span;
}

/** The purge (started by the bridge at its start) while a terminal publishes, then each kind of request, one after the other. */
export async function runStoreScale(run: StoreScaleRun): Promise<StoreScaleFigures> {
  const { options, span = noSpan } = run;
  span.start();
  const purged = run.logLine(/\{[^\n]*"msg":"retention purge"[^\n]*\}/, options.purgeLimitMs);
  const acks = await publishUntil(run.brokerUrl, purged);
  const logged = await purged;
  // The bridge purges as it starts: timed from its readiness, 0 for a purge already over by then.
  const purge = logged ? purgeFigures(logged.line, Math.max(0, logged.at - run.readyAt) / 1000) : undefined;

  const at = (daysAgo: number) => new Date(run.now - daysAgo * DAY).toISOString();
  const paths: [what: string, path: string][] = [
    ['GET /api/events?limit=50', '/api/events?limit=50'],
    ['GET /api/events?type=face.stranger,device.message', '/api/events?type=face.stranger,device.message&limit=50'],
    ['GET /api/events?type=device.offline&device=SCALE001 (none)', '/api/events?type=device.offline&device=SCALE001&limit=50'],
    ['GET /api/events?type=face.verified&device=RARE0001', `/api/events?type=face.verified&device=${RARE_TERMINAL}&limit=50`],
    ['GET /api/events?since=&until= (a day, 36 days ago)', `/api/events?since=${at(36)}&until=${at(35)}&limit=50`],
    ['GET /api/deliveries?status=pending', '/api/deliveries?status=pending&limit=50'],
    ['GET /metrics', '/metrics'],
  ];
  const requests: Timed[] = [];
  for (const [what, path] of paths) requests.push(await timeRequests(run, what, path, options.repetitions));
  span.end();
  return {
    waiting: options.waiting,
    recent: options.recent,
    purgeable: run.built.purgeable,
    buildSeconds: run.built.seconds,
    purge,
    ackWhilePurging: distribution(acks),
    requests,
  };
}

function purgeFigures(line: string, seconds: number): NonNullable<StoreScaleFigures['purge']> {
  const fields = JSON.parse(line) as { removed: number; steps?: number; longest_step_ms?: number };
  return { seconds, removed: fields.removed, steps: fields.steps, longestStepMs: fields.longest_step_ms };
}

/** A terminal publishes a small record every PUBLISH_EVERY_MS, each once the last is acknowledged, until `done` settles; the PUBACK times. */
async function publishUntil(brokerUrl: string, done: Promise<unknown>): Promise<number[]> {
  const client = await mqtt.connectAsync(brokerUrl, { clientId: 'store-scale-terminal', reconnectPeriod: 0 });
  const times: number[] = [];
  let finished = false;
  void done.finally(() => (finished = true));
  try {
    for (let i = 0; !finished; i++) {
      const sent = monotonicMs();
      const record = { num: String(i), name: 'Scale', verifiedCode: 0, time: '2026-11-22 10:00:00', personType: '1', liveImageBase64: '/9j/scale' };
      const acked = client.publishAsync('fungxi_SCALEPUB_upLink', JSON.stringify({ cmd: 'verifiedRecordU', data: [record] }), { qos: 1 }).then(() => true);
      // A record still unacknowledged when the purge ends counts with the time it has waited.
      const ok = await Promise.race([acked, done.then(() => false)]);
      times.push(monotonicMs() - sent);
      if (!ok) break;
      await delay(PUBLISH_EVERY_MS);
    }
  } finally {
    client.end(true);
  }
  return times;
}

async function timeRequests(run: StoreScaleRun, what: string, path: string, repetitions: number): Promise<Timed> {
  const samples: number[] = [];
  const status: number[] = [];
  let bytes = 0;
  for (let i = 0; i < repetitions; i++) {
    const started = monotonicMs();
    const response = await fetch(`${run.httpUrl}${path}`, { headers: { authorization: `Bearer ${run.adminToken}` }, signal: AbortSignal.timeout(60_000) });
    const body = await response.arrayBuffer();
    samples.push(monotonicMs() - started);
    status.push(response.status);
    bytes = Math.max(bytes, body.byteLength);
  }
  return { what, latency: distribution(samples), status: [...new Set(status)], bytes };
}
