import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, spawnCli, startCli } from '../../src/kit/cli.ts';
import { freePort, refused } from '../../src/kit/ports.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { onlineTerminals } from '../support/outside-reads.ts';

let bridge: CliProcess | undefined;
let dataDir: string;

afterEach(async () => {
  await bridge?.kill('SIGKILL');
  bridge = undefined;
  if (dataDir) removeTempDir(dataDir);
});

describe('configuration', () => {
  it.each([
    ['PORT', 'abc', /^facegate: invalid PORT="abc": expected a whole number from 0 to 65535$/],
    ['FORWARD', 'some', /^facegate: invalid FORWARD="some": expected one of: passed, all$/],
    ['MQTT_URL', 'http://broker', /^facegate: invalid MQTT_URL="http:\/\/broker": expected an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL$/],
    ['HEARTBEAT_TIMEOUT', '-5', /^facegate: invalid HEARTBEAT_TIMEOUT="-5": /],
    ['DEVICES', 'A1,a b', /^facegate: invalid DEVICES="A1,a b": expected serials of 1 to 64 letters, digits, _ \. : or -, starting with a letter or a digit$/],
    ['DEFAULT_DEVICE', '门禁', /^facegate: invalid DEFAULT_DEVICE="门禁": expected a serial of 1 to 64 /],
    ['FORGET_AFTER', '30s', /^facegate: invalid FORGET_AFTER="30s": expected a duration of at least 1 minute$/],
    ['PERSON_COMMANDS', '/nonexistent/people.json', /^facegate: invalid PERSON_COMMANDS="\/nonexistent\/people.json": expected a readable file \(ENOENT\)$/],
  ])('stops the start with exit code 2 and one line naming %s', async (name, value, line) => {
    dataDir = makeTempDir('facegate-cli-');
    bridge = spawnCli({ DATA_DIR: dataDir, [name]: value });
    expect(await bridge.exited).toBe(2);
    expect(bridge.output.filter(Boolean)).toHaveLength(1);
    expect(bridge.output[0]).toMatch(line);
  });

  it('stops an anonymous broker meant for the network with exit code 2 and one line naming BROKER_ANONYMOUS', async () => {
    dataDir = makeTempDir('facegate-cli-');
    bridge = spawnCli({ DATA_DIR: dataDir, PORT: String(await freePort()), BROKER_PORT: String(await freePort()), BROKER_HOST: '0.0.0.0' });
    expect(await bridge.exited).toBe(2);
    expect(bridge.output.filter(Boolean)).toEqual([
      'facegate: invalid BROKER_ANONYMOUS="": expected true to let terminals in without credentials on BROKER_HOST=0.0.0.0 (or set BROKER_CREDENTIALS, or BROKER_USERNAME and BROKER_PASSWORD)',
    ]);
  });

  it('runs an anonymous broker on loopback with no variable set, says so, and serves a terminal there', async () => {
    dataDir = makeTempDir('facegate-cli-');
    const env = { DATA_DIR: dataDir, PORT: String(await freePort()), BROKER_PORT: String(await freePort()) };
    bridge = await startCli(env);
    const lines = bridge.output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
    expect(lines.find((line) => line.msg.startsWith('embedded MQTT broker listening'))).toMatchObject({
      host: '127.0.0.1',
      port: Number(env.BROKER_PORT),
      anonymous: true,
    });
    expect(lines.some((line) => line.level === 40 && line.msg.includes('accepts anonymous terminals'))).toBe(true);
    const t = await connectTerminal(`mqtt://127.0.0.1:${env.BROKER_PORT}`, 'LOOP1', { reconnectPeriod: 0 });
    const answer = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' }, 0);
    await answer;
    await t.client.endAsync(true);
  });

  it('lists every variable in --help', async () => {
    dataDir = makeTempDir('facegate-cli-');
    bridge = spawnCli({}, ['--help']);
    expect(await bridge.exited).toBe(0);
    const text = bridge.output.join('\n');
    for (const name of [
      'PORT',
      'MQTT_URL',
      'BROKER_PORT',
      'BROKER_HOST',
      'BROKER_ANONYMOUS',
      'MAX_CONNECTIONS',
      'UPLINK_TOPIC',
      'DEVICES',
      'WEBHOOK_SECRET',
      'ADMIN_TOKEN',
      'SQLITE_SYNC',
      'RETENTION_DAYS',
      'MAX_TERMINALS',
      'DISCOVERY_RATE',
      'FORGET_AFTER',
    ]) {
      expect(text).toContain(`  ${name} `);
    }
  });

  it('refuses an unknown command', async () => {
    bridge = spawnCli({}, ['frobnicate']);
    expect(await bridge.exited).toBe(2);
    expect(bridge.output.join('\n')).toContain('unknown command "frobnicate"');
  });
});

