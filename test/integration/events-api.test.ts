import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { SHOWN_BYTES } from '../../src/store/sqlite/reads.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { openStream } from '../support/sse.ts';

let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];
let streams: { close: () => Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(streams.map((s) => s.close()));
  streams = [];
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
});

// A real JPEG's first bytes, enough for a content type check.
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9]);

async function setup() {
  const b = await startBridge();
  bridge = b;
  const t = await connectTerminal(b.brokerUrl, 'E1');
  terminals.push(t);
  return { b, t };
}

const record = (i: number, extra: Record<string, unknown> = {}) =>
  verifiedRecord({ num: String(i), time: `2026-11-22 10:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`, ...extra });

async function stream(b: TestBridge, query = '', headers: Record<string, string> = {}) {
  const s = await openStream(`http://127.0.0.1:${b.httpPort}/api/stream${query}`, { authorization: `Bearer ${TOKEN}`, ...headers });
  streams.push(s);
  return s;
}

describe('GET /api/events', () => {
  it('lists events newest first as webhook bodies without the image', async () => {
    const { b, t } = await setup();
    await t.send({ cmd: 'verifiedRecordU', data: [record(1), record(2, { verifiedCode: 1 })] });
    const { json } = await b.api('GET', '/api/events?type=face.verified,face.rejected');
    expect(json.items.map((e: any) => [e.type, e.user_id])).toEqual([
      ['face.rejected', '2'],
      ['face.verified', '1'],
    ]);
    expect(json.items[1]).toMatchObject({ device_sn: 'E1', verifiedCode: 0, bot_time: '2026-11-22 10:00:01', personType: '1', has_image: true });
    expect(json.items[1]).not.toHaveProperty('img');
    expect(json.next_cursor).toBeNull();
  });

  it('filters by device and by time', async () => {
    const { b, t } = await setup();
    const other = await connectTerminal(b.brokerUrl, 'E2');
    terminals.push(other);
    await t.send({ cmd: 'verifiedRecordU', data: [record(1)] });
    const between = new Date().toISOString();
    await other.send({ cmd: 'verifiedRecordU', data: [record(2)] });
    const byDevice = (await b.api('GET', '/api/events?type=face.verified&device=E2')).json.items;
    expect(byDevice.map((e: any) => e.user_id)).toEqual(['2']);
    const since = (await b.api('GET', `/api/events?type=face.verified&since=${between}`)).json.items;
    expect(since.map((e: any) => e.user_id)).toEqual(['2']);
    const until = (await b.api('GET', `/api/events?type=face.verified&until=${between}`)).json.items;
    expect(until.map((e: any) => e.user_id)).toEqual(['1']);
  });

  it('pages with a cursor that stays correct while events keep arriving', async () => {
    const { b, t } = await setup();
    await t.send({ cmd: 'verifiedRecordU', data: Array.from({ length: 12 }, (_, i) => record(i)) });
    const first = (await b.api('GET', '/api/events?type=face.verified&limit=5')).json;
    // New events arrive between two pages.
    const arriving = t.send({ cmd: 'verifiedRecordU', data: Array.from({ length: 10 }, (_, i) => record(100 + i)) });
    const second = (await b.api('GET', `/api/events?type=face.verified&limit=5&cursor=${first.next_cursor}`)).json;
    await arriving;
    const third = (await b.api('GET', `/api/events?type=face.verified&limit=5&cursor=${second.next_cursor}`)).json;
    const seen = [...first.items, ...second.items, ...third.items].map((e: any) => Number(e.user_id));
    expect(seen).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(third.next_cursor).toBeNull();
  });

  it.each([
    ['type=face.unknown', /^type: /],
    ['limit=0', /^limit: /],
    ['limit=abc', /^limit: /],
    ['cursor=evt_x', /^cursor: /],
    ['since=yesterday', /^since: /],
  ])('answers 400 for %s', async (query, message) => {
    const { b } = await setup();
    const res = await b.api('GET', `/api/events?${query}`);
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(message);
  });

  it('shows one event, and 404 for an unknown one', async () => {
    const { b, t } = await setup();
    await t.send({ cmd: 'verifiedRecordU', data: [record(1)] });
    const [event] = b.stored.filter((e) => e.type === 'face.verified');
    expect((await b.api('GET', `/api/events/${event.id}`)).json).toMatchObject({ id: event.id, type: 'face.verified', user_id: '1' });
    expect((await b.api('GET', '/api/events/evt_nope')).status).toBe(404);
    expect((await b.api('GET', '/api/events', undefined, { token: null })).status).toBe(401);
  });

  it('serves the face image as JPEG', async () => {
    const { b, t } = await setup();
    await t.send({ cmd: 'verifiedRecordU', data: [record(1, { liveImageBase64: JPEG.toString('base64') })] });
    await t.send({ cmd: 'strangerRecordU', data: [{ time: '2026-11-22 10:00:00' }] });
    const [face] = b.stored.filter((e) => e.type === 'face.verified');
    const response = await fetch(`http://127.0.0.1:${b.httpPort}/api/events/${face.id}/image`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(JPEG);
    const [stranger] = b.stored.filter((e) => e.type === 'face.stranger');
    expect((await b.api('GET', `/api/events/${stranger.id}/image`)).status).toBe(404);
  });
});

describe('GET /api/stream', () => {
  it('streams new events as they are stored, with their type and id', async () => {
    const { b, t } = await setup();
    const s = await stream(b);
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await t.send({ cmd: 'verifiedRecordU', data: [record(1)] });
    await s.until(() => s.events.some((e) => e.event === 'face.verified'));
    const event = s.events.find((e) => e.event === 'face.verified')!;
    const [stored] = b.stored.filter((e) => e.type === 'face.verified');
    expect(event.id).toBe(stored.id);
    expect(JSON.parse(event.data)).toEqual((await b.api('GET', `/api/events/${stored.id}`)).json);
  });

  it('filters by type and device', async () => {
    const { b, t } = await setup();
    const s = await stream(b, '?type=face.stranger&device=E1');
    const other = await connectTerminal(b.brokerUrl, 'E9');
    terminals.push(other);
    await other.send({ cmd: 'strangerRecordU', data: [{ time: '2026-11-22 10:00:00', liveImageBase64: '/9j/a' }] });
    await t.send({ cmd: 'verifiedRecordU', data: [record(1)] });
    await t.send({ cmd: 'strangerRecordU', data: [{ time: '2026-11-22 10:00:01', liveImageBase64: '/9j/b' }] });
    await s.until(() => s.events.length >= 1);
    // The last one sent is the first to match: nothing before it came through.
    expect(s.events.map((e) => [e.event, JSON.parse(e.data).device_sn])).toEqual([['face.stranger', 'E1']]);
  });

  it('resumes after Last-Event-ID from the store, then goes on live', async () => {
    const { b, t } = await setup();
    await t.send({ cmd: 'verifiedRecordU', data: Array.from({ length: 5 }, (_, i) => record(i)) });
    const faces = b.stored.filter((e) => e.type === 'face.verified');
    const s = await stream(b, '?type=face.verified', { 'last-event-id': faces[1].id });
    await s.until(() => s.events.length >= 3);
    await t.send({ cmd: 'verifiedRecordU', data: [record(9)] });
    await s.until(() => s.events.length >= 4);
    expect(s.events.map((e) => JSON.parse(e.data).user_id)).toEqual(['2', '3', '4', '9']);
  });

  it('sends comment pings to keep proxies from closing it', async () => {
    const { b } = await setup();
    const s = await stream(b);
    await s.until(() => s.comments.includes('ping'));
    expect(s.comments[0]).toBe('ping');
  });

  it('needs the token and valid filters', async () => {
    const { b } = await setup();
    expect((await b.api('GET', '/api/stream', undefined, { token: null })).status).toBe(401);
    expect((await b.api('GET', '/api/stream?type=nope')).status).toBe(400);
  });

  it('drops a client that stops reading, without holding up ingest or the other clients', async () => {
    const b = await startBridge({}, undefined, { streamMaxBufferedBytes: 1024 * 1024 });
    bridge = b;
    const t = await connectTerminal(b.brokerUrl, 'E1');
    terminals.push(t);
    const reader = await stream(b, '?type=device.message');
    // A client that sends its request and never reads a byte of the answer.
    const stalled = connect(b.httpPort, '127.0.0.1');
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.pause();
    stalled.write(`GET /api/stream?type=device.message HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
    const closed = new Promise((resolve) => stalled.once('close', resolve));
    // Big messages fill the socket buffers quickly; the stalled client falls
    // behind. Each is just under SHOWN_BYTES, so its frame carries all of it.
    const big = 'x'.repeat(SHOWN_BYTES - 1000);
    for (let i = 0; i < 500; i++) await t.send({ cmd: 'logU', i, big });
    await reader.until(() => reader.events.length >= 500);
    stalled.resume(); // read what is left, to see the server end the response
    await closed;
    expect(b.count('events', "type = 'device.message'")).toBe(500);
    expect(reader.events.map((e) => JSON.parse(e.data).message.i)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('drops a resuming client that stops reading, however much arrives while it replays', async () => {
    const b = await startBridge({}, undefined, { streamMaxBufferedBytes: 1024 * 1024 });
    bridge = b;
    const t = await connectTerminal(b.brokerUrl, 'E1');
    terminals.push(t);
    const big = 'x'.repeat(SHOWN_BYTES - 1000);
    for (let i = 0; i < 100; i++) await t.send({ cmd: 'logU', i, big });
    const [first] = (await b.api('GET', '/api/events?type=device.message&limit=100')).json.items.slice(-1);
    // Resumes after the first event: the replay fills the socket, then waits for a client that never reads.
    const stalled = connect(b.httpPort, '127.0.0.1');
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.pause();
    stalled.write(`GET /api/stream?type=device.message HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\nlast-event-id: ${first.id}\r\n\r\n`);
    const clients = async () => Number(/^facegate_stream_clients (\d+)$/m.exec(await b.metric('facegate_stream_clients'))?.[1]);
    await until(async () => (await clients()) === 1);
    // Live events meanwhile wait for the replay; past the bound the client is
    // dropped, while it still reads nothing.
    for (let i = 100; i < 200; i++) await t.send({ cmd: 'logU', i, big });
    await until(async () => (await clients()) === 0);
    stalled.destroy();
    expect(b.count('events', "type = 'device.message'")).toBe(200);
  });

  it('ends open streams when the bridge stops', async () => {
    const { b } = await setup();
    const s = await stream(b);
    await b.stop();
    bridge = undefined;
    await s.ended;
    expect(s.events).toEqual([]);
  });
});

describe('GET /metrics', () => {
  it('reports the documented families and the process defaults, without a token', async () => {
    const { b, t } = await setup();
    await t.send({ cmd: 'verifiedRecordU', data: [record(1)] });
    const text = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
    for (const family of [
      'facegate_messages_in_total{cmd="verifiedRecordU"} 1',
      'facegate_events_total{type="face.verified"} 1',
      'facegate_messages_rejected_total',
      'facegate_delivery_attempts_total',
      'facegate_delivery_latency_seconds_bucket',
      'facegate_commit_seconds_bucket',
      'facegate_outbox_depth',
      'facegate_terminals_online 1',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(family);
    }
  });
});
