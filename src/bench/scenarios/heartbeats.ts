import { type Child, startChild } from '../../kit/child-process.ts';
import { withTimeout } from '../../kit/wait.ts';
import { moduleUrl, nodeArgs } from '../../lib/module-url.ts';
import { assertEphemeralPorts, assertOpenFiles } from '../children/limits.ts';
import { monotonicMs } from '../measures/clock.ts';
import { cpuSeconds } from '../measures/cpu.ts';
import { noSpan, type Span } from '../measures/span.ts';
import { type Distribution, distribution } from '../measures/stats.ts';

const ENTRY = moduleUrl('../children/heartbeat-process', import.meta.url);
/**
 * Terminals per load process: 10,000 terminals beating once a second cost the
 * two processes about 40 % of one core together, so neither event loop queues
 * the answers it times, and a 2-core machine keeps most of its CPU for the
 * broker and the bridge.
 */
const TERMINALS_PER_PROCESS = 5000;
/** New connections a second, all processes together (10,000 terminals in 5 s), and unanswered at once in each process. */
const CONNECTS_PER_SECOND = 2000;
const CONNECTS_IN_FLIGHT = 100;
/** Node's start-up, and a connection that takes its full timeout, on top of the paced connecting. */
const READY_SLACK_MS = 30_000;
/** The beats start this long after the order goes out, so every process has it before its first beat is due. */
const START_MARGIN_MS = 300;
/** A run ends by then after its last beat: the processes' own grace (3 s) and the answers' way back. */
const RUN_SLACK_MS = 15_000;
/** Both processes print and read their clocks within this much of each other, or they are not the same clock. */
const CLOCK_SLACK_MS = 5;

export interface HeartbeatOptions {
  url: string;
  terminals: number;
  seconds: number;
  intervalMs: number;
  span?: Span;
}

export interface HeartbeatFigures {
  terminals: number;
  /** Load processes the terminals were spread over. */
  processes: number;
  /** Terminals connected and subscribed; the others are left out of the load. */
  connected: number;
  connectFailed: number;
  /** The first failure's message. */
  connectError?: string;
  /** First connection begun → the last terminal connected and subscribed, paced at CONNECTS_PER_SECOND. */
  connectSeconds: number;
  connectsPerSecond: number;
  seconds: number;
  intervalMs: number;
  sent: number;
  answered: number;
  missing: number;
  /** heartD with no heartU waiting for it (answered after the wait gave up on it). */
  late: number;
  /** Publish → heartD on the same terminal's downLink, every heartbeat. */
  roundTrip: Distribution | undefined;
  /** The same, of each terminal's first heartbeat alone (the bridge marks the terminal online) and of all the others. */
  firstBeat: Distribution | undefined;
  laterBeats: Distribution | undefined;
  /** How far behind its schedule a load process sent a heartbeat at worst: large values mean the figures measure the benchmark itself. */
  maxSendLagMs: number;
  /** The load processes' CPU time together while the beats ran, in % of one core. */
  loadCpuPercent: number | undefined;
}

/** What heartbeat-process.ts is started with (one JSON argument). */
export interface HeartbeatWorkerConfig {
  url: string;
  /** Serials are serials(prefix, terminals); this process has every j with j ≡ index (mod processes). */
  prefix: string;
  terminals: number;
  processes: number;
  index: number;
  intervalMs: number;
  beats: number;
  connectsPerSecond: number;
  connectsInFlight: number;
  /** The bridge's REPLY_FIELD: each command's reply echoes it; undefined for none. */
  replyField?: string;
}

/** Its `heartbeats ready` line: connecting is over, the control port takes POST /run. */
export interface HeartbeatWorkerReady {
  controlPort: number;
  /** Monotonic ms when it printed the line. */
  clock: number;
  connectStartedAt: number;
  connectedAt: number;
  connected: number;
  failed: number;
  error: string | undefined;
}

