import { accessSync, constants, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { startChild } from '../kit/child-process.ts';
import { freePort } from '../kit/ports.ts';
import { makeTempDir, removeTempDir } from '../kit/temp-dir.ts';
import { cpuSeconds } from './measures/cpu.ts';
import { peakRssBytes } from './measures/rss.ts';

export interface Mosquitto {
  url: string;
  pid: number;
  peakRssBytes(): number | undefined;
  cpuSeconds(): number | undefined;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

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

/**
 * Mosquitto configured as the README asks a site to: sessions kept on disk,
 * no queue limit, no Nagle; on loopback, with its files in `dir`.
 */
export function mosquittoConfig(port: number, dir: string): string {
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
    'max_queued_messages 0',
    // For clients that announce no Receive Maximum; the bridge asks for its own window.
    'max_inflight_messages 1000',
    'set_tcp_nodelay true',
    // Unlimited, as by default, said here for the heartbeat scenario's 10,000 terminals; the open-files limit it inherits is checked before a run.
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

/**
 * A fresh Mosquitto on loopback, configured as the README asks a site to
 * (sessions kept, no queue limit, no Nagle), so the figures are those of a
 * broker that loses nothing.
 */
export async function startMosquitto(executable: string): Promise<Mosquitto> {
  const dir = makeTempDir('facegate-bench-mosquitto-');
  try {
    const port = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(conf, mosquittoConfig(port, dir));
    const child = startChild(executable, ['-c', conf]);
    try {
      await child.waitForLine(/\brunning\b/, 10_000, 'starting mosquitto');
    } catch (err) {
      await child.stop(2000);
      throw err;
    }
    return {
      url: `mqtt://127.0.0.1:${port}`,
      pid: child.pid,
      peakRssBytes: () => peakRssBytes(child.pid),
      cpuSeconds: () => cpuSeconds(child.pid),
      async dispose() {
        try {
          await child.stop();
        } finally {
          removeTempDir(dir);
        }
      },
    };
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
}
