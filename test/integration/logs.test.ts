import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

let bridge: TestBridge | undefined;
let receiver: Receiver | undefined;
let terminal: Terminal | undefined;

afterEach(async () => {
  await terminal?.client.endAsync(true);
  await bridge?.stop();
  await receiver?.close();
});

it('never writes a face image, the token or a secret to its log', async () => {
  const SECRET = 'whsec_c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ=';
  const image = readFileSync(new URL('../../fixtures/face-2.jpg', import.meta.url)).toString('base64');
  receiver = await startReceiver((_req, n) => ({ status: n === 0 ? 500 : 200 }));
  bridge = await startBridge({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET, DELIVERY_SCHEDULE: '10ms,10ms', LOG_LEVEL: 'debug' });
  terminal = await connectTerminal(bridge.brokerUrl, 'LOG1');
  // A full run: records with images (and a malformed one), a retried delivery,
  // a command with a photo, a login, API reads, a failed login.
  await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ liveImageBase64: image })] });
  await terminal.send(`{"cmd":"verifiedRecordU","data":[{"liveImageBase64":"${image.slice(0, 3000)}`);
  await receiver.received(2);
  const photo = image.slice(100, 5000);
  await bridge.api('POST', '/api/devices/LOG1/commands', { cmd: 'addPersonD', photo });
  await bridge.api('POST', '/api/webhooks', { url: receiver.url, secret: 'another-secret-never-logged-1' });
  await fetch(`http://127.0.0.1:${bridge.httpPort}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: TOKEN }),
  });
  await fetch(`http://127.0.0.1:${bridge.httpPort}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: 'a-wrong-token-also-secret' }),
  });
  await bridge.api('GET', '/api/events');
  await until(() => bridge!.logLines.filter((line) => line.includes('"delivery attempt"')).length >= 2);

  const log = bridge.logLines.join('\n');
  expect(bridge.logLines.filter((line) => line.includes('"request"')).length).toBeGreaterThanOrEqual(5);
  for (const secret of [TOKEN, SECRET, SECRET.slice(6), 'another-secret-never-logged-1', 'a-wrong-token-also-secret']) {
    expect(log).not.toContain(secret);
  }
  // Not even a fragment of an image: any 64 characters of it would be one.
  for (let i = 0; i + 64 <= image.length; i += 997) expect(log).not.toContain(image.slice(i, i + 64));
  for (let i = 0; i + 64 <= photo.length; i += 331) expect(log).not.toContain(photo.slice(i, i + 64));
});

it('logs a delivery attempt that failed at info, and one that delivered only at debug', async () => {
  receiver = await startReceiver((_req, n) => ({ status: n === 0 ? 500 : 200 }));
  bridge = await startBridge({ WEBHOOK_URL: receiver.url, DELIVERY_SCHEDULE: '10ms', LOG_LEVEL: 'info' });
  terminal = await connectTerminal(bridge.brokerUrl, 'LOG2');
  await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
  await receiver.received(2);
  // The line of an attempt is written before its outcome is committed: once delivered shows, both are in.
  await until(async () => (await bridge!.api('GET', '/api/deliveries?status=delivered')).json.items.length === 1);
  const attempts = bridge.logLines
    .filter((line) => line.includes('"delivery attempt"'))
    .map((line) => JSON.parse(line) as { level: number; outcome: string; status: number });
  expect(attempts.map(({ level, outcome, status }) => ({ level, outcome, status }))).toEqual([{ level: 30, outcome: 'retry', status: 500 }]);
});
