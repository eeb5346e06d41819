import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { stampJpeg } from '../../kit/jpeg.ts';
import { encodeLoadRecord } from '../../kit/records.ts';
import { connectTerminal, serials, type Terminal, UPLINK } from '../../kit/terminal.ts';
import { TimedOut, until, withTimeout } from '../../kit/wait.ts';
import { bridgeCounters } from '../measures/bridge-metrics.ts';
import { monotonicMs } from '../measures/clock.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { type Distribution, distribution } from '../measures/stats.ts';
import { auth, type BeatFigures, beatFigures, beating, cpuMeter, forgetProbe, request } from './commands.ts';

// People on the terminals (README §People on the terminals), measured while
// the terminals go on with their everyday work: the heartbeat scenario's
// terminals (raw sockets in load processes of their own, beating once a
// second, answering every `xxxD` with `xxxU` code 0) and a few terminals
// publishing face records at an even pace, as the delivery scenarios' do,
// which answer enrolments too (the kit's roster). Then many people are PUT
// with "devices":"all" and a photo each, and the bridge syncs every one to
// every terminal through its command queue, one enrolment in flight per
// terminal, paced by COMMAND_RATE: how long until every row is `applied`,
// and what the sync does to the heartbeats' answer time and to the records'
// acknowledgements. Every wait has a limit: the scenario ends by itself
// whatever the bridge does, and says how far it came.

/** Serials of the beating terminals (PPL0001…) and of those sending records (PPLREC01…). */
const PREFIX = 'PPL';
const RECORD_PREFIX = 'PPLREC';
/** Every terminal has sent a message and the bridge counts it online within this, or the run fails. */
const ONLINE_LIMIT_MS = 60_000;
/** How often /metrics is read while waiting: facegate_person_sync is five rows kept by triggers, cheap to read. */
const POLL_MS = 500;
/** Every PUT: a bridge that does not answer within this counts as a failed request, not a hang. */
const REQUEST_LIMIT_MS = 10_000;
/** After the records stop, PUBACKs still missing are counted as failed after this long. */
const ACK_GRACE_MS = 10_000;
/** The beats' answers after the last one and the way back, beyond the limits below. */
const SLACK_MS = 30_000;

export interface PeopleOptions {
  url: string;
  httpUrl: string;
  adminToken: string;
  /** Beating terminals, from the heartbeat load processes. */
  terminals: number;
  intervalMs: number;
  /** People PUT, with at most `inFlight` requests unanswered. */
  people: number;
  inFlight: number;
  /** The photo every person gets, stamped so that no two are the same. */
  photo: Buffer;
  /** Terminals sending records, and records a second all together; `image` with every record, stamped. */
  recordTerminals: number;
  recordRate: number;
  image: Buffer;
  /** Beats measured before the first PUT. */
  beforeBeats: number;
  /** From the first PUT until every row applied, at most. */
  limitMs: number;
  /** The bridge's COMMAND_RATE per second: with the terminals, the pace no sync can beat. */
  commandRate: number;
  span?: Span;
  /** A line on how far it came, for a run of minutes. */
  progress?: (line: string) => void;
}

export interface RecordFigures {
  /** Records acknowledged (PUBACK) a second, and publish → PUBACK, of the records sent in the stretch. */
  sent: number;
  ackedPerSecond: number | undefined;
  ack: Distribution | undefined;
}

export interface PeopleFigures {
  terminals: number;
  connected: number;
  connectFailed: number;
  connectError?: string;
  recordTerminals: number;
  /** Every terminal the sync is for: the beating ones connected and the record ones. */
  syncTerminals: number;
  people: number;
  /** PUTs answered 202, and the others by status and error code. */
  put: number;
  refused: Record<string, number>;
  /** Rows to apply: people PUT × syncTerminals. */
  rows: number;
  /** First PUT sent → last PUT answered; → the bridge counting every row applied (read every 500 ms from /metrics). */
  putSeconds: number;
  appliedSeconds: number | undefined;
  /** Rows applied a second, first PUT → all applied (or → the limit). */
  enrolmentsPerSecond: number | undefined;
  /** syncTerminals × COMMAND_RATE: the most a second the queue lets out. */
  pacePerSecond: number;
  /** facegate_person_sync{status} at the end. */
  sync: Record<string, number>;
  /** Enrolments the terminals answered: the beating ones (counted in the load processes) and the record ones (their rosters). */
  answered: number;
  timedOut: boolean;
  recordRate: number;
  /** Records of the stretch before the first PUT, and of the sync (first PUT → all applied). */
  recordsBefore: RecordFigures;
  recordsDuring: RecordFigures;
  recordsFailed: number;
  heartbeatsBefore: BeatFigures;
  heartbeatsDuring: BeatFigures;
  loadCpuPercent: number | undefined;
}

