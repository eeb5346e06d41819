import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

let bridge: TestBridge;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.end()));
  terminals = [];
  await bridge?.stop();
});

async function terminal(sn: string) {
  const t = await connectTerminal(bridge.brokerUrl, sn);
  terminals.push(t);
  return t;
}

describe('heartbeats', () => {
  it('answers heartU with heartD carrying the local time', async () => {
    bridge = await startBridge();
    const t = await terminal('123456789');
    const reply = t.next();
    await t.send({ cmd: 'heartU', extra: 'ignored' }, 0);
    const answer = await reply;
    expect(Object.keys(answer)).toEqual(['cmd', 'time']);
    expect(answer.cmd).toBe('heartD');
    expect(answer.time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(Math.abs(new Date(answer.time.replace(' ', 'T')).getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('answers a heartbeat that carries extra fields of any size', async () => {
    bridge = await startBridge();
    const t = await connectTerminal(bridge.brokerUrl, 'BIG1');
    terminals.push(t);
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU', status: { firmware: '2.3.1', log: 'x'.repeat(100_000) } });
    expect((await reply).cmd).toBe('heartD');
  });

  it('answers heartbeats while the database cannot commit', async () => {
    bridge = await startBridge();
    const a = await terminal('A1');
    const b = await terminal('B2');
    // Another connection holds the write lock: the writer thread waits on it.
    const blocker = new Database(join(bridge.dataDir, 'facegate.db'));
    blocker.exec('begin immediate');
    let stored = false;
    const record = a.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }).then(() => (stored = true));
    const reply = b.next((m) => m.cmd === 'heartD');
    await b.send({ cmd: 'heartU' });
    expect((await reply).cmd).toBe('heartD');
    expect(stored).toBe(false);
    blocker.exec('commit');
    blocker.close();
    await record;
    expect(bridge.count('events', "type = 'face.verified'")).toBe(1);
  });

  it('does not store heartbeats as events', async () => {
    bridge = await startBridge();
    const t = await terminal('H1');
    for (let i = 0; i < 5; i++) {
      const reply = t.next();
      await t.send({ cmd: 'heartU' });
      await reply;
    }
    await bridge.eventsStored(1, (e) => e.type === 'device.online');
    expect(bridge.count('events', "type != 'device.online'")).toBe(0);
    expect(await bridge.metric('facegate_messages_in_total')).toContain('cmd="heartU"} 5');
  });
});

describe('online state', () => {
  it('turns a terminal online on its first message and offline after HEARTBEAT_TIMEOUT of silence', async () => {
    bridge = await startBridge({ HEARTBEAT_TIMEOUT: '1' });
    const t = await terminal('P1');
    await t.send({ cmd: 'heartU' });
    const [online] = await bridge.eventsStored(1, (e) => e.type === 'device.online');
    expect(online.deviceSn).toBe('P1');
    let device = (await bridge.api('GET', '/api/devices/P1')).json;
    expect(device).toMatchObject({ sn: 'P1', online: true, today: { 'device.online': 1 } });
    expect(Date.parse(device.first_seen_at)).toBeLessThanOrEqual(Date.parse(device.last_seen_at));

    const [offline] = await bridge.eventsStored(1, (e) => e.type === 'device.offline');
    expect(offline.deviceSn).toBe('P1');
    device = (await bridge.api('GET', '/api/devices/P1')).json;
    expect(device.online).toBe(false);
    expect(bridge.db().prepare("select online, last_seen_at from terminals where sn = 'P1'").get()).toMatchObject({ online: 0 });

    // Back again: online once more, one more event.
    await t.send({ cmd: 'heartU' });
    await bridge.eventsStored(2, (e) => e.type === 'device.online');
  });

  it('keeps presence across a restart', async () => {
    bridge = await startBridge();
    const t = await terminal('R1');
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await t.end();
    terminals = [];
    const dataDir = bridge.dataDir;
    await bridge.stop({ keepData: true });
    bridge = await startBridge({}, dataDir);
    const { json } = await bridge.api('GET', '/api/devices/R1');
    expect(json.sn).toBe('R1');
    expect(json.last_seen_at).not.toBeNull();
    expect(bridge.count('events', "type = 'face.verified'")).toBe(1);
  });
});
