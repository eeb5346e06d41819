import { setTimeout as delay } from 'node:timers/promises';
import { TimedOut, until, withTimeout } from '../../kit/wait.ts';
import { PROBE_SN } from '../children/bridge.ts';
import { bridgeCounters } from '../measures/bridge-metrics.ts';
import { monotonicMs } from '../measures/clock.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { type Distribution, distribution } from '../measures/stats.ts';
import { connectHeartbeatLoad, type HeartbeatLoad, type HeartbeatShare } from './heartbeats.ts';

// Commands with replies (README §Commands with replies), measured on the
// heartbeat scenario's terminals, which answer every `xxxD` with `xxxU`:
// - round trip: commands sent one by one with ?wait, at an even pace and a
//   few in flight, HTTP request → 200 `replied`, beside the heartbeat round
//   trip of the same terminals in the same seconds;
// - fan-out: one POST /api/commands to every terminal while each beats once
//   a second: accepted, all published, all replied, and what it does to the
//   heartbeats' answer time.
// Every wait has a limit: the scenario ends by itself whatever the bridge does.

/** Serial prefix of the terminals: CMD0001… */
const PREFIX = 'CMD';
/** The command every terminal gets: the one a site sends most. */
const COMMAND = { cmd: 'openDoorD' };
/** The beats start this long after the order goes out, so every process has it before its first beat is due. */
const START_MARGIN_MS = 300;
/** Beats at most (once a second: ten minutes): a run that is never stopped still ends. */
const MAX_BEATS = 600;
/** Every terminal has beaten once and the bridge counts it online within this, or the run fails. */
const ONLINE_LIMIT_MS = 60_000;
/** How often the bridge is asked, while waiting for it: each read of /metrics costs it a few queries. */
const POLL_MS = 250;
/** Every HTTP request beyond ?wait: a bridge that does not answer within this counts as a failed request, not a hang. */
const REQUEST_SLACK_MS = 10_000;
/** From the fan-out's POST to every command replied, at most; then the figures say how far it came. */
const FAN_OUT_LIMIT_MS = 120_000;
/** The beats' answers after the last one, as the load processes wait for them, and the way back. */
const STOP_LIMIT_MS = 15_000;
/** The admin API's (bench children/bridge.ts) token goes in every request. */
export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

export interface CommandOptions {
  url: string;
  httpUrl: string;
  adminToken: string;
  terminals: number;
  intervalMs: number;
  /** The bridge's REPLY_FIELD, which the terminals' replies echo; undefined for none. */
  replyField?: string;
  span?: Span;
}

/** Heartbeat round trips of some beats: what a command load does to the answer time of everything else. */
export interface BeatFigures {
  /** Beats of every terminal counted (beat b is every terminal's heartbeat in the b-th second). */
  beats: number;
  sent: number;
  missing: number;
  roundTrip: Distribution | undefined;
}

interface LoadFigures {
  terminals: number;
  connected: number;
  connectFailed: number;
  connectError?: string;
  connectSeconds: number;
  /** The load processes' CPU time while the commands ran, in % of one core. */
  loadCpuPercent: number | undefined;
}

export interface CommandRoundTripFigures extends LoadFigures {
  part: 'round-trip';
  /** POST /api/devices/{sn}/commands?wait=…, spread over the terminals in turn. */
  commands: number;
  /** The even pace they were sent at, per second, and at most this many unanswered. */
  rate: number;
  inFlight: number;
  waitMs: number;
  /** 200 `replied`; 202 `published` (no reply within the wait); any other answer, by status and error code. */
  replied: number;
  published: number;
  refused: Record<string, number>;
  /** HTTP request → its 200 `replied` answer read whole. */
  roundTrip: Distribution | undefined;
  /** Commands the terminals answered (counted where they answered). */
  answered: number;
  /** The heartbeats of the seconds the commands were sent in. */
  heartbeats: BeatFigures;
}

export interface CommandFanOutFigures extends LoadFigures {
  part: 'fan-out';
  /** The fan-out's items: queued, and failed by error. */
  queued: number;
  failed: Record<string, number>;
  /** POST /api/commands sent → its 202 answer; → the bridge counts every queued one published / replied (read every 250 ms from /metrics). */
  acceptedSeconds: number;
  publishedSeconds: number | undefined;
  repliedSeconds: number | undefined;
  /** → the last reply a terminal sent. */
  lastAnswerSeconds: number | undefined;
  /** facegate_commands_total{outcome="published"|"replied"} at the end, and the terminals' own count of replies. */
  published: number;
  replied: number;
  answered: number;
  /** The limit ran out before every command was replied. */
  timedOut: boolean;
  /** The heartbeats of the seconds before the POST, and of those from it until every command was replied. */
  heartbeatsBefore: BeatFigures;
  heartbeatsDuring: BeatFigures;
}