export async function runPeople(options: PeopleOptions): Promise<PeopleFigures> {
  const progress = options.progress ?? (() => {});
  // Before the load: forgotten, the probe is not one of "all", whose rows would wait for it for ever.
  await forgetProbe(options.httpUrl, options.adminToken);
  // Beats at most: enough for every limit below, so a run that is never stopped still ends.
  const beats = Math.ceil((ONLINE_LIMIT_MS + options.limitMs) / options.intervalMs) + options.beforeBeats + 2;
  const run = await beating(options, { prefix: PREFIX, beats });
  let records: Awaited<ReturnType<typeof recordLoad>> | undefined;
  try {
    records = await recordLoad(options);
    const syncTerminals = run.load.connected + options.recordTerminals;
    progress(`  ${run.load.connected} terminals beating, ${options.recordTerminals} sending records; waiting for the bridge to count them online`);
    await until(async () => ((await bridgeCounters(options.httpUrl))?.terminalsOnline ?? 0) >= syncTerminals, 250, {
      ms: ONLINE_LIMIT_MS,
      what: `the bridge counting ${syncTerminals} terminals online`,
    });
    const firstBeat = run.beatAt(monotonicMs()) + 1;
    const putBeat = firstBeat + options.beforeBeats;
    await run.untilBeat(firstBeat);
    const beforeAt = monotonicMs();
    await run.untilBeat(putBeat);

    const span = options.span ?? noSpan;
    span.start();
    const cpu = cpuMeter(run.load);
    const putAt = monotonicMs();
    const deadline = putAt + options.limitMs;
    const puts = await putPeople(options, deadline);
    const putDoneAt = monotonicMs();
    const rows = puts.put * syncTerminals;
    progress(`  ${puts.put} people put in ${((putDoneAt - putAt) / 1000).toFixed(1)} s; waiting for ${rows} rows applied`);

    let appliedAt: number | undefined;
    let sync: Record<string, number> = {};
    let timedOut = false;
    try {
      await until(
        async () => {
          const at = monotonicMs();
          const counts = (await bridgeCounters(options.httpUrl))?.personSync;
          if (counts) sync = counts;
          if ((sync.applied ?? 0) >= rows) appliedAt = at;
          return appliedAt !== undefined;
        },
        POLL_MS,
        { ms: Math.max(0, deadline - monotonicMs()), what: `${rows} rows applied` },
      );
    } catch (err) {
      if (!(err instanceof TimedOut)) throw err;
      timedOut = true;
      const last = (await bridgeCounters(options.httpUrl))?.personSync;
      if (last) sync = last;
    }
    const endAt = appliedAt ?? monotonicMs();
    const loadCpuPercent = cpu();
    span.end();
    const lastBeat = run.beatAt(endAt);
    await run.untilBeat(lastBeat + 1);
    const shares = await run.end();
    const sent = await records.stop();

    const seconds = (endAt - putAt) / 1000;
    const ofStretch = (from: number, to: number): RecordFigures => {
      const inside = sent.filter((r) => r.sentAt >= from && r.sentAt < to);
      const acked = inside.filter((r) => r.ackedAt !== undefined);
      const s = (to - from) / 1000;
      return {
        sent: inside.length,
        ackedPerSecond: s > 0 ? acked.length / s : undefined,
        ack: distribution(acked.map((r) => r.ackedAt! - r.sentAt)),
      };
    };
    return {
      terminals: options.terminals,
      connected: run.load.connected,
      connectFailed: run.load.connectFailed,
      ...(run.load.connectError === undefined ? {} : { connectError: run.load.connectError }),
      recordTerminals: options.recordTerminals,
      syncTerminals,
      people: options.people,
      put: puts.put,
      refused: puts.refused,
      rows,
      putSeconds: (putDoneAt - putAt) / 1000,
      appliedSeconds: appliedAt === undefined ? undefined : seconds,
      enrolmentsPerSecond: seconds > 0 ? (sync.applied ?? 0) / seconds : undefined,
      pacePerSecond: syncTerminals * options.commandRate,
      sync,
      answered: shares.reduce((sum, s) => sum + s.commandsAnswered, 0) + records.answered(),
      timedOut,
      recordRate: options.recordRate,
      recordsBefore: ofStretch(beforeAt, putAt),
      recordsDuring: ofStretch(putAt, endAt),
      recordsFailed: sent.filter((r) => r.failed).length,
      heartbeatsBefore: beatFigures(shares, firstBeat, putBeat - 1, run.load.connected),
      heartbeatsDuring: beatFigures(shares, putBeat, lastBeat, run.load.connected),
      loadCpuPercent,
    };
  } finally {
    await records?.dispose();
    await run.load.dispose();
  }
}

