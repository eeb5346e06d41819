import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, stopDuringCommit, type TestBridge, TOKEN } from '../support/bridge.ts';
import { openStream } from '../support/sse.ts';

let bridge: TestBridge;
let terminals: Terminal[] = [];

async function setup(env: Record<string, string> = {}) {
  bridge = await startBridge(env);
  return bridge;
}
async function terminal(sn = '123456789', options = {}) {
  const t = await connectTerminal(bridge.brokerUrl, sn, options);
  terminals.push(t);
  return t;
}

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.end()));
  terminals = [];
  await bridge?.stop();
});

const rows = (sql: string, ...params: unknown[]) =>
  bridge
    .db()
    .prepare(sql)
    .all(...params) as any[];

describe('recognition records', () => {
  it('stores every record of a verifiedRecordU before acknowledging it', async () => {
    await setup();
    const t = await terminal();
    const records = [
      verifiedRecord({ num: '1' }),
      verifiedRecord({ num: '2', time: '2026-11-22 10:00:01' }),
      verifiedRecord({ num: '3', time: '2026-11-22 10:00:02' }),
    ];
    await t.send({ cmd: 'verifiedRecordU', data: records });
    // The PUBACK is in: the events must already be committed.
    const stored = rows("select type, device_sn, fields, has_image from events where type like 'face.%' order by seq");
    expect(stored.map((r) => JSON.parse(r.fields).num)).toEqual(['1', '2', '3']);
    expect(stored.every((r) => r.type === 'face.verified' && r.device_sn === '123456789' && r.has_image === 1)).toBe(true);
    expect(rows('select count(*) as n from images')[0].n).toBe(3);
  });

  it('keeps the terminal values as sent, without the image', async () => {
    await setup();
    const t = await terminal();
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ personType: 1, extra: { a: [1, 2] } })] });
    const [row] = rows("select fields from events where type = 'face.verified'");
    expect(JSON.parse(row.fields)).toEqual({
      num: '1001',
      name: 'Zhang San',
      verifiedCode: 0,
      time: '2026-11-22 09:59:58',
      personType: 1,
      extra: { a: [1, 2] },
    });
    // The image apart, in its segment file (README §What survives what), served whole.
    const [event] = (await bridge.api('GET', '/api/events?type=face.verified')).json.items;
    const image = await fetch(`http://127.0.0.1:${bridge.httpPort}/api/events/${event.id}/image`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(Buffer.from(await image.arrayBuffer()).equals(Buffer.from(verifiedRecord().liveImageBase64, 'base64'))).toBe(true);
  });

  it('splits verified passes from rejections with FORWARD=passed', async () => {
    await setup();
    const t = await terminal();
    await t.send({
      cmd: 'verifiedRecordU',
      data: [
        verifiedRecord({ num: 'a' }),
        verifiedRecord({ num: 'b', verifiedCode: 1 }),
        verifiedRecord({ num: 'c', personType: '2' }),
        verifiedRecord({ num: 'd', personType: 1 }),
      ],
    });
    const types = rows("select type, fields from events where type like 'face.%' order by seq").map((r) => [JSON.parse(r.fields).num, r.type]);
    expect(types).toEqual([
      ['a', 'face.verified'],
      ['b', 'face.rejected'],
      ['c', 'face.rejected'],
      ['d', 'face.verified'],
    ]);
  });

  it('forwards every verified record with FORWARD=all', async () => {
    await setup({ FORWARD: 'all' });
    const t = await terminal();
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ verifiedCode: 7 })] });
    expect(bridge.count('events', "type = 'face.verified'")).toBe(1);
  });

  it('turns strangers into face.stranger and other commands into device.message', async () => {
    await setup();
    const t = await terminal();
    await t.send({ cmd: 'strangerRecordU', data: [{ liveImageBase64: '/9j/stranger', time: '2026-11-22 10:00:00' }] });
    await t.send({ cmd: 'openDoorU', code: 0, msg: 'ok' });
    expect(rows("select type, fields from events where type in ('face.stranger', 'device.message') order by seq").map((r) => r.type)).toEqual([
      'face.stranger',
      'device.message',
    ]);
    const [message] = rows("select fields from events where type = 'device.message'");
    expect(JSON.parse(message.fields)).toEqual({ cmd: 'openDoorU', code: 0, msg: 'ok' });
  });

  it('stores no image with IMAGES=omit', async () => {
    await setup({ IMAGES: 'omit' });
    const t = await terminal();
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(bridge.count('events', "type = 'face.verified' and has_image = 0")).toBe(1);
    expect(bridge.count('images')).toBe(0);
  });

  it('stores a retransmitted or re-uploaded record once', async () => {
    await setup();
    const t = await terminal();
    const record = verifiedRecord();
    const payload = JSON.stringify({ cmd: 'verifiedRecordU', data: [record] });
    await t.send(payload);
    await t.send(payload); // a QoS 1 retransmission
    // A backlog upload of the same record, keys in another order, beside a new one.
    const reordered = Object.fromEntries(Object.entries(record).reverse());
    await t.send({ cmd: 'verifiedRecordU', data: [reordered, verifiedRecord({ time: '2026-11-22 10:05:00' })] });
    expect(bridge.count('events', "type = 'face.verified'")).toBe(2);
    // Two real passes of one person differ in their image: two events.
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ liveImageBase64: '/9j/another-face' })] });
    expect(bridge.count('events', "type = 'face.verified'")).toBe(3);
  });

  it('keeps records of different terminals apart', async () => {
    await setup();
    const a = await terminal('A1');
    const b = await terminal('B2');
    await a.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await b.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(rows("select device_sn from events where type = 'face.verified' order by seq").map((r) => r.device_sn)).toEqual(['A1', 'B2']);
  });

  it('groups messages that arrive together into shared commits', async () => {
    await setup();
    const t = await terminal();
    const sends = Array.from({ length: 200 }, (_, i) => t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i) })] }));
    await Promise.all(sends);
    expect(bridge.count('events', "type = 'face.verified'")).toBe(200);
  });
});

