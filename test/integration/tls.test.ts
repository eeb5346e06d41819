import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

let dir: string;
let cert: string;
let key: string;
let bridge: TestBridge | undefined;
let mosquitto: Mosquitto | undefined;

beforeAll(() => {
  // A site's own certificate for the broker's address, as an installer would make one.
  dir = makeTempDir('facegate-tls-');
  cert = join(dir, 'cert.pem');
  key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
});
afterAll(() => removeTempDir(dir));
afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  await mosquitto?.dispose();
  mosquitto = undefined;
});

describe('the embedded broker over TLS', () => {
  it('takes terminals on mqtts beside the plain port', async () => {
    bridge = await startBridge({ BROKER_TLS_CERT: cert, BROKER_TLS_KEY: key, BROKER_TLS_PORT: '0' });
    const t = await connectTerminal(`mqtts://127.0.0.1:${bridge.brokerTlsPort}`, 'TLS1', { ca: readFileSync(cert) });
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' });
    await reply;
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "type = 'face.verified' and device_sn = 'TLS1'")).toBe(1);
    await t.client.endAsync(true);
  });

  it('is refused by a client that does not trust its certificate', async () => {
    bridge = await startBridge({ BROKER_TLS_CERT: cert, BROKER_TLS_KEY: key, BROKER_TLS_PORT: '0' });
    const client = mqtt.connect(`mqtts://127.0.0.1:${bridge.brokerTlsPort}`, { reconnectPeriod: 0 });
    const error = await new Promise<Error>((resolve) => client.once('error', (err) => resolve(err)));
    expect((error as Error & { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    await client.endAsync(true);
  });

  it('needs the certificate and its key together, as readable files', () => {
    expect(() => parseConfig({ BROKER_TLS_CERT: cert })).toThrow(ConfigError);
    expect(() => parseConfig({ BROKER_TLS_CERT: cert })).toThrow(/BROKER_TLS_KEY/);
    expect(() => parseConfig({ BROKER_TLS_CERT: join(dir, 'missing.pem'), BROKER_TLS_KEY: key })).toThrow(
      /^invalid BROKER_TLS_CERT=".*missing.pem": expected the path of a readable file$/,
    );
  });
});

describe('an external broker over TLS with a custom CA', () => {
  it('connects with MQTT_CA and answers heartbeats', async () => {
    mosquitto = await startMosquitto([`certfile ${cert}`, `keyfile ${key}`]);
    expect(mosquitto.url).toMatch(/^mqtts:/);
    bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CA: cert, MQTT_CLIENT_ID: 'facegate-tls' });
    expect((await bridge.api('GET', '/readyz')).status).toBe(200);
    const t = await connectTerminal(mosquitto.url, 'TLS2', { ca: readFileSync(cert) });
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' });
    expect((await reply).cmd).toBe('heartD');
    await t.client.endAsync(true);
  });
});
