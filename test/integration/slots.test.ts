import { PassThrough } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { replicaId } from '../../src/cluster/cluster.ts';
import { pgSlotLeases } from '../../src/cluster/pg-leases.ts';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { type Postgres, startPostgres } from '../../src/kit/postgres.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, DOWNLINK, type Terminal, UPLINK } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { createLogger } from '../../src/lib/log.ts';
import { startExternalClient } from '../../src/transport/external.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

// README §Running several replicas: the upLink read through the slots of an
// MQTT 5 shared subscription, each slot a persistent session held only under
// its lease; with real Mosquitto, and real PostgreSQL for the leases.

const cleanup = cleanupAfterEach();

async function mosquittoForTest(): Promise<Mosquitto> {
  const mosquitto = await startMosquitto();
  cleanup(() => mosquitto.dispose());
  return mosquitto;
}

async function terminals(url: string, serials: string[]): Promise<Terminal[]> {
  const connected = await Promise.all(serials.map((sn) => connectTerminal(url, sn)));
  cleanup(() => Promise.all(connected.map((t) => t.client.endAsync(true))));
  return connected;
}

async function bridgeForTest(env: Record<string, string>, dataDir?: string): Promise<TestBridge> {
  const b = await startBridge(env, dataDir);
  cleanup(() => b.stop());
  return b;
}

const metricValue = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);

describe('one process with several slots (SQLite)', () => {
  it('takes in every record of a burst from several terminals exactly once, acknowledges each, answers heartbeats, drops its own commands coming back', async () => {
    const mosquitto = await mosquittoForTest();
    const b = await bridgeForTest({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-slots', MQTT_SLOTS: '4' });
    expect(await b.metric('facegate_mqtt_slots_held')).toMatch(/^facegate_mqtt_slots_held 4$/m);
    expect((await b.api('GET', '/readyz')).json).toEqual({ status: 'ready', slots: [0, 1, 2, 3] });
    const load = await terminals(mosquitto.url, ['S1', 'S2', 'S3', 'S4', 'S5']);
    const PER_TERMINAL = 40;
    await Promise.all(
      load.map(async (t) => {
        for (let i = 0; i < PER_TERMINAL; i++) await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `${t.sn}-${i}` })] });
      }),
    );
    await b.eventsStored(load.length * PER_TERMINAL, (e) => e.type === 'face.verified');
    // Answered through the publisher, whichever slot the heartbeat came through.
    for (const t of load) {
      const reply = t.next((m) => m.cmd === 'heartD');
      await t.send({ cmd: 'heartU' });
      await reply;
    }
    // A command: it comes back through the shared subscription (no No Local there) and is dropped.
    const command = load[0].next((m) => m.cmd === 'openDoorD');
    expect((await b.api('POST', '/api/devices/S1/commands', { cmd: 'openDoorD' })).status).toBe(202);
    await command;
    await until(async () => metricValue(await b.metric('facegate_mqtt_own_downlink_total'), 'facegate_mqtt_own_downlink_total') >= 1);
    const received = await b.metric('facegate_messages_in_total');
    // Each message handled once: a second delivery would count again, although its event is not stored twice.
    expect(metricValue(received, 'facegate_messages_in_total{cmd="verifiedRecordU"}')).toBe(load.length * PER_TERMINAL);
    expect(b.count('events', "type = 'face.verified'")).toBe(load.length * PER_TERMINAL);
    expect(await b.metric('facegate_messages_ignored_total')).toMatch(/facegate_messages_ignored_total 0$/m);
    expect(b.count('rejects')).toBe(0);

    // Every one was acknowledged: after a restart on the same sessions nothing comes again.
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    const again = await bridgeForTest({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-slots', MQTT_SLOTS: '4' }, dataDir);
    await load[1].send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'after' })] });
    await again.eventsStored(1, (e) => e.type === 'face.verified');
    expect(metricValue(await again.metric('facegate_messages_in_total'), 'facegate_messages_in_total{cmd="verifiedRecordU"}')).toBe(1);
  });

  it('moving from one client to slots takes what the single session kept, then nothing twice', async () => {
    const mosquitto = await mosquittoForTest();
    const single = await bridgeForTest({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-move' });
    const [t] = await terminals(mosquitto.url, ['MV']);
    await t.send({ cmd: 'heartU' });
    await single.eventsStored(1, (e) => e.type === 'device.online');
    const dataDir = single.dataDir;
    await single.stop({ keepData: true });
    // Queued in the single client's session while no bridge runs.
    for (let i = 0; i < 10; i++) await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `queued-${i}` })] });
    const slotted = await bridgeForTest({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: 'facegate-move', MQTT_SLOTS: '3' }, dataDir);
    await slotted.eventsStored(10, (e) => e.type === 'face.verified');
    // The old subscription is gone: a new record comes once, through a slot.
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'new' })] });
    await slotted.eventsStored(11, (e) => e.type === 'face.verified');
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' });
    await reply;
    expect(metricValue(await slotted.metric('facegate_messages_in_total'), 'facegate_messages_in_total{cmd="verifiedRecordU"}')).toBe(11);
  });
});

