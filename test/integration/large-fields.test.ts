import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { SHOWN_BYTES } from '../../src/store/sqlite/reads.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { openStream } from '../support/sse.ts';

// A terminal's message is kept whole as its event's fields, up to
// MAX_PAYLOAD (8 MB). Lists and the live stream show such an event short
// (README §HTTP API, Lists): a page of 500 of them used to be an answer of
// half a GB built on the main thread. Each is still there whole by its id.

const MB = 1024 * 1024;
/** 84 MB in all: listed whole, the page would be sixteen times ANSWER_CAP. */
const MESSAGES = 12;
/** What a client with a bounded buffer would read of an answer at most. */
const ANSWER_CAP = 5 * MB;

let b: TestBridge;
let terminal: Terminal;
let live: Awaited<ReturnType<typeof openStream>>;
/** The big messages' event ids, oldest first. */
let ids: string[];

beforeAll(async () => {
  b = await startBridge({ MAX_PAYLOAD: '8mb', COMMAND_RATE: '1000/s', LOG_LEVEL: 'warn' });
  terminal = await connectTerminal(b.brokerUrl, 'BIG1');
  live = await openStream(`http://127.0.0.1:${b.httpPort}/api/stream?type=device.message`, { authorization: `Bearer ${TOKEN}` });
  const big = 'x'.repeat(7 * MB);
  for (let i = 0; i < MESSAGES; i++) await terminal.send({ cmd: 'logU', i, big });
  ids = (await b.eventsStored(MESSAGES, (e) => e.type === 'device.message')).map((e) => e.id);
}, 180_000);

afterAll(async () => {
  await live?.close();
  await terminal?.client.endAsync(true);
  await b?.stop();
});

/** An answer read up to `cap` bytes: the bytes it had in all, and its text when it fitted. */
async function readCapped(path: string, cap = ANSWER_CAP) {
  const response = await fetch(`http://127.0.0.1:${b.httpPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response.body!) {
    bytes += chunk.length;
    if (bytes <= cap) chunks.push(Buffer.from(chunk));
  }
  return { status: response.status, bytes, json: bytes <= cap ? JSON.parse(Buffer.concat(chunks).toString()) : undefined };
}

const short = (id: string) => ({
  type: 'device.message',
  id,
  device_sn: 'BIG1',
  received_at: expect.any(String),
  has_image: false,
  truncated: true,
  fields_bytes: expect.any(Number),
});

describe('device messages of 7 MB', () => {
  it('are listed short by /api/events?limit=500, in an answer of a few KB, and each is there whole by its id', async () => {
    const answer = await readCapped('/api/events?limit=500');
    expect(answer.status).toBe(200);
    expect(answer.bytes).toBeLessThan(ANSWER_CAP);
    const items = answer.json.items as any[];
    expect(answer.json.next_cursor).toBeNull();
    const listed = items.filter((item) => item.type === 'device.message');
    expect(listed.map((item) => item.id)).toEqual(ids.slice().reverse());
    for (const item of listed) {
      expect(item).toEqual(short(item.id));
      expect(item).not.toHaveProperty('message');
      expect(item.fields_bytes).toBeGreaterThan(7 * MB);
    }
    for (const [i, id] of ids.entries()) {
      const whole = await b.api('GET', `/api/events/${id}`);
      expect(whole.status).toBe(200);
      expect(whole.json.message).toMatchObject({ cmd: 'logU', i });
      expect(whole.json.message.big).toHaveLength(7 * MB);
      expect(whole.json).not.toHaveProperty('truncated');
      expect(Buffer.byteLength(JSON.stringify(whole.json.message))).toBe(listed.find((item) => item.id === id).fields_bytes);
    }
  });

  it('go out short on the live stream, and again when a client resumes with Last-Event-ID', async () => {
    await live.until(() => live.events.length >= MESSAGES);
    const check = (events: { id?: string; data: string }[]) => {
      expect(events.map((e) => e.id)).toEqual(ids);
      for (const event of events) {
        // One frame is bounded too: the metadata, not the message.
        expect(event.data.length).toBeLessThan(1024);
        expect(JSON.parse(event.data)).toEqual(short(event.id!));
      }
    };
    check(live.events);
    const [online] = b.stored.filter((e) => e.type === 'device.online');
    const resumed = await openStream(`http://127.0.0.1:${b.httpPort}/api/stream`, { authorization: `Bearer ${TOKEN}`, 'last-event-id': online.id });
    try {
      // The replay is written before the handler returns, so the first ping comes after all of it.
      await resumed.until(() => resumed.comments.length > 0);
      check(resumed.events);
    } finally {
      await resumed.close();
    }
  });
});

