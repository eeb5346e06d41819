import { describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from '../../src/kit/cli.ts';
import { startMosquitto } from '../../src/kit/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { until } from '../../src/kit/wait.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { connectLoad } from '../support/load.ts';
import { countIn } from '../support/outside-reads.ts';

// README §What survives what, at least once, nothing lost: the CLI is killed with SIGKILL
// twice while terminals publish 1,000 verified records at QoS 1; the store
// must end with exactly 1,000 events.

const TERMINALS = 10;
const RECORDS = 1000;
const KILL_AT = [300, 650];
const FACE_EVENTS = "select count(*) as n from events where type = 'face.verified'";

let bridge: CliProcess | undefined;
let dataDir: string;
let finished = false;
const cleanup = cleanupAfterEach();

async function crashTest(env: Record<string, string>, brokerUrl: string) {
  finished = false;
  const start = () => startCli({ DATA_DIR: dataDir, ADMIN_TOKEN: 'crash-test-token-0123', ...env });
  bridge = await start();
  // The killer watches the store from outside and strikes as it fills.
  const killer = (async () => {
    for (const at of KILL_AT) {
      await until(() => finished || countIn(dataDir, FACE_EVENTS) >= at);
      if (finished) return;
      await bridge!.kill('SIGKILL');
      bridge = await start();
    }
  })();
  // The killer stops first, so no restart is under way when the bridge of the moment is killed.
  cleanup(async () => {
    finished = true;
    await killer;
    await bridge?.kill('SIGKILL');
  });
  const load = await connectLoad(brokerUrl, TERMINALS, 'CRASH');
  cleanup(() => load.end());
  await load.publish(RECORDS);
  await killer;
  // Against an external broker the terminals' PUBACKs come from the broker:
  // the bridge drains its session after they are all in.
  await until(() => countIn(dataDir, FACE_EVENTS) >= RECORDS);
  expect(countIn(dataDir, FACE_EVENTS)).toBe(RECORDS);
  expect(countIn(dataDir, "select count(distinct json_extract(fields, '$.time') || device_sn) as n from events where type = 'face.verified'")).toBe(RECORDS);
}

function tempDir(): string {
  const dir = makeTempDir('facegate-crash-');
  cleanup(() => removeTempDir(dir));
  return dir;
}

describe('killed with SIGKILL twice mid-stream', () => {
  it('stores exactly 1,000 of 1,000 records with the embedded broker', async () => {
    dataDir = tempDir();
    const port = await freePort();
    await crashTest({ BROKER_PORT: String(port), PORT: String(await freePort()) }, `mqtt://127.0.0.1:${port}`);
  });

  it('stores exactly 1,000 of 1,000 records against Mosquitto', async () => {
    dataDir = tempDir();
    const mosquitto = await startMosquitto();
    cleanup(() => mosquitto.dispose());
    await crashTest({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-crash', PORT: String(await freePort()) }, mosquitto.url);
  });
});
