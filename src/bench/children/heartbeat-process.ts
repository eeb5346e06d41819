import { createServer } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { serials } from '../../kit/terminal.ts';
import { monotonicMs } from '../measures/clock.ts';
import type { HeartbeatShare, HeartbeatWorkerConfig, HeartbeatWorkerReady } from '../scenarios/heartbeats.ts';
import { exitWithParent, listenOnLoopback } from './child.ts';
import { connectHeartbeatTerminal, type HeartbeatTerminal } from './heartbeat-terminal.ts';

// One share of the heartbeat load, run by heartbeats.ts as one of a
// few processes of its own: ten thousand MQTT connections and their
// round trips in the benchmark's process would make the figures those of
// its event loop. Terminal j of N (this process has every j ≡ index mod
// processes) beats at j/N of the interval, so the whole load is even across
// processes and time. A control port starts the beats at a moment given on
// the machine-wide monotonic clock (clock.ts), the same for every process.
// The commands scenario runs the same load with the beats open-ended (up to
// `beats`, until POST /stop) and its terminals answering commands.

const config = JSON.parse(process.argv[2] ?? '{}') as HeartbeatWorkerConfig;
/** A heartD later than this is counted missing; its heartU stops waiting so the next answer pairs with the right one. */
const ANSWER_LIMIT_MS = 5000;
/** Time for the last answers after the last heartbeat. */
const GRACE_MS = 3000;
const CONNECT_TIMEOUT_MS = 10_000;

const url = new URL(config.url);
const all = serials(config.prefix, config.terminals);
const mine: { sn: string; phaseMs: number }[] = [];
for (let j = config.index; j < config.terminals; j += config.processes) mine.push({ sn: all[j], phaseMs: (j * config.intervalMs) / config.terminals });

/**
 * Connects (and subscribes) every terminal of this share, beginning at most
 * `connectsPerSecond` a second with at most `connectsInFlight` unanswered: a
 * site's terminals come online over time, and ten thousand SYNs at once would
 * measure the listen backlog. A terminal that fails is left out and counted.
 */
async function connectAll(): Promise<{ terminals: (HeartbeatTerminal | undefined)[]; failed: number; error: string | undefined }> {
  const terminals: (HeartbeatTerminal | undefined)[] = new Array(mine.length).fill(undefined);
  const gapMs = 1000 / config.connectsPerSecond;
  const startedAt = monotonicMs();
  let inFlight = 0;
  let failed = 0;
  let error: string | undefined;
  let freed: (() => void) | undefined;
  const pending: Promise<void>[] = [];
  for (let k = 0; k < mine.length; k++) {
    const wait = startedAt + k * gapMs - monotonicMs();
    if (wait >= 1) await delay(wait);
    while (inFlight >= config.connectsInFlight) await new Promise<void>((resolve) => (freed = resolve));
    inFlight++;
    pending.push(
      connectHeartbeatTerminal(url, mine[k].sn, CONNECT_TIMEOUT_MS, config.replyField)
        .then(
          (terminal) => {
            terminals[k] = terminal;
          },
          (err: Error) => {
            failed++;
            error ??= err.message;
          },
        )
        .finally(() => {
          inFlight--;
          freed?.();
          freed = undefined;
        }),
    );
  }
  await Promise.all(pending);
  return { terminals, failed, error };
}

/** Commands the terminals answered, and when the last one was (monotonic ms). */
let commandsAnswered = 0;
let lastCommandAt: number | undefined;
/** Set by POST /stop: the beats end before the next one is sent. */
let stopping = false;

/**
 * Every connected terminal beats `beats` times from `startAt` (monotonic ms),
 * each at its phase of the interval, or until stopped. With `byBeat` the
 * round trips are also kept by beat (beat b is sent in the b-th interval).
 */
