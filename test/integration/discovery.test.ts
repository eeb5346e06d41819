import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { flood, openRaw } from '../support/intruder.ts';

// README §Topics, discovery: an anonymous client of the embedded broker (or
// of a site's broker) can publish on the upLink topic of any serial it makes
// up. Only a serial as README §Topics defines it is ever learned, and only as
// many as MAX_TERMINALS and DISCOVERY_RATE allow; what was learned and is no
// longer heard from is forgotten (FORGET_AFTER), the list of terminals is
// paged, a terminal can be forgotten by API, and a serial seen on the wire
// never decides where a door command goes (POST /).

const FLOOD = 50_000;
const MAX_TERMINALS = 200;
/** A burst of 100, then 50 a second. */
const DISCOVERY_RATE = '50/s';
/** Connections the intruder may use: a refusal ends one, and it writes rounds of 100, so 500 take every serial. */
const MAX_CONNECTIONS = 1000;
const LISTED = 'REG1';

let bridge: TestBridge | undefined;
let mosquitto: Mosquitto | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  try {
    await Promise.all(terminals.map((t) => t.client.endAsync(true)));
    await bridge?.stop();
  } finally {
    await mosquitto?.dispose();
    bridge = mosquitto = undefined;
    terminals = [];
  }
});

async function terminal(url: string, sn: string) {
  const t = await connectTerminal(url, sn);
  terminals.push(t);
  return t;
}

const madeUp = (count: number) => Array.from({ length: count }, (_, i) => `fungxi_X${String(i).padStart(5, '0')}_upLink`);

