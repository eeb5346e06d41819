import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from '../../src/kit/cli.ts';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { countIn } from '../support/outside-reads.ts';

let bridge: CliProcess | undefined;
let mosquitto: Mosquitto | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await bridge?.kill('SIGKILL');
  bridge = undefined;
  await mosquitto?.dispose();
  mosquitto = undefined;
  if (dataDir) removeTempDir(dataDir);
});

describe('the MQTT client id against an external broker', () => {
  it('stays with the data dir when the host name changes, so a recreated container takes over its session', async () => {
    mosquitto = await startMosquitto();
    dataDir = makeTempDir('facegate-cli-');
    const env = { DATA_DIR: dataDir, MQTT_URL: mosquitto.url, ADMIN_TOKEN: 'client-id-test-token-0123', PORT: String(await freePort()) };
    bridge = await startCli(env, { hostname: 'box-before' });
    const t = await connectTerminal(mosquitto.url, 'CID1');
    // The bridge answers: it is subscribed, in its persistent session.
    const answered = t.next((msg) => msg.cmd === 'heartD');
    await t.send({ cmd: 'heartU' }, 0);
    await answered;
    expect(await bridge.kill('SIGTERM')).toBe(0);
    const id = readFileSync(join(dataDir, 'mqtt-client-id'), 'utf8').trim();
    expect(id).toMatch(/^facegate-[0-9A-Za-z]{12}$/);
    // While no bridge runs, the broker keeps what arrives for the bridge's session.
    await Promise.all([1, 2, 3].map((i) => t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i) })] })));
    await t.end();
    bridge = await startCli(env, { hostname: 'box-after' });
    await until(() => countIn(dataDir!, "select count(*) as n from events where type = 'face.verified'") === 3);
    expect(readFileSync(join(dataDir, 'mqtt-client-id'), 'utf8').trim()).toBe(id);
  });
});
