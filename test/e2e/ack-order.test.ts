import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from '../../src/kit/cli.ts';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { countIn, onlineTerminals } from '../support/outside-reads.ts';

// The acknowledgement of a terminal's QoS 1 message follows the commit of its
// events. Proof: hold the database's write lock so the commit cannot happen,
// let the message reach the bridge, kill the bridge with SIGKILL, and see the
// message arrive again (and be stored once) after a restart. Had the bridge
// acknowledged it before committing, it would be gone.

let bridge: CliProcess | undefined;
let mosquitto: Mosquitto | undefined;
let terminal: Terminal | undefined;
let dataDir: string;

afterEach(async () => {
  await terminal?.client.endAsync(true);
  terminal = undefined;
  await bridge?.kill('SIGKILL');
  bridge = undefined;
  await mosquitto?.dispose();
  mosquitto = undefined;
  removeTempDir(dataDir);
});

const FACE_EVENTS = "select count(*) as n from events where type = 'face.verified'";

async function proveAckAfterCommit(env: Record<string, string>, brokerUrl: string) {
  const httpPort = await freePort();
  const start = () => startCli({ DATA_DIR: dataDir, ADMIN_TOKEN: 'ack-order-token-0123', PORT: String(httpPort), ...env });
  bridge = await start();
  terminal = await connectTerminal(brokerUrl, 'ACK1', { clean: false, clientId: 'ack-terminal' });

  const blocker = new Database(join(dataDir, 'facegate.db'));
  blocker.exec('begin immediate');
  let acknowledged = false;
  const sent = terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }).then(() => (acknowledged = true));
  // The terminal counts as online the moment its message reaches the bridge, before any commit.
  await until(async () => (await onlineTerminals(httpPort)) === 1);
  await bridge.kill('SIGKILL');
  expect(countIn(dataDir, FACE_EVENTS)).toBe(0);
  blocker.exec('rollback');
  blocker.close();
  const brokerAcked = acknowledged;

  bridge = await start();
  await sent;
  await until(() => countIn(dataDir, FACE_EVENTS) === 1);
  return { brokerAcked };
}

describe('a QoS 1 message is acknowledged only after its commit', () => {
  it('with the embedded broker: the terminal gets no PUBACK and sends it again', async () => {
    dataDir = makeTempDir('facegate-ack-');
    const brokerPort = await freePort();
    const { brokerAcked } = await proveAckAfterCommit({ BROKER_PORT: String(brokerPort) }, `mqtt://127.0.0.1:${brokerPort}`);
    expect(brokerAcked).toBe(false);
    expect(countIn(dataDir, FACE_EVENTS)).toBe(1);
  });

  it('against Mosquitto: the broker keeps it for the bridge and delivers it again', async () => {
    dataDir = makeTempDir('facegate-ack-');
    mosquitto = await startMosquitto();
    await proveAckAfterCommit({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-ack' }, mosquitto.url);
    expect(countIn(dataDir, FACE_EVENTS)).toBe(1);
  });
});
