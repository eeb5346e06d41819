import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mosquittoConfig } from '../../src/bench/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';

export { freePort };

export type Mosquitto = Awaited<ReturnType<typeof startMosquitto>>;

/**
 * A real Mosquitto (Debian's package) on loopback, configured as the README
 * asks a site to: persistent sessions kept on disk, no queue limit, no Nagle.
 */
export async function startMosquitto(extraConfig: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, mosquittoConfig(port, dir) + extraConfig.map((line) => `${line}\n`).join(''));
  let proc: ChildProcess | undefined;

  async function start() {
    const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/running/.test(output)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${output}`)));
    });
  }

  async function stop() {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  await start();
  return {
    port,
    url: `${extraConfig.some((line) => line.startsWith('certfile')) ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