/** POST /run's answer: round trips in ms, of each terminal's first heartbeat and of the others. */
export interface HeartbeatShare {
  sent: number;
  late: number;
  first: number[];
  later: number[];
  maxSendLagMs: number;
  /** Beats begun: `beats`, or fewer when stopped. */
  beatsSent: number;
  /** Commands the share's terminals answered over the process's life, and the monotonic ms of the last answer. */
  commandsAnswered: number;
  lastCommandAt: number | undefined;
  /** With byBeat: the round trips of beat b (every terminal's b-th heartbeat) at b. */
  byBeat?: number[][];
}

/** Terminals connected in their load processes, ready to beat. */
export interface HeartbeatLoad {
  processes: number;
  connected: number;
  connectFailed: number;
  connectError: string | undefined;
  connectSeconds: number;
  /** Beats at most `beats` times from `startAt` (monotonic ms); resolves with every process's share once they are over or stopped. */
  run(startAt: number, options?: { byBeat?: boolean; limitMs?: number }): Promise<HeartbeatShare[]>;
  /** Ends the beats before the next one; run() resolves after the last answers' grace. */
  stop(): Promise<void>;
  /** The load processes' CPU seconds together so far. */
  cpuSeconds(): number;
  /** Their connections close with them: the broker sees them go at once, as after a site's power cut. */
  dispose(): Promise<void>;
}

/**
 * N terminals, each sending heartU at QoS 0 once per interval, their phases
 * spread evenly over the interval so the load is steady rather than N at
 * once, from a few processes of their own (heartbeat-process.ts).
 */
export async function runHeartbeats(options: HeartbeatOptions): Promise<HeartbeatFigures> {
  const beats = Math.max(1, Math.round((options.seconds * 1000) / options.intervalMs));
  const load = await connectHeartbeatLoad({ ...options, prefix: 'HB', beats });
  try {
    const span = options.span ?? noSpan;
    span.start();
    const cpuFrom = { at: performance.now(), cpu: load.cpuSeconds() };
    const startAt = monotonicMs() + START_MARGIN_MS;
    const shares = await load.run(startAt);
    const cpuTo = { at: performance.now(), cpu: load.cpuSeconds() };
    span.end();

    const first = shares.flatMap((s) => s.first);
    const later = shares.flatMap((s) => s.later);
    const samples = [...first, ...later];
    const sent = shares.reduce((sum, s) => sum + s.sent, 0);
    const loadCpuPercent = ((cpuTo.cpu - cpuFrom.cpu) / ((cpuTo.at - cpuFrom.at) / 1000)) * 100;
    return {
      terminals: options.terminals,
      processes: load.processes,
      connected: load.connected,
      connectFailed: load.connectFailed,
      ...(load.connectError === undefined ? {} : { connectError: load.connectError }),
      connectSeconds: load.connectSeconds,
      connectsPerSecond: CONNECTS_PER_SECOND,
      seconds: options.seconds,
      intervalMs: options.intervalMs,
      sent,
      answered: samples.length,
      missing: sent - samples.length,
      late: shares.reduce((sum, s) => sum + s.late, 0),
      roundTrip: distribution(samples),
      firstBeat: distribution(first),
      laterBeats: distribution(later),
      maxSendLagMs: Math.max(...shares.map((s) => s.maxSendLagMs)),
      loadCpuPercent: Number.isFinite(loadCpuPercent) ? loadCpuPercent : undefined,
    };
  } finally {
    await load.dispose();
  }
}

/**
 * Connects `terminals` terminals (serials(prefix, terminals)) from load
 * processes of their own, paced as the heartbeat scenario connects them;
 * throws when none could connect.
 */