/** A replica's MQTT side alone, its slots under leases in PostgreSQL, reaching both through proxies that a test cuts as SIGKILL would. */
async function replica(mosquitto: Mosquitto, pg: Postgres, database: string, options: { commit: boolean }) {
  const mqttProxy = await startTcpProxy(mosquitto.port);
  const pgProxy = await startTcpProxy(pg.port);
  const url = database.replace(`:${pg.port}/`, `:${pgProxy.port}/`);
  const log = createLogger('info', new PassThrough().resume());
  const received: string[] = [];
  const transport: Transport = await startExternalClient({
    url: `mqtt://127.0.0.1:${mqttProxy.port}`,
    clientId: `replica-${Math.random().toString(36).slice(2, 10)}`,
    uplink: UPLINK,
    downlink: DOWNLINK,
    discovery: true,
    serials: [],
    maxPayload: 1024 * 1024,
    // What the store would do with each message: here it is kept in order, and committed (acknowledged) or held for ever.
    ingest: (_topic, payload, done) => {
      received.push(JSON.parse(Buffer.from(payload).toString()).data[0].num);
      if (options.commit) setImmediate(done);
    },
    registry: new Registry(),
    log,
    backoff: { initialMs: 200, maxMs: 1000 },
    slots: { group: 'site', leases: pgSlotLeases({ url, group: 'site', count: 4, replica: replicaId(), log, roundMs: 200 }) },
  });
  let killed = false;
  cleanup(async () => {
    if (!killed) await transport.stop();
  });
  return {
    transport,
    received,
    held: () => transport.slots!(),
    /** Every connection of the replica gone at once, none made again: its process died. */
    async kill() {
      killed = true;
      await Promise.all([mqttProxy.cut(), pgProxy.cut()]);
      // What is left of it in this process: its timers and clients, reaching nothing.
      void transport.stop().catch(() => {});
    },
  };
}

async function postgresForTest(): Promise<Postgres> {
  const pg = await startPostgres({ fsync: 'off' });
  cleanup(() => pg.dispose());
  return pg;
}

describe('slots under leases in PostgreSQL', () => {
  it('a replica that dies loses nothing: the other takes its slots and drains what their sessions kept, unacknowledged messages included', async () => {
    const mosquitto = await mosquittoForTest();
    const pg = await postgresForTest();
    const database = await pg.database('leases');
    // A replica whose commits never finish: what it receives stays unacknowledged at the broker.
    const stuck = await replica(mosquitto, pg, database, { commit: false });
    await until(() => stuck.held().length === 4);
    const survivor = await replica(mosquitto, pg, database, { commit: true });
    // The fair share: two each.
    await until(() => stuck.held().length === 2 && survivor.held().length === 2);
    const load = await terminals(mosquitto.url, ['K1', 'K2', 'K3', 'K4']);
    const send = (prefix: string, count: number) =>
      Promise.all(
        load.map(async (t) => {
          for (let i = 0; i < count; i++) await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `${prefix}-${t.sn}-${i}` })] });
        }),
      );
    await send('before', 25);
    await until(() => stuck.received.length > 0 && survivor.received.length > 0);
    const unacknowledged = [...stuck.received];
    await stuck.kill();
    // Sent at once, before the survivor has its slots: some wait in the dead replica's sessions.
    await send('after', 25);
    await until(() => survivor.held().length === 4);
    const all = load.flatMap((t) => Array.from({ length: 25 }, (_, i) => [`before-${t.sn}-${i}`, `after-${t.sn}-${i}`]).flat());
    await until(() => all.every((num) => survivor.received.includes(num)));
    expect(unacknowledged.every((num) => survivor.received.includes(num))).toBe(true);
    expect(await survivor.transport.connected()).toBe(true);
  });

  it('a replica that loses PostgreSQL closes its slots at once and takes them again when it returns', async () => {
    const mosquitto = await mosquittoForTest();
    const pg = await postgresForTest();
    const database = await pg.database('leases');
    const r = await replica(mosquitto, pg, database, { commit: true });
    await until(() => r.held().length === 4);
    const [t] = await terminals(mosquitto.url, ['L1']);
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'first' })] });
    await until(() => r.received.includes('first'));
    await pg.stop();
    await until(() => r.held().length === 0);
    expect(r.transport.connected()).toBe(false);
    // Its slots are closed: what comes meanwhile waits in their sessions at the broker.
    for (let i = 0; i < 20; i++) await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `while-${i}` })] });
    const heardWhileDown = r.received.length;
    await pg.start();
    await until(() => r.held().length === 4);
    await until(() => Array.from({ length: 20 }, (_, i) => `while-${i}`).every((num) => r.received.includes(num)));
    expect(heardWhileDown).toBe(1);
    expect(r.transport.connected()).toBe(true);
  });
});
