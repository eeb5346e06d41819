import { ConfigSchema } from '../../config.ts';
import { describeExit } from '../../kit/child-process.ts';
import { spawnCli } from '../../kit/cli.ts';
import { freePort } from '../../kit/ports.ts';
import { heartU } from '../../kit/records.ts';
import { makeTempDir, removeTempDir } from '../../kit/temp-dir.ts';
import { connectTerminal } from '../../kit/terminal.ts';
import { TimedOut, until, withTimeout } from '../../kit/wait.ts';
import { ALLOCATOR_ENV, NODE_FLAGS } from '../../lib/runtime.ts';
import { databasePath, type Sync } from '../../store/sqlite/open.ts';
import { monotonicMs } from '../measures/clock.ts';
import { cpuSeconds, threadCpuSeconds } from '../measures/cpu.ts';
import { peakRssBytes, rssBytes } from '../measures/rss.ts';

const READY_TIMEOUT_MS = 30_000;
const ADMIN_TOKEN = 'facegate-bench-admin-token';
/** Log lines kept with the moment each came, for logLine. */
const LOGGED_KEPT = 10_000;
/** The bridge's log line at each start of its database writer thread, which names its OS thread id. */
const WRITER_STARTED = /"msg":"database writer thread started/;
/** The serial awaitHeartD's probe connects as: the one terminal a bridge of the benchmark knows besides a scenario's. */
export const PROBE_SN = 'BENCHPROBE';

export interface BridgeOptions {
  sync: Sync;
  /** An external broker; undefined runs the embedded one. */
  mqttUrl?: string;
  /** DATABASE_URL: the PostgreSQL store (README §PostgreSQL); undefined: SQLite in the data dir. */
  databaseUrl?: string;
  clientId: string;
  /** More settings (the delivery scenarios': WEBHOOK_URL, IMAGES, DELIVERY_SCHEDULE). */
  env?: Record<string, string>;
  /** Fills the fresh data dir before the bridge starts on it (store-scale). */
  prepare?: (dataDir: string) => void;
  /** --cpu-prof DIR: V8's CPU profile of each of its threads (the writer's too), written there when it stops. */
  cpuProfDir?: string;
}

export interface BridgeProcess {
  pid: number;
  /** Where terminals connect: the embedded broker, or the external one. */
  brokerUrl: string;
  /** Its HTTP API (/metrics, /api/stream). */
  httpUrl: string;
  /** ADMIN_TOKEN, for the API's Bearer authorization. */
  adminToken: string;
  /** The SQLite database; with databaseUrl, the store is not there. */
  dbPath: string;
  /** Resident memory now (VmRSS). */
  rssBytes(): number | undefined;
  peakRssBytes(): number | undefined;
  cpuSeconds(): number | undefined;
  /** CPU seconds so far of its main thread; undefined where /proc is not there. */
  mainCpuSeconds(): number | undefined;
  /**
   * The same of its database writer thread (SQLite: the last one started, by
   * the OS thread id its log line gives); undefined when there is none.
   */
  writerCpuSeconds(): number | undefined;
  /** Throws with the bridge's last output when it has exited. */
  assertRunning(): void;
  /** Monotonic ms (clock.ts) when GET /readyz first answered 200. */
  readyAt: number;
  /**
   * The first line of its output (its JSON log) since it started (or since
   * the monotonic ms `since`) that matches, and the monotonic ms it came at;
   * undefined when none has come after `timeoutMs`.
   */
  logLine(pattern: RegExp, timeoutMs: number, since?: number): Promise<{ line: string; at: number } | undefined>;
  /** SIGKILL, as a crash or a power cut: resolves once it has exited; dispose() still removes the data dir. */
  kill(): Promise<void>;
  /** SIGTERM, waits for the exit, removes the data dir. */
  dispose(): Promise<void>;
}

/**
 * The bridge as a site runs it, in a process of its own with a fresh data
 * dir; resolves once GET /readyz answers 200 (database writable, broker
 * connected).
 */
