import { connect, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { connectTerminal, type TestTerminal } from '../support/terminal.ts';

// README §Connections and memory: what a connection may hold, and for how
// long, on the embedded broker.

let bridge: TestBridge;
let terminals: TestTerminal[] = [];
let clients: MqttClient[] = [];
let sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all([...terminals.map((t) => t.client), ...clients].map((c) => c.endAsync(true)));
  terminals = [];
  clients = [];
  sockets = [];
  await bridge?.stop();
});

function closed(emitter: { once(event: 'close', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => emitter.once('close', () => resolve()));
}

async function metric(name: string): Promise<number> {
  const text = await bridge.metric(name.replace(/\{.*/, ''));
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? 0);
}

async function heartbeat(t: TestTerminal) {
  const answer = t.next((m) => m.cmd === 'heartD');
  await t.send({ cmd: 'heartU' }, 0);
  await answer;
}

describe('idle connections', () => {
  it('ends a connection that sends nothing for 2 × HEARTBEAT_TIMEOUT, whatever keepalive it asked for, and keeps one that talks', async () => {
    bridge = await startBridge({ HEARTBEAT_TIMEOUT: '1' });
    // A terminal that speaks every 400 ms stays, while the silent ones go.
    const talker = await connectTerminal(bridge.brokerUrl, 'TALK1', { reconnectPeriod: 0, keepalive: 0 });
    terminals.push(talker);
    let drops = 0;
    talker.client.on('close', () => drops++);
    const talking = setInterval(() => void talker.send({ cmd: 'heartU' }, 0).catch(() => {}), 400);
    try {
      // keepalive 0: "never check"; 65535: 18 hours before aedes' own check.
      const silent = await Promise.all([0, 65_535].map((keepalive, i) => mqtt.connectAsync(bridge.brokerUrl, { clientId: `silent-${i}`, keepalive, reconnectPeriod: 0 })));
      clients.push(...silent);
      const startedAt = Date.now();
      await Promise.all(silent.map(closed));
      console.log(`broker-limits: silent connections ended after ${Date.now() - startedAt} ms (HEARTBEAT_TIMEOUT=1)`);
    } finally {
      clearInterval(talking);
    }
    expect(await metric('facegate_broker_connections_ended_total{reason="idle"}')).toBe(2);
    expect(drops).toBe(0);
    await heartbeat(talker);
  });

  it('closes a socket that sends no CONNECT within 10 s', async () => {
    bridge = await startBridge();
    const socket = connect(bridge.brokerPort, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    const startedAt = Date.now();
    await closed(socket);
    console.log(`broker-limits: a socket without CONNECT closed after ${Date.now() - startedAt} ms`);
    expect(socket.destroyed).toBe(true);
  });
});