describe('admin token', () => {
  it('is generated on the first start, kept private in the data dir and shown only once', async () => {
    dataDir = makeTempDir('facegate-cli-');
    const env = { DATA_DIR: dataDir, PORT: String(await freePort()), BROKER_PORT: String(await freePort()) };
    bridge = await startCli(env);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(statSync(join(dataDir, 'admin-token')).mode & 0o077).toBe(0);
    expect(bridge.output.filter((line) => line.includes(token))).toHaveLength(1);
    const ok = await fetch(`http://127.0.0.1:${env.PORT}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await bridge.kill('SIGTERM')).toBe(0);

    bridge = await startCli(env);
    expect(bridge.output.some((line) => line.includes(token))).toBe(false);
    expect(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()).toBe(token);
  });
});

describe('token rotation', () => {
  it('takes a new token written to the token file on SIGHUP, without a restart', async () => {
    dataDir = makeTempDir('facegate-cli-');
    const port = await freePort();
    bridge = await startCli({ DATA_DIR: dataDir, PORT: String(port), BROKER_PORT: String(await freePort()) });
    const file = join(dataDir, 'admin-token');
    const old = readFileSync(file, 'utf8').trim();
    const status = async (token: string) => (await fetch(`http://127.0.0.1:${port}/api/devices`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await status(old)).toBe(200);
    const rotated = 'rotated-token-0123456789abcdef';
    writeFileSync(file, `${rotated}\n`, { mode: 0o600 });
    bridge.proc.kill('SIGHUP');
    await until(async () => (await status(rotated)) === 200);
    expect(await status(old)).toBe(401);
    expect(bridge.proc.exitCode).toBeNull();
  });
});

describe('stopping', () => {
  it('stops on SIGTERM with exit code 0, committing what it acknowledged and closing its ports', async () => {
    dataDir = makeTempDir('facegate-cli-');
    const ports = { PORT: await freePort(), BROKER_PORT: await freePort() };
    bridge = await startCli({ DATA_DIR: dataDir, ADMIN_TOKEN: 'stop-test-token-0123', PORT: String(ports.PORT), BROKER_PORT: String(ports.BROKER_PORT) });
    const t = await connectTerminal(`mqtt://127.0.0.1:${ports.BROKER_PORT}`, 'S1', { reconnectPeriod: 0 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i) })] })));
    expect(await bridge.kill('SIGTERM')).toBe(0);
    await t.client.endAsync(true);
    expect(bridge.output.some((line) => line.includes('"facegate stopped"'))).toBe(true);
    expect(await refused(ports.PORT)).toBe(true);
    expect(await refused(ports.BROKER_PORT)).toBe(true);
    const db = new Database(join(dataDir, 'facegate.db'), { readonly: true });
    expect(db.prepare("select count(*) as n from events where type = 'face.verified'").get()).toEqual({ n: 50 });
    db.close();
  });

  it('exits at once on a second signal while the first stop is still waiting', async () => {
    dataDir = makeTempDir('facegate-cli-');
    const [brokerPort, httpPort] = [await freePort(), await freePort()];
    bridge = await startCli({ DATA_DIR: dataDir, ADMIN_TOKEN: 'stop-test-token-0123', PORT: String(httpPort), BROKER_PORT: String(brokerPort) });
    const t = await connectTerminal(`mqtt://127.0.0.1:${brokerPort}`, 'S2', { reconnectPeriod: 0 });
    // A commit that cannot finish keeps the graceful stop waiting for the writer.
    const blocker = new Database(join(dataDir, 'facegate.db'));
    blocker.exec('begin immediate');
    void t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }).catch(() => {});
    await until(async () => (await onlineTerminals(httpPort)) === 1);
    bridge.proc.kill('SIGTERM');
    await until(() => bridge!.output.some((line) => line.includes('"stopping"')));
    // A repeat within a second is taken as the same Ctrl-C (npm forwards it too); a later one means "now".
    await new Promise((resolve) => setTimeout(resolve, 1100));
    bridge.proc.kill('SIGTERM');
    expect(await bridge.exited).toBe('SIGKILL');
    expect(bridge.output.some((line) => line.includes('second SIGTERM'))).toBe(true);
    blocker.exec('rollback');
    blocker.close();
    await t.client.endAsync(true);
  });
});
