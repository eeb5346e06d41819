import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { freePort } from '../../src/kit/ports.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createFacegate, StartAborted } from '../../src/lifecycle.ts';
import { TOKEN } from '../support/bridge.ts';

// The lifecycle (README §Architecture): a stop that comes while the bridge
// starts ends the start at its next step and stops what had started, so the
// ports, the database and the data dir are free for the next start.

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeTempDir(dir);
});

async function configOn() {
  const dataDir = makeTempDir('facegate-');
  dirs.push(dataDir);
  const [port, brokerPort] = [await freePort(), await freePort()];
  return parseConfig({ PORT: String(port), HOST: '127.0.0.1', BROKER_PORT: String(brokerPort), ADMIN_TOKEN: TOKEN, DATA_DIR: dataDir, LOG_LEVEL: 'info' });
}

/** A bridge whose log lines go to `onLine` as they are written. */
function bridgeLogging(config: ReturnType<typeof parseConfig>, onLine: (line: string) => void) {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) onLine(line);
      callback();
    },
  });
  return createFacegate(config, createLogger(config.LOG_LEVEL, stream));
}

describe('a stop during the start', () => {
  // Before the database is open; once the broker listens (the HTTP server not yet).
  const moments: [string, (line: string) => boolean][] = [
    ['at once', () => true],
    ['once the broker listens', (line) => line.includes('embedded MQTT broker listening')],
  ];

  it.each(moments)('%s: ends the start, stops what started, and leaves everything free for the next start', async (_moment, when) => {
    const config = await configOn();
    const lines: string[] = [];
    let stopping: Promise<void> | undefined;
    const facegate = bridgeLogging(config, (line) => {
      lines.push(line);
      if (!stopping && when(line)) stopping = facegate.stop();
    });
    const starting = facegate.start();
    if (when('')) stopping ??= facegate.stop();
    await expect(starting).rejects.toBeInstanceOf(StartAborted);
    await stopping;
    expect(lines.some((line) => line.includes('"facegate started"'))).toBe(false);
    expect(lines.some((line) => line.includes('"facegate stopped"'))).toBe(true);

    // The same ports and data dir: nothing of the aborted start holds them.
    const next = bridgeLogging(config, () => {});
    const running = await next.start();
    try {
      expect(running.httpPort).toBe(config.PORT);
      expect((await fetch(`http://127.0.0.1:${config.PORT}/readyz`)).status).toBe(200);
      const terminal = await connectTerminal(`mqtt://127.0.0.1:${config.BROKER_PORT}`, 'ABORT1');
      await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
      await terminal.client.endAsync();
    } finally {
      await next.stop();
    }
  });

  it('a second start() is the first one, and a stop after the start stops everything once', async () => {
    const config = await configOn();
    const facegate = bridgeLogging(config, () => {});
    const [a, b] = await Promise.all([facegate.start(), facegate.start()]);
    expect(b).toBe(a);
    await facegate.stop();
    await expect(fetch(`http://127.0.0.1:${config.PORT}/healthz`)).rejects.toThrow();
  });
});