describe('malformed payloads', () => {
  const cases: [string, string | Buffer, string][] = [
    ['not JSON', 'garbage{', 'not_json'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'not_utf8'],
    ['a JSON array', '[1,2,3]', 'not_object'],
    ['a JSON number', '42', 'not_object'],
    ['no cmd', '{"data":[]}', 'no_cmd'],
    ['a numeric cmd', '{"cmd":5}', 'no_cmd'],
    ['records that are not an array', '{"cmd":"verifiedRecordU","data":{"num":"1"}}', 'invalid_fields'],
    ['an empty record list', '{"cmd":"verifiedRecordU","data":[]}', 'invalid_fields'],
    ['a verifiedCode of the wrong type', '{"cmd":"verifiedRecordU","data":[{"num":"1","verifiedCode":"0","personType":"1"}]}', 'invalid_fields'],
    ['a record that is not an object', '{"cmd":"strangerRecordU","data":["x"]}', 'invalid_fields'],
    ['JSON nested 65 deep', `{"cmd":"openDoorResultU","x":${'['.repeat(64)}${']'.repeat(64)}}`, 'too_deep'],
  ];

  it.each(cases)('acknowledges, counts and keeps %s, and goes on with the next message', async (_name, payload, reason) => {
    await setup();
    const t = await terminal();
    await t.send(payload);
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const [reject] = rows('select * from rejects');
    expect(reject).toMatchObject({ reason, device_sn: '123456789', topic: 'fungxi_123456789_upLink', size: Buffer.byteLength(payload) });
    expect(reject.detail.length).toBeGreaterThan(0);
    expect(bridge.count('events', "type = 'face.verified'")).toBe(1);
    expect(await bridge.metric('facegate_messages_rejected_total')).toContain(`reason="${reason}"} 1`);
  });

  it('keeps JSON nested thousands deep as a reject, beside the records that came with it, and stays up', async () => {
    await setup();
    const stream = await openStream(`http://127.0.0.1:${bridge.httpPort}/api/stream`, { authorization: `Bearer ${TOKEN}` });
    const [deep, good] = [await terminal('DEEP1'), await terminal('GOOD1')];
    // 16 KB that JSON.parse takes but JSON.stringify cannot write out again (it recurses).
    const nested = `{"cmd":"openDoorResultU","x":${'['.repeat(8000)}${']'.repeat(8000)}}`;
    await Promise.all([deep.send(nested), good.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] })]);
    expect(rows('select reason, device_sn from rejects')).toEqual([{ reason: 'too_deep', device_sn: 'DEEP1' }]);
    await stream.until(() => stream.events.some((e) => e.event === 'face.verified'));
    expect((await bridge.api('GET', '/api/events')).status).toBe(200);
    // The stream stays open: stopping the bridge ends it.
  });

  it('stores the good records of a batch and keeps each malformed one as a reject of its own', async () => {
    await setup();
    const t = await terminal();
    const bad = { num: '2', verifiedCode: '0', personType: '1', time: '2026-11-22 10:00:02' };
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '1' }), bad, verifiedRecord({ num: '3', time: '2026-11-22 10:00:03' })] });
    expect(rows("select fields from events where type = 'face.verified' order by seq").map((r) => JSON.parse(r.fields).num)).toEqual(['1', '3']);
    expect(rows('select reason, detail, sample, size from rejects')).toEqual([
      { reason: 'invalid_fields', detail: 'data.1.verifiedCode: verifiedCode must be a number', sample: JSON.stringify(bad), size: JSON.stringify(bad).length },
    ]);
    expect(await bridge.metric('facegate_messages_rejected_total')).toContain('reason="invalid_fields"} 1');
  });

  it('names the field at fault', async () => {
    await setup();
    const t = await terminal();
    await t.send('{"cmd":"verifiedRecordU","data":[{"num":"1","verifiedCode":0,"personType":"1"},{"verifiedCode":"0"}]}');
    expect(rows('select detail from rejects')[0].detail).toMatch(/^data\.1\.verifiedCode: /);
  });

  it('rejects a message over MAX_PAYLOAD and keeps only a truncated copy', async () => {
    await setup({ MAX_PAYLOAD: '64kb' });
    const t = await terminal();
    const huge = JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord({ liveImageBase64: 'A'.repeat(100_000) })] });
    await t.send(huge);
    const [reject] = rows('select reason, size, length(sample) as kept from rejects');
    expect(reject).toEqual({ reason: 'too_large', size: huge.length, kept: 2048 });
    expect(bridge.count('events', "type like 'face.%'")).toBe(0);
  });

  it('survives a flood of bad payloads between good ones', async () => {
    await setup();
    const t = await terminal();
    const sends: Promise<void>[] = [];
    const since = performance.now();
    for (let i = 0; i < 100; i++) {
      sends.push(t.send(i % 2 ? `{"cmd":"verifiedRecordU","data":[${'['.repeat(i)}` : { cmd: 'verifiedRecordU', data: [verifiedRecord({ num: String(i) })] }));
    }
    await Promise.all(sends);
    const seconds = (performance.now() - since) / 1000;
    expect(bridge.count('events', "type = 'face.verified'")).toBe(50);
    // Every bad one is counted; the rows a terminal fills are bounded (README §Malformed messages).
    expect(await bridge.metric('facegate_messages_rejected_total')).toContain('reason="not_json"} 50');
    expect(bridge.count('rejects')).toBeGreaterThanOrEqual(20);
    expect(bridge.count('rejects')).toBeLessThanOrEqual(20 + Math.ceil(seconds));
  });
});