export async function connectHeartbeatLoad(options: {
  url: string;
  prefix: string;
  terminals: number;
  intervalMs: number;
  /** Beats at most: the run ends after them unless stopped before. */
  beats: number;
  replyField?: string;
}): Promise<HeartbeatLoad> {
  const { beats } = options;
  const processes = Math.ceil(options.terminals / TERMINALS_PER_PROCESS);
  const connectsPerSecond = CONNECTS_PER_SECOND / processes;
  const readyMs = (options.terminals / CONNECTS_PER_SECOND) * 1000 + READY_SLACK_MS;
  assertEphemeralPorts(options.terminals);
  // The load processes inherit this process's limit.
  assertOpenFiles(process.pid, Math.ceil(options.terminals / processes), 'a heartbeat load process');
  const workers: Child[] = [];
  try {
    const before = monotonicMs();
    for (let index = 0; index < processes; index++) {
      const config: HeartbeatWorkerConfig = {
        url: options.url,
        prefix: options.prefix,
        terminals: options.terminals,
        processes,
        index,
        intervalMs: options.intervalMs,
        beats,
        connectsPerSecond,
        connectsInFlight: CONNECTS_IN_FLIGHT,
        ...(options.replyField === undefined ? {} : { replyField: options.replyField }),
      };
      workers.push(startChild(process.execPath, [...nodeArgs(ENTRY), JSON.stringify(config)]));
    }
    const readies = await Promise.all(
      workers.map(async (worker) => {
        const line = await worker.waitForLine(/^heartbeats ready \{.*\}$/, readyMs, `connecting ${options.terminals} terminals`);
        return JSON.parse(line.slice('heartbeats ready '.length)) as HeartbeatWorkerReady;
      }),
    );
    const after = monotonicMs();
    for (const ready of readies) {
      if (ready.clock < before - CLOCK_SLACK_MS || ready.clock > after + CLOCK_SLACK_MS) {
        throw new Error(
          `a heartbeat process's monotonic clock (${ready.clock.toFixed(0)} ms) is not this process's (${before.toFixed(0)}–${after.toFixed(0)} ms): its beats would start at the wrong time`,
        );
      }
    }
    const connected = readies.reduce((sum, r) => sum + r.connected, 0);
    const connectFailed = readies.reduce((sum, r) => sum + r.failed, 0);
    const connectError = readies.find((r) => r.error !== undefined)?.error;
    if (connected === 0) throw new Error(`no terminal could connect: ${connectError}`);
    const connectSeconds = (Math.max(...readies.map((r) => r.connectedAt)) - Math.min(...readies.map((r) => r.connectStartedAt))) / 1000;

    const loadCpu = () => workers.reduce((sum, w) => sum + (cpuSeconds(w.pid) ?? NaN), 0);
    return {
      processes,
      connected,
      connectFailed,
      connectError,
      connectSeconds,
      run: (startAt, { byBeat = false, limitMs } = {}) => {
        // Whole milliseconds: AbortSignal.timeout takes no others.
        const runMs = limitMs ?? Math.ceil(startAt - monotonicMs() + beats * options.intervalMs + RUN_SLACK_MS);
        return Promise.all(readies.map((ready) => runShare(ready.controlPort, { startAt, byBeat }, runMs)));
      },
      stop: async () => {
        await Promise.all(readies.map((ready) => control(ready.controlPort, '/stop', {}, 10_000)));
      },
      cpuSeconds: loadCpu,
      dispose: () => stopAll(workers),
    };
  } catch (err) {
    await stopAll(workers);
    throw err;
  }
}

async function stopAll(workers: Child[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.stop(5000)));
}

function runShare(controlPort: number, body: { startAt: number; byBeat: boolean }, timeoutMs: number): Promise<HeartbeatShare> {
  return control(controlPort, '/run', body, timeoutMs);
}

/** A POST to a load process's control port, its JSON answer within `timeoutMs`. */
async function control<T>(controlPort: number, path: string, body: unknown, timeoutMs: number): Promise<T> {
  const response = await withTimeout(
    fetch(`http://127.0.0.1:${controlPort}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) }),
    timeoutMs,
    `heartbeat process ${path}`,
  ).catch((err: Error) => {
    throw new Error(`heartbeat process ${path}: ${err.message}`);
  });
  const answer = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(`heartbeat process: ${answer.error ?? response.status}`);
  return answer;
}