export type CommandFigures = CommandRoundTripFigures | CommandFanOutFigures;

/**
 * A beating load and what the two parts (and the people scenario) share: its
 * start, the wait until every terminal is online, its end. Serials
 * `prefix`0001…, at most `beats` beats.
 */
export async function beating(
  options: Pick<CommandOptions, 'url' | 'terminals' | 'intervalMs' | 'replyField'>,
  { prefix = PREFIX, beats = MAX_BEATS }: { prefix?: string; beats?: number } = {},
) {
  const load = await connectHeartbeatLoad({
    url: options.url,
    prefix,
    terminals: options.terminals,
    intervalMs: options.intervalMs,
    beats,
    replyField: options.replyField,
  });
  const startAt = monotonicMs() + START_MARGIN_MS;
  const running = load.run(startAt, { byBeat: true, limitMs: START_MARGIN_MS + beats * options.intervalMs + STOP_LIMIT_MS });
  // Awaited by end(); until then a failure must not count as unhandled.
  running.catch(() => {});
  const loadFigures = (cpuPercent: number | undefined): LoadFigures => ({
    terminals: options.terminals,
    connected: load.connected,
    connectFailed: load.connectFailed,
    ...(load.connectError === undefined ? {} : { connectError: load.connectError }),
    connectSeconds: load.connectSeconds,
    loadCpuPercent: cpuPercent,
  });
  return {
    load,
    startAt,
    loadFigures,
    /** The beat under way at monotonic `at`. */
    beatAt: (at: number) => Math.floor((at - startAt) / options.intervalMs),
    /** Until beat b is due. */
    untilBeat: async (b: number) => {
      const wait = startAt + b * options.intervalMs - monotonicMs();
      if (wait > 0) await delay(wait);
    },
    end: async (): Promise<HeartbeatShare[]> => {
      await load.stop();
      return await withTimeout(running, STOP_LIMIT_MS + options.intervalMs, 'the heartbeats ending');
    },
  };
}

/** CPU of the load processes over a stretch, in % of one core. */
export function cpuMeter(load: HeartbeatLoad) {
  const from = { at: performance.now(), cpu: load.cpuSeconds() };
  return () => {
    const percent = ((load.cpuSeconds() - from.cpu) / ((performance.now() - from.at) / 1000)) * 100;
    return Number.isFinite(percent) ? percent : undefined;
  };
}

/** The round trips of beats `from` to `to` (inclusive) of every share. */
export function beatFigures(shares: HeartbeatShare[], from: number, to: number, connected: number): BeatFigures {
  const samples: number[] = [];
  let beats = 0;
  for (let b = Math.max(0, from); b <= to; b++) {
    if (!shares.every((s) => s.byBeat && b < s.byBeat.length)) break;
    beats++;
    for (const share of shares) samples.push(...share.byBeat![b]);
  }
  return { beats, sent: beats * connected, missing: beats * connected - samples.length, roundTrip: distribution(samples) };
}

/**
 * `terminals` answer commands and beat; once the bridge counts them all
 * online, `commands` POSTs with ?wait go out at `rate` a second, at most
 * `inFlight` unanswered, to the terminals in turn.
 */
export async function runCommandRoundTrip(
  options: CommandOptions & { commands: number; rate: number; inFlight: number; waitMs: number },
): Promise<CommandRoundTripFigures> {
  const run = await beating(options);
  try {
    const online = await until(
      async () => {
        const listed = await onlineSerials(options.httpUrl, options.adminToken);
        return listed.length >= run.load.connected ? listed : undefined;
      },
      POLL_MS,
      { ms: ONLINE_LIMIT_MS, what: `the bridge counting ${run.load.connected} terminals online` },
    );
    // The commands begin with a beat, so the heartbeats of their seconds are whole beats.
    const firstBeat = run.beatAt(monotonicMs()) + 1;
    await run.untilBeat(firstBeat);
    const span = options.span ?? noSpan;
    span.start();
    const cpu = cpuMeter(run.load);
    const sent = await sendCommands(options, online);
    const loadCpuPercent = cpu();
    span.end();
    const lastBeat = run.beatAt(monotonicMs());
    await run.untilBeat(lastBeat + 1);
    const shares = await run.end();

    const replied = sent.filter((s) => s.outcome === 'replied');
    const refused: Record<string, number> = {};
    for (const s of sent) if (s.outcome !== 'replied' && s.outcome !== 'published') refused[s.outcome] = (refused[s.outcome] ?? 0) + 1;
    return {
      part: 'round-trip',
      ...run.loadFigures(loadCpuPercent),
      commands: options.commands,
      rate: options.rate,
      inFlight: options.inFlight,
      waitMs: options.waitMs,
      replied: replied.length,
      published: sent.filter((s) => s.outcome === 'published').length,
      refused,
      roundTrip: distribution(replied.map((s) => s.ms)),
      answered: shares.reduce((sum, s) => sum + s.commandsAnswered, 0),
      heartbeats: beatFigures(shares, firstBeat, lastBeat, run.load.connected),
    };
  } finally {
    await run.load.dispose();
  }
}

