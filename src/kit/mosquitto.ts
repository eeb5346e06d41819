import { accessSync, constants, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { type Child, startChild } from './child-process.ts';
import { freePort } from './ports.ts';
import { makeTempDir, removeTempDir } from './temp-dir.ts';

const START_TIMEOUT_MS = 10_000;

/** The mosquitto executable on PATH, or undefined. */
export function findMosquitto(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, 'mosquitto');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this one
    }
  }
  return undefined;
}

export interface MosquittoOptions {
  /**
   * Mosquitto's own per-client limits (max_queued_messages 1000,
   * max_inflight_messages 20), which drop what a slow reader has not taken:
   * the broker a site runs before it reads README §Broker settings you must set.
   */
  stockLimits?: boolean;
}

/**
 * Mosquitto configured as the README asks a site to (§Broker settings you
 * must set): sessions kept on disk, no queue limit, no Nagle; on loopback,
 * with its files in `dir`. `stockLimits`: without the two lines that lift
 * the per-client limits.
 */
export function mosquittoConfig(port: number, dir: string, options: MosquittoOptions = {}): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    // The README's 60 s. At 1 s Mosquitto wrote its whole queue every second:
    // with thousands of 27 KB records queued for the bridge that was most of
    // its CPU (perf: 52 % copying into the page cache), and the bursts through
    // it measured that rather than the bridge.
    'autosave_interval 60',
    ...(options.stockLimits
      ? []
      : [
          'max_queued_messages 0',
          // For clients that announce no Receive Maximum; the bridge asks for its own window.
          'max_inflight_messages 1000',
        ]),
    'set_tcp_nodelay true',
    // Unlimited, as by default, said here for the benchmark's 10,000 terminals; the open-files limit it inherits is checked before a run.
    'max_connections -1',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    // As root Mosquitto switches to its own user, which cannot write the temp dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    '',
  ].join('\n');
}

export interface Mosquitto {
  port: number;
  /** mqtt://, or mqtts:// when `extraConfig` gave it a certificate. */
  url: string;
  /** Its process now (another one after a stop and a start). */
  readonly pid: number;
  /** Starts it again after a stop, on the same port, with what it persisted. */
  start(): Promise<void>;
  /** SIGTERM (it saves its sessions as it exits), and SIGKILL if it does not exit. */
  stop(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/**
 * A fresh Mosquitto (Debian's package, or `executable`) on a free loopback
 * port, configured as mosquittoConfig() says (with `options`), with `extraConfig` lines after
 * it (a TLS listener's certificate and key): a broker that loses nothing, as
 * a site must run it. Resolves once it runs.
 */
export async function startMosquitto(extraConfig: string[] = [], executable = 'mosquitto', options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = makeTempDir('facegate-mosquitto-');
  let child: Child | undefined;
  const start = async () => {
    const started = startChild(executable, ['-c', conf]);
    child = started;
    try {
      await started.waitForLine(/\brunning\b/, START_TIMEOUT_MS, 'starting mosquitto');
    } catch (err) {
      await started.stop(2000);
      throw err;
    }
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    await running?.stop();
  };
  const port = await freePort().catch((err: unknown) => {
    removeTempDir(dir);
    throw err;
  });
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, mosquittoConfig(port, dir, options) + extraConfig.map((line) => `${line}\n`).join(''));
  try {
    await start();
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  return {
    port,
    url: `${extraConfig.some((line) => line.startsWith('certfile')) ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? -1;
    },
    start,
    stop,
    async dispose() {
      try {
        await stop();
      } finally {
        removeTempDir(dir);
      }
    },
  };
}