async function run(terminals: (HeartbeatTerminal | undefined)[], startAt: number, byBeat: boolean): Promise<HeartbeatShare> {
  const first: number[] = [];
  const later: number[] = [];
  const beats: number[][] = [];
  const waiting: number[][] = terminals.map(() => []);
  // The beat of each heartU waiting, beside it, when round trips are kept by beat.
  const waitingBeat: number[][] = terminals.map(() => []);
  // A terminal's first heartU costs the bridge more (it marks the terminal online): its answer is kept apart.
  const firstSentAt: number[] = terminals.map(() => NaN);
  let sent = 0;
  let late = 0;
  terminals.forEach((terminal, k) => {
    const queue = waiting[k];
    terminal?.onHeartD((at) => {
      // heartD names no heartU: over one connection answers come in order, so it answers the oldest one waiting.
      while (queue.length > 0 && at - queue[0] > ANSWER_LIMIT_MS) {
        queue.shift();
        waitingBeat[k].shift();
      }
      const sentAt = queue.shift();
      const beat = waitingBeat[k].shift();
      if (sentAt === undefined) late++;
      else {
        (sentAt === firstSentAt[k] ? first : later).push(at - sentAt);
        if (beat !== undefined) beats[beat].push(at - sentAt);
      }
    });
  });

  let maxSendLagMs = 0;
  let beatsSent = 0;
  for (let beat = 0; beat < config.beats && !stopping; beat++) {
    beatsSent++;
    if (byBeat) beats.push([]);
    for (let k = 0; k < terminals.length; k++) {
      const terminal = terminals[k];
      if (!terminal) continue;
      const due = startAt + beat * config.intervalMs + mine[k].phaseMs;
      const wait = due - monotonicMs();
      if (wait >= 1) await delay(wait);
      maxSendLagMs = Math.max(maxSendLagMs, monotonicMs() - due);
      // Round trips are timed on performance.now(), the clock heartD arrivals are read on.
      const now = performance.now();
      if (beat === 0) firstSentAt[k] = now;
      waiting[k].push(now);
      if (byBeat) waitingBeat[k].push(beat);
      sent++;
      terminal.beat();
    }
  }
  const graceEnd = performance.now() + GRACE_MS;
  while (performance.now() < graceEnd && waiting.some((q) => q.length > 0)) await delay(20);
  // Microseconds are all the precision the figures show; the JSON is a third as long.
  const micro = (samples: number[]) => samples.map((ms) => Math.round(ms * 1000) / 1000);
  return {
    sent,
    late,
    first: micro(first),
    later: micro(later),
    maxSendLagMs,
    beatsSent,
    commandsAnswered,
    lastCommandAt,
    ...(byBeat ? { byBeat: beats.map(micro) } : {}),
  };
}

exitWithParent();

const connectStartedAt = monotonicMs();
const { terminals, failed, error } = await connectAll();
const connectedAt = monotonicMs();
let running = false;
for (const terminal of terminals) {
  terminal?.onCommand(() => {
    commandsAnswered++;
    lastCommandAt = monotonicMs();
  });
}

const control = createServer((req, res) => {
  const answer = (status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (`${req.method} ${req.url}` === 'POST /stop') {
      stopping = true;
      return answer(200, { stopping });
    }
    if (`${req.method} ${req.url}` !== 'POST /run') return answer(404, { error: `no route ${req.method} ${req.url}` });
    if (running) return answer(409, { error: 'already running' });
    running = true;
    const { startAt, byBeat } = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { startAt?: number; byBeat?: boolean };
    if (typeof startAt !== 'number') return answer(400, { error: 'startAt (monotonic ms) is required' });
    // Answered when the beats are over: the caller's request is the wait.
    run(terminals, startAt, byBeat === true).then(
      (share) => answer(200, share),
      (err: Error) => answer(500, { error: err.message }),
    );
  });
});
const controlPort = await listenOnLoopback(control);
const ready: HeartbeatWorkerReady = { controlPort, clock: monotonicMs(), connectStartedAt, connectedAt, connected: mine.length - failed, failed, error };
// heartbeats.ts waits for this line; `clock` lets it check that both processes read the same monotonic clock.
process.stdout.write(`heartbeats ready ${JSON.stringify(ready)}\n`);