/** A value of the bridge's /metrics, or undefined when it has no such series. */
async function metric(b: TestBridge, series: string): Promise<number | undefined> {
  const text = await b.facegate.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Every terminal of GET /api/devices, page by page. */
async function allDevices(b: TestBridge, query = '', limit = 50): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await b.api('GET', `/api/devices?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, res.text.slice(0, 200)).toBe(200);
    pages += 1;
    items.push(...res.json.items);
    cursor = res.json.next_cursor;
    expect(pages).toBeLessThan(1000);
  } while (cursor !== null);
  return { items, pages };
}

/**
 * The listed terminal's heartbeats (each answered) and records (each
 * acknowledged) while `busy` holds, and at least five of each.
 */
async function keepBeating(t: Terminal, busy: () => boolean) {
  let answered = 0;
  let acknowledged = 0;
  for (let i = 0; i < 5 || busy(); i++) {
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' }, 0);
    await reply;
    answered += 1;
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `R${i}` })] });
    acknowledged += 1;
  }
  return { answered, acknowledged };
}

/** What the bridge knows once the flood has settled: table, API, presence and metrics agree. */
async function settledTerminals(b: TestBridge) {
  // Presence knows at once; the table follows with the writer's commits.
  await until(async () => (await metric(b, 'facegate_terminals_known')) === b.count('terminals'));
  const table = b.count('terminals');
  const listed = await allDevices(b);
  const known = await metric(b, 'facegate_terminals_known');
  const online = await metric(b, 'facegate_terminals_online');
  return { table, listed, known, online };
}

describe('a flood of made-up serials', () => {
  it('embedded broker: learns at most MAX_TERMINALS, refuses the rest at DISCOVERY_RATE, and keeps serving a listed terminal', async () => {
    const b = await startBridge({ DEVICES: LISTED, MAX_TERMINALS: String(MAX_TERMINALS), DISCOVERY_RATE });
    bridge = b;
    const listedTerminal = await terminal(b.brokerUrl, LISTED);
    const began = Date.now();
    let flooding = true;
    const [attack, served] = await Promise.all([
      flood(b.brokerPort, madeUp(FLOOD), '{"cmd":"heartU"}', { maxConnections: MAX_CONNECTIONS }).finally(() => (flooding = false)),
      keepBeating(listedTerminal, () => flooding),
    ]);
    const { table, listed, known, online } = await settledTerminals(b);
    const refused = (await metric(b, 'facegate_messages_rejected_total{reason="terminal_limit"}')) ?? 0;
    console.log(
      `flood (embedded): ${attack.attempted} attempted on ${attack.connections} connections, ${refused} refused, ${table} terminals known; the listed terminal: ${served.answered} heartbeats answered, ${served.acknowledged} records acknowledged`,
    );

    expect(attack.attempted).toBe(FLOOD);
    expect(table).toBeLessThanOrEqual(MAX_TERMINALS);
    expect(table).toBeGreaterThan(1); // discovery still learns, within its bounds
    expect(listed.items).toHaveLength(table);
    expect(new Set(listed.items.map((d) => d.sn)).size).toBe(table);
    expect(listed.items.map((d) => d.sn)).toContain(LISTED);
    expect(known).toBe(table);
    expect(online).toBe(listed.items.filter((d) => d.online).length);
    // Refused, not kept: nothing of the refused messages reached the store.
    expect(refused).toBeGreaterThan(0);
    expect(b.count('rejects')).toBe(0);
    expect(b.count('events', "type = 'device.online'")).toBe(table);
    expect(b.count('events', "type = 'face.verified'")).toBe(served.acknowledged);
    // The listed terminal never lost its connection.
    expect(listedTerminal.client.connected).toBe(true);
    // One warning a minute at most, with the count.
    const warnings = b.logLines.filter((line) => line.includes('"new terminals not learned"'));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(Math.ceil((Date.now() - began) / 60_000));
    expect(JSON.parse(warnings[0])).toMatchObject({ level: 40, refused: expect.any(Number), maxTerminals: MAX_TERMINALS });
  });

  it('through Mosquitto: the same flood is acknowledged and kept as terminal_limit rejects', async () => {
    mosquitto = await startMosquitto();
    const b = await startBridge({
      MQTT_URL: mosquitto.url,
      MQTT_CLIENT_ID: 'facegate-flood',
      DEVICES: LISTED,
      MAX_TERMINALS: String(MAX_TERMINALS),
      DISCOVERY_RATE,
    });
    bridge = b;
    const listedTerminal = await terminal(mosquitto.url, LISTED);
    let flooding = true;
    const [attack, served] = await Promise.all([
      flood(mosquitto.port, madeUp(FLOOD), '{"cmd":"heartU"}', { maxConnections: MAX_CONNECTIONS }).finally(() => (flooding = false)),
      keepBeating(listedTerminal, () => flooding),
    ]);
    // Every message of the flood reaches the bridge: learned (a heartbeat) or kept as a reject.
    const refused = async () => (await metric(b, 'facegate_messages_rejected_total{reason="terminal_limit"}')) ?? 0;
    const heartbeats = async () => (await metric(b, 'facegate_messages_in_total{cmd="heartU"}')) ?? 0;
    await until(async () => (await refused()) + (await heartbeats()) - served.answered >= FLOOD);
    const { table, listed, known } = await settledTerminals(b);
    console.log(
      `flood (mosquitto): ${attack.attempted} attempted on ${attack.connections} connection(s), ${await refused()} counted as terminal_limit rejects, ${table} terminals known`,
    );

    expect(attack.connections).toBe(1);
    expect(table).toBeLessThanOrEqual(MAX_TERMINALS);
    expect(table).toBeGreaterThan(1);
    expect(listed.items).toHaveLength(table);
    expect(known).toBe(table);
    expect(await refused()).toBe(FLOOD - (table - 1));
    // Every one counted; rows kept only as far as the bucket of rejects without a known serial allows (README §Malformed messages).
    const kept = b.count('rejects', "reason = 'terminal_limit'");
    expect(kept).toBeGreaterThan(0);
    expect(kept + ((await metric(b, 'facegate_rejects_not_kept_total')) ?? 0)).toBe(FLOOD - (table - 1));
    expect(b.count('events', "type = 'device.online'")).toBe(table);
    expect(served.acknowledged).toBe(b.count('events', "type = 'face.verified'"));
  });
});

describe('serials that are no serials', () => {
  it('learns no 60 KB serial, none with spaces or letters outside ASCII, none starting with a separator', async () => {
    const b = await startBridge();
    bridge = b;
    const intruder = await openRaw(b.brokerPort, 'odd-serials');
    const odd = ['A'.repeat(60_000), 'a b', '门禁01', 'café', '-leading', `${'B'.repeat(65)}`];
    for (const sn of odd)
      intruder.write({ cmd: 'publish', topic: `fungxi_${sn}_upLink`, payload: Buffer.from('{"cmd":"heartU"}'), qos: 0, retain: false, dup: false });
    // Handled (and answered with a PINGRESP) or refused (the connection ended): either way, past ingest.
    await intruder.settle();
    await intruder.end();
    // A real terminal after them: once it is online, whatever came before was taken in or not.
    const t = await terminal(b.brokerUrl, 'OK1');
    await t.send({ cmd: 'heartU' });
    await b.eventsStored(1, (e) => e.type === 'device.online');
    expect(b.db().prepare('select sn from terminals').all()).toEqual([{ sn: 'OK1' }]);
    expect((await allDevices(b)).items.map((d) => d.sn)).toEqual(['OK1']);
    expect(await metric(b, 'facegate_terminals_known')).toBe(1);
  });

  it('drops serials that are no serials kept by an earlier version, and answers 404 for such an {sn}', async () => {
    let b = await startBridge();
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    const now = Date.now();
    const db = new Database(join(dataDir, 'facegate.db'));
    const insert = db.prepare('insert into terminals (sn, registered, first_seen_at, last_seen_at, online) values (?, ?, ?, ?, 0)');
    for (const [sn, registered] of [
      ['a b', 0],
      ['门禁', 0],
      ['x'.repeat(65), 1],
      ['-x', 0],
      ['OK1', 0],
    ] as const)
      insert.run(sn, registered, now, now);
    db.close();

    b = await startBridge({}, dataDir);
    bridge = b;
    expect(b.db().prepare('select sn from terminals').all()).toEqual([{ sn: 'OK1' }]);
    expect((await allDevices(b)).items.map((d) => d.sn)).toEqual(['OK1']);
    for (const sn of ['a%20b', '%E9%97%A8%E7%A6%81', 'x'.repeat(65), '-x']) {
      for (const [method, path] of [
        ['GET', `/api/devices/${sn}`],
        ['DELETE', `/api/devices/${sn}`],
        ['POST', `/api/devices/${sn}/commands`],
      ]) {
        const res = await b.api(method, path, method === 'POST' ? { cmd: 'openDoorD' } : undefined);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.json.error.code).toBe('not_found');
      }
    }
    expect(b.count('commands')).toBe(0);
  });
});

describe('FORGET_AFTER', () => {
  it('forgets a discovered terminal silent for longer, keeps a listed one and the events of both', async () => {
    let b = await startBridge({ DEVICES: LISTED });
    const dataDir = b.dataDir;
    for (const sn of [LISTED, 'DISC1', 'DISC2']) {
      const t = await connectTerminal(b.brokerUrl, sn);
      await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
      await t.client.endAsync();
    }
    await b.eventsStored(3, (e) => e.type === 'device.online');
    await b.stop({ keepData: true });
    // Two minutes pass for LISTED and DISC1 (the test cannot wait them): their last-seen times move back.
    const db = new Database(join(dataDir, 'facegate.db'));
    db.prepare("update terminals set last_seen_at = last_seen_at - 120000, first_seen_at = first_seen_at - 120000 where sn in (?, 'DISC1')").run(LISTED);
    db.close();

    b = await startBridge({ DEVICES: LISTED, FORGET_AFTER: '1m', HEARTBEAT_TIMEOUT: '1' }, dataDir, { retentionEveryMs: 50 });
    bridge = b;
    await until(() => b.count('terminals') === 2);
    expect(b.db().prepare('select sn from terminals order by sn').all()).toEqual([{ sn: 'DISC2' }, { sn: LISTED }]);
    expect((await allDevices(b)).items.map((d) => d.sn)).toEqual(['DISC2', LISTED]);
    expect((await b.api('GET', '/api/devices/DISC1')).status).toBe(404);
    expect((await b.api('POST', '/api/devices/DISC1/commands', { cmd: 'openDoorD' })).status).toBe(404);
    expect(await metric(b, 'facegate_terminals_known')).toBe(2);
    // Its events stay until retention.
    expect(b.count('events', "device_sn = 'DISC1' and type = 'face.verified'")).toBe(1);
    await until(() => b.logLines.some((line) => line.includes('"terminals forgotten"')));

    // Back on the wire, it is learned again.
    const back = await terminal(b.brokerUrl, 'DISC1');
    await back.send({ cmd: 'heartU' });
    await b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === 'DISC1');
    expect((await b.api('GET', '/api/devices/DISC1')).json).toMatchObject({ sn: 'DISC1', online: true, registered: false });
    expect(await metric(b, 'facegate_terminals_known')).toBe(3);
  });
});

describe('POST / (the original relay)', () => {
  it('follows no serial seen on the wire: 404 with DEVICES empty, and the terminal receives nothing', async () => {
    const b = await startBridge();
    bridge = b;
    const stranger = await terminal(b.brokerUrl, 'STRANGER1');
    await stranger.send({ cmd: 'heartU' });
    await b.eventsStored(1, (e) => e.type === 'device.online');
    const res = await b.api('POST', '/', { cmd: 'openDoorD' });
    expect(res.status).toBe(404);
    expect(res.json.error).toMatchObject({ code: 'not_found', message: expect.stringContaining('DEFAULT_DEVICE') });
    // A heartbeat after the request: its answer comes after anything the request sent.
    const reply = stranger.next((m) => m.cmd === 'heartD');
    await stranger.send({ cmd: 'heartU' });
    await reply;
    expect(stranger.received.filter((m) => m.cmd !== 'heartD')).toEqual([]);
    expect(b.count('commands')).toBe(0);
  });

  it('sends to the only terminal in DEVICES, whatever stranger was seen', async () => {
    const b = await startBridge({ DEVICES: 'A1' });
    bridge = b;
    const listedTerminal = await terminal(b.brokerUrl, 'A1');
    const stranger = await terminal(b.brokerUrl, 'B2');
    await stranger.send({ cmd: 'heartU' });
    // Online, as a command needs (README §Commands with replies).
    await listedTerminal.send({ cmd: 'heartU' });
    await b.eventsStored(2, (e) => e.type === 'device.online');
    const arrived = listedTerminal.next((m) => m.cmd === 'openDoorD');
    const res = await b.api('POST', '/', { cmd: 'openDoorD' });
    expect(res.status, res.text).toBe(200);
    expect(await arrived).toEqual({ cmd: 'openDoorD' });
    const reply = stranger.next((m) => m.cmd === 'heartD');
    await stranger.send({ cmd: 'heartU' });
    await reply;
    expect(stranger.received.filter((m) => m.cmd !== 'heartD')).toEqual([]);
  });
});

describe('GET /api/devices', () => {
  it('pages by serial: 120 terminals in three pages of at most 50, none twice, none missed; filters on online', async () => {
    const registered = Array.from({ length: 60 }, (_, i) => `R${String(i).padStart(3, '0')}`);
    const b = await startBridge({ DEVICES: registered.join(',') });
    bridge = b;
    // Sixty more learned from their traffic, through one connection.
    const seen = Array.from({ length: 60 }, (_, i) => `S${String(i).padStart(3, '0')}`);
    const sender = await openRaw(b.brokerPort, 'sixty');
    for (const sn of seen)
      sender.write({ cmd: 'publish', topic: `fungxi_${sn}_upLink`, payload: Buffer.from('{"cmd":"heartU"}'), qos: 0, retain: false, dup: false });
    expect(await sender.settle()).toBe(true);
    await b.eventsStored(60, (e) => e.type === 'device.online');

    const { items, pages } = await allDevices(b);
    expect(pages).toBe(3);
    expect(items.map((d) => d.sn)).toEqual([...registered, ...seen]);
    const online = await allDevices(b, '&online=true');
    expect(online.items.map((d) => d.sn)).toEqual(seen);
    expect(online.items.every((d) => d.online && !d.registered)).toBe(true);
    const offline = await allDevices(b, '&online=false', 25);
    expect(offline.items.map((d) => d.sn)).toEqual(registered);
    expect(offline.pages).toBe(3);
    await sender.end();

    for (const bad of ['limit=0', 'limit=501', 'limit=x', 'online=maybe', 'cursor=%20']) {
      const res = await b.api('GET', `/api/devices?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.json.error.code).toBe('invalid_request');
    }
  });
});