describe('topics and discovery', () => {
  it('ignores terminals outside DEVICES when DISCOVERY is off, keeping what they sent', async () => {
    await setup({ DEVICES: 'KNOWN1', DISCOVERY: 'false' });
    const known = await terminal('KNOWN1');
    const stranger = await terminal('OTHER9');
    await known.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await stranger.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    expect(rows("select device_sn from events where type = 'face.verified'")).toEqual([{ device_sn: 'KNOWN1' }]);
    expect(rows('select reason, device_sn from rejects')).toEqual([{ reason: 'unknown_device', device_sn: 'OTHER9' }]);
  });

  it('registers DEVICES at start, before they are ever seen', async () => {
    await setup({ DEVICES: 'D1, D2' });
    const { json } = await bridge.api('GET', '/api/devices');
    expect(json.items.map((d: any) => [d.sn, d.online, d.last_seen_at])).toEqual([
      ['D1', false, null],
      ['D2', false, null],
    ]);
  });

  it('follows custom multi-level topic templates', async () => {
    await setup({ UPLINK_TOPIC: 'site/{sn}/up', DOWNLINK_TOPIC: 'site/{sn}/down' });
    const t = await terminal('T7', { uplink: 'site/{sn}/up', downlink: 'site/{sn}/down' });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const reply = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' });
    expect((await reply).cmd).toBe('heartD');
    expect(rows("select device_sn from events where type = 'face.verified'")).toEqual([{ device_sn: 'T7' }]);
  });
});

describe('stopping', () => {
  it('acknowledges the messages being committed before it closes the connections', async () => {
    await setup();
    const t = await terminal('S1', { reconnectPeriod: 0 });
    // The terminal's send resolves on its PUBACK: it came before the connection closed, so the terminal will not send it again.
    await stopDuringCommit(bridge, () => t.send({ cmd: 'doorStateU', open: true }));
    const reopened = await startBridge({}, bridge.dataDir);
    bridge = reopened;
    expect(reopened.count('events', "type = 'device.message'")).toBe(1);
  });

  it("takes in no terminal's will when the stop closes the connections", async () => {
    await setup();
    const t = await terminal('W1', {
      will: { topic: 'fungxi_W1_upLink', payload: Buffer.from('{"cmd":"offlineU"}'), qos: 1, retain: false },
      reconnectPeriod: 0,
    });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const { dataDir } = bridge;
    await bridge.stop({ keepData: true });
    const reopened = await startBridge({}, dataDir);
    bridge = reopened;
    expect(reopened.count('events', "type = 'device.message'")).toBe(0);
    expect(reopened.count('events', "type = 'face.verified'")).toBe(1);
  });
});
