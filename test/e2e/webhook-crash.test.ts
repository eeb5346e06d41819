import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from '../../src/kit/cli.ts';
import { startMosquitto } from '../../src/kit/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { until } from '../../src/kit/wait.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { connectLoad } from '../support/load.ts';
import { countIn } from '../support/outside-reads.ts';
import { startReceiver } from '../support/receiver.ts';

// README §What survives what, at least once: 2,000 verified records while the receiver is
// down for 8 s and the bridge is killed with SIGKILL twice (once during the
// outage, once while it catches up). The receiver must end with all 2,000
// distinct webhook-ids; duplicates are allowed (same webhook-id) and reported.

const RECORDS = 2000;
const OUTAGE_MS = 8_000;
// Short ceilings so the catch-up starts soon after the outage, and many of
// them so no delivery runs out of attempts while the receiver is away.
const SCHEDULE = Array.from({ length: 100 }, () => '1s').join(',');

let bridge: CliProcess | undefined;
let finished = false;
const cleanup = cleanupAfterEach();

async function outageAndCrashes(env: Record<string, string>, brokerUrl: string) {
  finished = false;
  const dataDir = makeTempDir('facegate-webhook-crash-');
  cleanup(() => removeTempDir(dataDir));
  const r = await startReceiver();
  cleanup(() => r.close().catch(() => {}));
  await r.down();
  const start = () =>
    startCli({ DATA_DIR: dataDir, ADMIN_TOKEN: 'webhook-crash-token-01', WEBHOOK_URL: r.url, DELIVERY_SCHEDULE: SCHEDULE, DELIVERY_TIMEOUT: '5s', ...env });
  bridge = await start();
  const distinct = () => new Set(r.requests.map((q) => q.headers['webhook-id'])).size;

  const chaos = (async () => {
    // During the outage, once part of the load is stored.
    await until(() => finished || countIn(dataDir, "select count(*) as n from events where type = 'face.verified'") >= 600);
    if (finished) return;
    await bridge!.kill('SIGKILL');
    bridge = await start();
    // The outage lasts its time, whatever the bridge is doing.
    await delay(OUTAGE_MS);
    await r.up();
    // While it catches up.
    await until(() => finished || distinct() >= 500);
    if (finished) return;
    await bridge!.kill('SIGKILL');
    bridge = await start();
  })();
  // The chaos stops first, so no restart is under way when the bridge of the moment is killed.
  cleanup(async () => {
    finished = true;
    await chaos;
    await bridge?.kill('SIGKILL');
  });

  const load = await connectLoad(brokerUrl, 10, 'HOOK');
  cleanup(() => load.end());
  await load.publish(RECORDS);
  await chaos;
  await until(() => distinct() >= RECORDS);
  const all = r.requests;
  const ids = new Set(all.map((q) => q.headers['webhook-id']));
  expect(ids.size).toBe(RECORDS);
  // The last outcomes are committed a moment after their requests arrive.
  await until(() => countIn(dataDir, "select count(*) as n from deliveries where status = 'delivered'") === RECORDS);
  const duplicates = all.length - ids.size;
  console.log(
    `webhook crash test (${env.MQTT_URL ? 'mosquitto' : 'embedded'}): ${RECORDS} records, ${ids.size} distinct webhook-ids received, ${duplicates} duplicates`,
  );
  return duplicates;
}

describe('receiver down for 8 s and the bridge killed twice', () => {
  it('delivers all 2,000 events with the embedded broker', async () => {
    const port = await freePort();
    await outageAndCrashes({ BROKER_PORT: String(port), PORT: String(await freePort()) }, `mqtt://127.0.0.1:${port}`);
  }, 120_000);

  it('delivers all 2,000 events against Mosquitto', async () => {
    const mosquitto = await startMosquitto();
    cleanup(() => mosquitto.dispose());
    await outageAndCrashes({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-webhook-crash', PORT: String(await freePort()) }, mosquitto.url);
  }, 120_000);
});