describe('commands with bodies near BODY_LIMIT', () => {
  it('are listed short by /api/commands, and each is there whole by its id', async () => {
    const photo = 'y'.repeat(1_000_000);
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await b.api('POST', '/api/devices/BIG1/commands', { cmd: 'addPersonD', i, photo });
      expect(res.status).toBe(202);
      sent.push(res.json.id);
    }
    const answer = await readCapped('/api/commands?limit=500');
    expect(answer.status).toBe(200);
    expect(answer.bytes).toBeLessThan(ANSWER_CAP);
    expect(answer.json.items.map((item: any) => item.id).sort()).toEqual(sent.slice().sort());
    for (const item of answer.json.items) {
      expect(item).toEqual({
        id: item.id,
        device_sn: 'BIG1',
        cmd: 'addPersonD',
        truncated: true,
        body_bytes: expect.any(Number),
        status: 'published',
        error: null,
        created_at: expect.any(String),
        published_at: expect.any(String),
        replied_at: null,
        expires_at: null,
        batch: null,
        actor: 'admin',
        reply: null,
      });
      const whole = await b.api('GET', `/api/commands/${item.id}`);
      expect(whole.status).toBe(200);
      expect(whole.json.body).toMatchObject({ cmd: 'addPersonD', photo });
      expect(Buffer.byteLength(JSON.stringify(whole.json.body))).toBe(item.body_bytes);
    }
    expect((await b.api('GET', '/api/commands/cmd_nope')).status).toBe(404);
  });

  it('shows a body up to SHOWN_BYTES in full', async () => {
    const res = await b.api('POST', '/api/devices/BIG1/commands', { cmd: 'setNameD', name: 'z'.repeat(SHOWN_BYTES - 100) });
    const { json } = await b.api('GET', `/api/commands?limit=1`);
    expect(json.items).toEqual([
      {
        id: res.json.id,
        device_sn: 'BIG1',
        cmd: 'setNameD',
        body: { cmd: 'setNameD', name: 'z'.repeat(SHOWN_BYTES - 100) },
        status: 'published',
        error: null,
        created_at: expect.any(String),
        published_at: expect.any(String),
        replied_at: null,
        expires_at: null,
        batch: null,
        actor: 'admin',
        reply: null,
      },
    ]);
  });
});

describe('a page of many items just under SHOWN_BYTES', () => {
  it('stops at about 4 MB, and next_cursor goes on after the last item given', async () => {
    const filler = 'f'.repeat(SHOWN_BYTES - 1000);
    for (let i = 0; i < 80; i++) await terminal.send({ cmd: 'fillU', i, filler });
    const first = await readCapped('/api/events?type=device.message&limit=500', 6 * MB);
    expect(first.status).toBe(200);
    const items = first.json.items as any[];
    // About 4 MB: the item that crossed it is the last.
    expect(first.bytes).toBeGreaterThan(4 * MB);
    expect(first.bytes).toBeLessThan(4 * MB + SHOWN_BYTES + 1024);
    expect(items.length).toBeLessThan(80);
    expect(items.every((item) => item.message?.cmd === 'fillU')).toBe(true);
    expect(first.json.next_cursor).not.toBeNull();
    const rest = await readCapped(`/api/events?type=device.message&limit=500&cursor=${first.json.next_cursor}`, 6 * MB);
    const fills = [...items, ...rest.json.items].filter((item) => item.message?.cmd === 'fillU').map((item) => item.message.i);
    expect(fills).toEqual(Array.from({ length: 80 }, (_, i) => 79 - i));
    // After the fills come the 7 MB messages, short.
    expect(rest.json.items.filter((item: any) => item.truncated)).toHaveLength(MESSAGES);
  });
});