/** The people, `inFlight` PUTs at a time, each with its own photo; none is sent after the deadline (monotonic ms). */
async function putPeople(options: PeopleOptions, deadline: number) {
  const label = `facegate bench person ${randomBytes(4).toString('hex')}`;
  let put = 0;
  const refused: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < options.people && monotonicMs() < deadline) {
      const i = next++;
      const num = `BP${String(i + 1).padStart(6, '0')}`;
      // Built for its request alone: a thousand bodies of ~43 KB are not held at once.
      const body = JSON.stringify({ name: `Bench Person ${i + 1}`, photo: stampJpeg(options.photo, `${label} #${i}`).toString('base64'), devices: 'all' });
      const outcome = await putPerson(options, num, body);
      if (outcome === 'put') put++;
      else refused[outcome] = (refused[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  return { put, refused };
}

async function putPerson(options: PeopleOptions, num: string, body: string): Promise<string> {
  try {
    const response = await request(`PUT /api/people/${num}`, `${options.httpUrl}/api/people/${num}`, {
      method: 'PUT',
      headers: { ...auth(options.adminToken), 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
    });
    const answer = (await response.json().catch(() => ({}))) as { error?: string };
    return response.status === 202 ? 'put' : `${response.status} ${answer.error ?? ''}`.trim();
  } catch (err) {
    return (err as Error).message.includes('TimeoutError') || (err as Error).message.includes('aborted') ? 'no answer' : (err as Error).message;
  }
}

type SentRecord = { sentAt: number; ackedAt: number | undefined; failed: boolean };

/**
 * Terminals that publish face records at QoS 1, one every 1/rate s from
 * now on, terminal by terminal in turn, until stopped, and answer their
 * enrolments as a terminal does (the kit's roster, which keeps no photo).
 * Each payload is built just before its slot: building one is far quicker
 * than the gap between two.
 */
async function recordLoad(options: PeopleOptions) {
  const sns = serials(RECORD_PREFIX, options.recordTerminals);
  const settled = await Promise.allSettled(
    sns.map((sn) =>
      withTimeout(
        connectTerminal(options.url, sn, { clientId: sn, clean: true, keepalive: 30, reconnectPeriod: 1000, answer: {} }),
        15_000,
        `connecting ${sn}`,
      ),
    ),
  );
  const terminals = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const closeAll = (all: Terminal[]) => Promise.allSettled(all.map((t) => withTimeout(t.stop(0), 5000, 'disconnecting')));
  if (failed) {
    await closeAll(terminals);
    throw failed.reason;
  }
  const topics = sns.map((sn) => UPLINK.topicOf(sn));
  const runId = randomBytes(4).toString('hex');
  const gapMs = 1000 / options.recordRate;
  // At most as many as the run can last: a caller that never stops it still ends.
  const most = Math.ceil(((ONLINE_LIMIT_MS + options.limitMs + SLACK_MS) / 1000 + options.beforeBeats) * options.recordRate);
  const sent: SentRecord[] = [];
  let stopping = false;
  const startAt = monotonicMs();
  const sending = (async () => {
    for (let i = 0; i < most && !stopping; i++) {
      const payload = encodeLoadRecord(i, new Date(), { jpeg: options.image, label: `facegate bench ${runId}` });
      const wait = startAt + i * gapMs - monotonicMs();
      if (wait >= 1) await delay(wait);
      if (stopping) break;
      const record: SentRecord = { sentAt: monotonicMs(), ackedAt: undefined, failed: false };
      sent.push(record);
      terminals[i % terminals.length].client.publish(topics[i % terminals.length], payload, { qos: 1 }, (err) => {
        if (err) record.failed = true;
        else record.ackedAt = monotonicMs();
      });
    }
  })();
  return {
    /** Stops sending; resolves with every record sent once each has its PUBACK (or the grace ran out). */
    async stop(): Promise<SentRecord[]> {
      stopping = true;
      await sending;
      await until(() => sent.every((r) => r.ackedAt !== undefined || r.failed), 50, { ms: ACK_GRACE_MS, what: 'PUBACKs' }).catch(() => {});
      for (const r of sent) if (r.ackedAt === undefined) r.failed = true;
      return sent;
    },
    /** Enrolments (and removals) these terminals answered: the people they hold. */
    answered: () => terminals.reduce((sum, t) => sum + t.roster().size, 0),
    async dispose(): Promise<void> {
      stopping = true;
      await closeAll(terminals);
    },
  };
}
