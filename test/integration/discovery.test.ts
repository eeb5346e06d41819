import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { openRaw } from '../support/intruder.ts';
import { connectTerminal, type TestTerminal, verifiedRecord } from '../support/terminal.ts';
import { until } from '../support/until.ts';

// README §Topics, discovery: an anonymous client of the embedded broker (or
// of a site's broker) can publish on the upLink topic of any serial it makes
// up. Only a serial as README §Topics defines it is ever learned, the list of
// terminals is paged, a terminal can be forgotten by API, and a serial seen
// on the wire never decides where a door command goes (POST /).

const LISTED = 'REG1';

let bridge: TestBridge | undefined;
let terminals: TestTerminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  await bridge?.stop();
  bridge = undefined;
  terminals = [];
});

async function terminal(url: string, sn: string) {
  const t = await connectTerminal(url, sn);
  terminals.push(t);
  return t;
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

describe('serials that are no serials', () => {
  it('learns no 60 KB serial, none with spaces or letters outside ASCII, none starting with a separator', async () => {
    const b = await startBridge();
    bridge = b;
    const intruder = await openRaw(b.brokerPort, 'odd-serials');
    const odd = ['A'.repeat(60_000), 'a b', '门禁01', 'café', '-leading', `${'B'.repeat(65)}`];
    for (const sn of odd) intruder.write({ cmd: 'publish', topic: `fungxi_${sn}_upLink`, payload: Buffer.from('{"cmd":"heartU"}'), qos: 0, retain: false, dup: false });
    // Handled (and answered with a PINGRESP) or refused (the connection ended): either way, past ingest.
    await intruder.settle();
    await intruder.end();
    // A real terminal after them: once it is online, whatever came before was taken in or not.
    const t = await terminal(b.brokerUrl, 'OK1');
    await t.send({ cmd: 'heartU' });
    await b.eventsStored(1, (e) => e.type === 'device.online');
    expect(b.db().prepare('select sn from terminals').all()).toEqual([{ sn: 'OK1' }]);
    expect((await allDevices(b)).items.map((d) => d.sn)).toEqual(['OK1']);
  });

  it('drops serials that are no serials kept by an earlier version, and answers 404 for such an {sn}', async () => {
    let b = await startBridge();
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    const now = Date.now();
    const db = new Database(join(dataDir, 'facegate.db'));
    const insert = db.prepare('insert into terminals (sn, registered, first_seen_at, last_seen_at, online) values (?, ?, ?, ?, 0)');
    for (const [sn, registered] of [['a b', 0], ['门禁', 0], ['x'.repeat(65), 1], ['-x', 0], ['OK1', 0]] as const) insert.run(sn, registered, now, now);
    db.close();

    b = await startBridge({}, dataDir);
    bridge = b;
    expect(b.db().prepare('select sn from terminals').all()).toEqual([{ sn: 'OK1' }]);
    expect((await allDevices(b)).items.map((d) => d.sn)).toEqual(['OK1']);
    for (const sn of ['a%20b', '%E9%97%A8%E7%A6%81', 'x'.repeat(65), '-x']) {
      for (const [method, path] of [['GET', `/api/devices/${sn}`], ['DELETE', `/api/devices/${sn}`], ['POST', `/api/devices/${sn}/commands`]]) {
        const res = await b.api(method, path, method === 'POST' ? { cmd: 'openDoorD' } : undefined);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.json.error.code).toBe('not_found');
      }
    }
    expect(b.count('commands')).toBe(0);
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
    await b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === 'B2');
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
    for (const sn of seen) sender.write({ cmd: 'publish', topic: `fungxi_${sn}_upLink`, payload: Buffer.from('{"cmd":"heartU"}'), qos: 0, retain: false, dup: false });
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