export async function startBridge(options: BridgeOptions): Promise<BridgeProcess> {
  const dataDir = makeTempDir('facegate-bench-data-');
  const httpPort = await freePort();
  const brokerPort = await freePort();
  try {
    options.prepare?.(dataDir);
  } catch (err) {
    removeTempDir(dataDir);
    throw err;
  }
  const inherited: NodeJS.ProcessEnv = { ...process.env };
  // The caller's own facegate settings must not change what is measured.
  for (const name of Object.keys(ConfigSchema.entries)) delete inherited[name];
  const env: Record<string, string> = {
    PORT: String(httpPort),
    HOST: '127.0.0.1',
    BROKER_PORT: String(brokerPort),
    DATA_DIR: dataDir,
    ADMIN_TOKEN,
    // As `npm start`, the systemd unit and the image start it (src/lib/runtime.ts).
    ...ALLOCATOR_ENV,
    // The default level, as a site runs it: what the bridge logs is part of what it costs.
    LOG_LEVEL: 'info',
    SQLITE_SYNC: options.sync,
    ...(options.mqttUrl ? { MQTT_URL: options.mqttUrl, MQTT_CLIENT_ID: options.clientId } : {}),
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  };
  // The CLI of this very run: compiled after `npm run build` (as `npm run bench` runs it), the sources through tsx otherwise.
  const profile = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  const child = spawnCli(env, [], { cli: 'running', baseEnv: inherited, nodeFlags: [...NODE_FLAGS, ...profile] });
  // A scenario may ask for a line that came before it asked (a small store's
  // retention purge is over before the bridge has answered the benchmark's
  // first heartbeat): every line is kept with the moment it came.
  const logged: { line: string; at: number }[] = [];
  /** The database writer thread's OS thread id, from the last line that said it started (store/sqlite/writer.ts). */
  let writerThread: number | undefined;
  child.onLine((line) => {
    if (WRITER_STARTED.test(line)) writerThread = threadOf(line);
    logged.push({ line, at: monotonicMs() });
    if (logged.length > LOGGED_KEPT) logged.shift();
  });
  const logLine = async (pattern: RegExp, timeoutMs: number, since = -Infinity) => {
    const seen = logged.find(({ line, at }) => at >= since && pattern.test(line));
    if (seen) return seen;
    const line = await child.nextLine(pattern, timeoutMs);
    return line === undefined ? undefined : { line, at: monotonicMs() };
  };
  const dispose = async () => {
    try {
      await child.stop();
    } finally {
      removeTempDir(dataDir);
    }
  };
  const stopped = (how: number | string, when = '') => new Error(`the bridge ${describeExit(how)}${when}:\n${child.tail().trim()}`);
  const assertRunning = () => {
    if (!child.isRunning()) throw stopped(child.proc.signalCode ?? child.proc.exitCode ?? -1);
  };

  try {
    await until(
      async () => {
        // Its output is read to the end only after it exited ('close' after 'exit'): the message would miss its last words.
        if (!child.isRunning()) throw stopped(await child.exited, ' before it was ready');
        const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
        await response?.body?.cancel();
        return response?.status === 200;
      },
      100,
      { ms: READY_TIMEOUT_MS, what: 'waiting for the bridge to be ready' },
    );
  } catch (err) {
    await dispose();
    if (err instanceof TimedOut) throw new Error(`${err.message}; its output:\n${child.tail().trim()}`);
    throw err;
  }
  const readyAt = monotonicMs();

  return {
    pid: child.pid,
    brokerUrl: options.mqttUrl ?? `mqtt://127.0.0.1:${brokerPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    adminToken: ADMIN_TOKEN,
    dbPath: databasePath(dataDir),
    rssBytes: () => rssBytes(child.pid),
    peakRssBytes: () => peakRssBytes(child.pid),
    cpuSeconds: () => cpuSeconds(child.pid),
    mainCpuSeconds: () => threadCpuSeconds(child.pid, child.pid),
    writerCpuSeconds: () => (writerThread === undefined ? undefined : threadCpuSeconds(child.pid, writerThread)),
    assertRunning,
    readyAt,
    logLine,
    kill: async () => {
      if (child.isRunning()) await child.kill('SIGKILL');
    },
    dispose,
  };
}

/**
 * Waits until the bridge answers a heartbeat: /readyz says the bridge is
 * connected, not that its subscription to the upLinks is in place yet.
 */
export async function awaitHeartD(url: string, timeoutMs = 15_000): Promise<void> {
  const terminal = await withTimeout(
    connectTerminal(url, PROBE_SN, { clientId: PROBE_SN, qos: 0, keepalive: 30, reconnectPeriod: 1000 }),
    15_000,
    `connecting terminal ${PROBE_SN}`,
  );
  try {
    const heartD = terminal.next((body) => body.cmd === 'heartD');
    // heartU and heartD are QoS 0: one sent before the subscription is lost, so ask again.
    const again = setInterval(() => void terminal.send(heartU()).catch(() => {}), 250);
    void terminal.send(heartU()).catch(() => {});
    try {
      await withTimeout(heartD, timeoutMs, 'waiting for the bridge to answer a heartbeat');
    } finally {
      clearInterval(again);
    }
  } finally {
    await withTimeout(terminal.stop(0), 10_000, 'disconnecting terminals').catch(() => {});
  }
}

/** The `thread` a JSON log line names; undefined in any other line. */
function threadOf(line: string): number | undefined {
  try {
    const { thread } = JSON.parse(line) as { thread?: unknown };
    return typeof thread === 'number' ? thread : undefined;
  } catch {
    return undefined;
  }
}