/** Serials of the scenario's terminals that the bridge lists online. */
async function onlineSerials(httpUrl: string, token: string): Promise<string[]> {
  const serials: string[] = [];
  let cursor: string | null = null;
  // 15,000 terminals at most (options.ts), 500 a page: a bridge that pages forever is cut off.
  for (let page = 0; page < 40; page++) {
    const query = `online=true&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await request(`GET /api/devices?${query}`, `${httpUrl}/api/devices?${query}`, {
      headers: auth(token),
      signal: AbortSignal.timeout(REQUEST_SLACK_MS),
    });
    if (!response.ok) throw new Error(`GET /api/devices?${query}: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { items: { sn: string }[]; next_cursor: string | null };
    serials.push(...body.items.map((item) => item.sn).filter((sn) => sn.startsWith(PREFIX)));
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  return serials;
}

type SentCommand = { outcome: string; ms: number };

/** The commands, paced and bounded: each request has its own timeout, so this ends within commands ÷ rate plus one timeout. */
async function sendCommands(
  options: { httpUrl: string; adminToken: string; commands: number; rate: number; inFlight: number; waitMs: number },
  serials: string[],
) {
  const { httpUrl, adminToken, commands, rate, inFlight, waitMs } = options;
  const sent: SentCommand[] = [];
  const pending = new Set<Promise<void>>();
  const startedAt = monotonicMs();
  for (let i = 0; i < commands; i++) {
    const wait = startedAt + (i * 1000) / rate - monotonicMs();
    if (wait >= 1) await delay(wait);
    while (pending.size >= inFlight) await Promise.race(pending);
    const sn = serials[i % serials.length];
    const request = sendCommand(httpUrl, adminToken, sn, waitMs).then((result) => {
      sent.push(result);
      pending.delete(request);
    });
    pending.add(request);
  }
  await Promise.all(pending);
  return sent;
}

async function sendCommand(httpUrl: string, token: string, sn: string, waitMs: number): Promise<SentCommand> {
  const at = performance.now();
  try {
    const response = await fetch(`${httpUrl}/api/devices/${sn}/commands?wait=${waitMs}ms`, {
      method: 'POST',
      headers: { ...auth(token), 'content-type': 'application/json' },
      body: JSON.stringify(COMMAND),
      signal: AbortSignal.timeout(waitMs + REQUEST_SLACK_MS),
    });
    const body = (await response.json().catch(() => ({}))) as { status?: string; error?: string };
    const ms = performance.now() - at;
    if (response.status === 200 && body.status === 'replied') return { outcome: 'replied', ms };
    if (response.status === 202 && body.status === 'published') return { outcome: 'published', ms };
    return { outcome: `${response.status} ${body.error ?? body.status ?? ''}`.trim(), ms };
  } catch (err) {
    return { outcome: (err as Error).name === 'TimeoutError' ? 'no answer' : (err as Error).message, ms: performance.now() - at };
  }
}

/**
 * The benchmark's own probe forgotten, so that "all" is the terminals alone,
 * `terminals` beat and answer commands; once the bridge counts them online,
 * `beforeBeats` beats go by, then one POST /api/commands {"devices":"all"}.
 */
export async function runCommandFanOut(options: CommandOptions & { beforeBeats: number }): Promise<CommandFanOutFigures> {
  // Before the load: a writer job that would queue behind 10,000 terminals turning online.
  await forgetProbe(options.httpUrl, options.adminToken);
  const run = await beating(options);
  try {
    await until(async () => ((await bridgeCounters(options.httpUrl))?.terminalsOnline ?? 0) >= run.load.connected, POLL_MS, {
      ms: ONLINE_LIMIT_MS,
      what: `the bridge counting ${run.load.connected} terminals online`,
    });
    const postBeat = run.beatAt(monotonicMs()) + 1 + options.beforeBeats;
    await run.untilBeat(postBeat);

    const span = options.span ?? noSpan;
    span.start();
    const cpu = cpuMeter(run.load);
    const postAt = monotonicMs();
    const response = await request('POST /api/commands', `${options.httpUrl}/api/commands`, {
      method: 'POST',
      headers: { ...auth(options.adminToken), 'content-type': 'application/json' },
      body: JSON.stringify({ devices: 'all', command: COMMAND }),
      signal: AbortSignal.timeout(REQUEST_SLACK_MS * 3),
    });
    const acceptedAt = monotonicMs();
    if (response.status !== 202) throw new Error(`POST /api/commands: ${response.status} ${await response.text()}`);
    const { items } = (await response.json()) as { items: { status: string; error: string | null }[] };
    const queued = items.filter((item) => item.status === 'queued').length;
    const failed: Record<string, number> = {};
    for (const item of items) if (item.status !== 'queued') failed[item.error ?? item.status] = (failed[item.error ?? item.status] ?? 0) + 1;

    // The bridge's own counts, from /metrics: this bridge has sent no other command.
    let publishedAt: number | undefined;
    let repliedAt: number | undefined;
    let counts = { published: 0, replied: 0 };
    let timedOut = false;
    try {
      await until(
        async () => {
          const at = monotonicMs();
          const commands = (await bridgeCounters(options.httpUrl))?.commands;
          if (commands) counts = { published: commands.published ?? 0, replied: commands.replied ?? 0 };
          if (publishedAt === undefined && counts.published >= queued) publishedAt = at;
          if (counts.replied >= queued) repliedAt = at;
          return repliedAt !== undefined;
        },
        POLL_MS,
        { ms: FAN_OUT_LIMIT_MS, what: `${queued} commands replied` },
      );
    } catch (err) {
      if (!(err instanceof TimedOut)) throw err;
      timedOut = true;
      // How far it came: a read that failed under the load (it has 5 s) left the counts of the one before.
      const last = (await bridgeCounters(options.httpUrl))?.commands;
      if (last) counts = { published: last.published ?? 0, replied: last.replied ?? 0 };
    }
    const loadCpuPercent = cpu();
    span.end();
    // The beats during the fan-out run until the one it ended in is over.
    const lastBeat = run.beatAt(repliedAt ?? monotonicMs());
    await run.untilBeat(lastBeat + 1);
    const shares = await run.end();
    const lastAnswerAt = Math.max(...shares.map((s) => s.lastCommandAt ?? -Infinity));
    const seconds = (at: number | undefined) => (at === undefined || !Number.isFinite(at) ? undefined : (at - postAt) / 1000);
    return {
      part: 'fan-out',
      ...run.loadFigures(loadCpuPercent),
      queued,
      failed,
      acceptedSeconds: (acceptedAt - postAt) / 1000,
      publishedSeconds: seconds(publishedAt),
      repliedSeconds: seconds(repliedAt),
      lastAnswerSeconds: seconds(lastAnswerAt),
      published: counts.published,
      replied: counts.replied,
      answered: shares.reduce((sum, s) => sum + s.commandsAnswered, 0),
      timedOut,
      // Not beat 0: each terminal's first heartbeat marks it online, a cost of its own (the heartbeat scenario's 1st p99).
      heartbeatsBefore: beatFigures(shares, Math.max(1, postBeat - options.beforeBeats), postBeat - 1, run.load.connected),
      heartbeatsDuring: beatFigures(shares, postBeat, lastBeat, run.load.connected),
    };
  } finally {
    await run.load.dispose();
  }
}

/** The probe that saw the bridge answer a heartbeat (children/bridge.ts) is gone: forgotten, it is not one of "all". */
export async function forgetProbe(httpUrl: string, token: string): Promise<void> {
  const response = await request(`DELETE /api/devices/${PROBE_SN}`, `${httpUrl}/api/devices/${PROBE_SN}`, {
    method: 'DELETE',
    headers: auth(token),
    signal: AbortSignal.timeout(REQUEST_SLACK_MS),
  });
  await response.body?.cancel();
  if (response.status !== 204 && response.status !== 404) throw new Error(`DELETE /api/devices/${PROBE_SN}: ${response.status}`);
}

/** fetch, whose failure names the request (a timeout's own message does not). */
export async function request(what: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
}
