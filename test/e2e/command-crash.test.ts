import { describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from '../../src/kit/cli.ts';
import { startMosquitto } from '../../src/kit/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { countIn } from '../support/outside-reads.ts';

// README §Commands with replies: queued commands survive a SIGKILL of the
// compiled CLI, and go out in the order they were accepted once their
// terminal is back after the restart.

const TOKEN = 'command-crash-token-0123';
const cleanup = cleanupAfterEach();

function tempDir(): string {
  const dir = makeTempDir('facegate-command-crash-');
  cleanup(() => removeTempDir(dir));
  return dir;
}

async function post(httpPort: number, path: string, body: object) {
  const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

/** A terminal that said something (online), then went away. */
async function cameAndWent(url: string, sn: string, dataDir: string) {
  const t = await connectTerminal(url, sn);
  await t.send({ cmd: 'heartU' });
  await until(() => countIn(dataDir, `select count(*) as n from terminals where sn = '${sn}' and online = 1`) === 1);
  await t.stop(0);
}

async function crashWithQueued(env: Record<string, string>, url: string, dataDir: string, offline: () => Promise<void>) {
  const httpPort = await freePort();
  const start = () => startCli({ DATA_DIR: dataDir, ADMIN_TOKEN: TOKEN, PORT: String(httpPort), ...env });
  let bridge: CliProcess = await start();
  cleanup(() => bridge.kill('SIGKILL'));
  await cameAndWent(url, 'K1', dataDir);
  await offline();
  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    const res = await post(httpPort, '/api/devices/K1/commands?ttl=1h', { cmd: `step${n}D` });
    expect(res.json.status).toBe('queued');
    ids.push(res.json.id);
  }
  await bridge.kill('SIGKILL');
  bridge = await start();

  const back: Terminal = await connectTerminal(url, 'K1');
  cleanup(() => back.stop(0));
  // Online again (external broker: its first message; embedded: also its downLink subscription).
  await back.send({ cmd: 'heartU' });
  await until(() => back.received.filter((m) => m.cmd?.startsWith('step')).length >= 3);
  expect(back.received.map((m) => m.cmd).filter((cmd) => cmd !== 'heartD')).toEqual(['step1D', 'step2D', 'step3D']);
  await until(() => countIn(dataDir, "select count(*) as n from commands where status = 'published'") === 3);
  expect(countIn(dataDir, `select count(*) as n from commands where id in ('${ids.join("','")}') and published_at is not null`)).toBe(3);
}

describe('commands queued with a ttl, then a SIGKILL', () => {
  it('go out after the restart, in order, with the embedded broker', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    await crashWithQueued({ BROKER_PORT: String(port) }, `mqtt://127.0.0.1:${port}`, dataDir, async () => {});
  });

  it('go out after the restart, in order, against Mosquitto', async () => {
    const dataDir = tempDir();
    const mosquitto = await startMosquitto();
    cleanup(() => mosquitto.dispose());
    // Offline for the bridge takes HEARTBEAT_TIMEOUT of silence with an external broker.
    await crashWithQueued({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-command-crash', HEARTBEAT_TIMEOUT: '1' }, mosquitto.url, dataDir, () =>
      until(() => countIn(dataDir, "select count(*) as n from terminals where sn = 'K1' and online = 0") === 1).then(() => {}),
    );
  });
});