describe('DELETE /api/devices/{sn}', () => {
  it('forgets a terminal: 204, then 404; a listed one is back at the next start, one still sending is learned again', async () => {
    let b = await startBridge({ DEVICES: LISTED });
    const dataDir = b.dataDir;
    bridge = b;
    const madeUpSn = await terminal(b.brokerUrl, 'FAKE1');
    await madeUpSn.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });

    expect((await b.api('DELETE', '/api/devices/FAKE1')).status).toBe(204);
    expect((await b.api('DELETE', '/api/devices/FAKE1')).status).toBe(404);
    expect((await b.api('GET', '/api/devices/FAKE1')).status).toBe(404);
    await until(() => b.count('terminals', "sn = 'FAKE1'") === 0);
    expect(await metric(b, 'facegate_terminals_known')).toBe(1);
    expect(b.count('events', "device_sn = 'FAKE1' and type = 'face.verified'")).toBe(1);
    expect((await b.api('DELETE', '/api/devices/NEVER1')).status).toBe(404);

    // Still sending: learned again, online again.
    await madeUpSn.send({ cmd: 'heartU' });
    await b.eventsStored(2, (e) => e.type === 'device.online' && e.deviceSn === 'FAKE1');
    expect((await b.api('GET', '/api/devices/FAKE1')).json).toMatchObject({ online: true });
    await until(() => b.count('terminals', "sn = 'FAKE1'") === 1);

    expect((await b.api('DELETE', `/api/devices/${LISTED}`)).status).toBe(204);
    expect((await allDevices(b)).items.map((d) => d.sn)).toEqual(['FAKE1']);
    await b.stop({ keepData: true });
    b = await startBridge({ DEVICES: LISTED }, dataDir);
    bridge = b;
    expect((await b.api('GET', `/api/devices/${LISTED}`)).json).toMatchObject({ sn: LISTED, registered: true });
  });
});
