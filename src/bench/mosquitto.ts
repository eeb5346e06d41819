import { accessSync, constants, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.ts';
import { cpuSeconds, makeTempDir, peakRssBytes, removeTempDir, startChild } from './proc.ts';

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
 * A fresh Mosquitto on loopback, configured as the README asks a site to
 * (sessions kept, no queue limit, no Nagle), so the figures are those of a
 * broker that loses nothing.
 */
export async function startMosquitto(executable: string): Promise<Mosquitto> {
  const dir = makeTempDir('facegate-bench-mosquitto-');
  try {
    const port = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        'max_queued_messages 0',
        // The bridge asks for up to 1,000 in flight (Receive Maximum); Mosquitto's default of 20 would cap the batches.
        'max_inflight_messages 1000',
        'set_tcp_nodelay true',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        // As root Mosquitto switches to its own user, which cannot write the temp dir.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        '',
      ].join('\n'),
    );
    const child = startChild(executable, ['-c', conf]);
    try {
      await child.waitForOutput(/\brunning\b/, 10_000, 'starting mosquitto');
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
