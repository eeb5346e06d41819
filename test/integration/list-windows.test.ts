import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/events/events.ts';
import { WINDOW } from '../../src/http/list.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// A filter that an index cannot answer alone (a type and a terminal, several
// types, a delivery's endpoint) is checked within a window of seqs per
// request (README §HTTP API, Lists): a page may come back short, even empty,
// with a next_cursor, and a client that follows next_cursor until null sees
// every matching item exactly once. Here one terminal sends over two
// windows' worth of events and another a few among them.

const BUSY_EVENTS = Math.round(WINDOW * 2.25);
const BATCH = 500;
const LAST_BATCH = BUSY_EVENTS / BATCH - 1;
/**
 * After which busy batches the quiet terminal sends a record and a message:
 * two in the newest window, three in the oldest, none in the one between.
 */
const QUIET_AFTER = [0, 1, 2, LAST_BATCH - 10, LAST_BATCH];

let b: TestBridge;
let busy: Terminal;
let quiet: Terminal;
/** Two endpoints whose receiver is down: their deliveries wait. */
let many: string;
let rare: string;

const record = (i: number) => ({ num: String(i), name: `P${i}`, verifiedCode: 0, time: '2026-11-22 10:00:00', personType: '1' });

beforeAll(async () => {
  b = await startBridge({ LOG_LEVEL: 'warn', DELIVERY_SCHEDULE: '1h' });
  // Nothing listens there: every attempt fails, and the next is an hour away.
  many = (await b.api('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/many', event_types: ['face.verified'] })).json.id;
  rare = (await b.api('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/rare', event_types: ['device.message'] })).json.id;
  busy = await connectTerminal(b.brokerUrl, 'BUSY');
  quiet = await connectTerminal(b.brokerUrl, 'QUIET');
  for (let batch = 0; batch < BUSY_EVENTS / BATCH; batch++) {
    await busy.send({ cmd: 'verifiedRecordU', data: Array.from({ length: BATCH }, (_, i) => record(batch * BATCH + i)) });
    if (QUIET_AFTER.includes(batch)) {
      await quiet.send({ cmd: 'verifiedRecordU', data: [record(-batch - 1)] });
      await quiet.send({ cmd: 'openDoorU', code: 0, batch });
    }
  }
  await b.eventsStored(BUSY_EVENTS + 2 * QUIET_AFTER.length + 2);
}, 120_000);

afterAll(async () => {
  await Promise.all([busy, quiet].map((t) => t?.client.endAsync(true)));
  await b?.stop();
});

/** Follows next_cursor from the first page until null: every item, and the pages' sizes. */
async function walk(path: string): Promise<{ items: any[]; pages: number[] }> {
  const items: any[] = [];
  const pages: number[] = [];
  let cursor: string | null = null;
  for (;;) {
    const res = await b.api('GET', cursor === null ? path : `${path}&cursor=${encodeURIComponent(cursor)}`);
    expect(res.status, res.text).toBe(200);
    items.push(...res.json.items);
    pages.push(res.json.items.length);
    cursor = res.json.next_cursor;
    if (cursor === null) return { items, pages };
    expect(pages.length).toBeLessThan(100);
  }
}

const newestFirst = (events: StoredEvent[]) =>
  events
    .slice()
    .sort((x, y) => y.seq - x.seq)
    .map((e) => e.id);

describe('GET /api/events with a filter that matches rarely', () => {
  it('gives every matching event exactly once, in short and empty pages where a window held none', async () => {
    const expected = newestFirst(b.stored.filter((e) => e.type === 'face.verified' && e.deviceSn === 'QUIET'));
    expect(expected).toHaveLength(QUIET_AFTER.length);
    const { items, pages } = await walk('/api/events?type=face.verified&device=QUIET&limit=2');
    expect(items.map((item) => item.id)).toEqual(expected);
    // A window with none of them gave an empty page that still had a next_cursor.
    expect(pages.slice(0, -1)).toContain(0);
  });

  it('gives every event of several types exactly once', async () => {
    const expected = newestFirst(b.stored.filter((e) => e.type === 'device.message' || e.type === 'device.online'));
    const { items, pages } = await walk('/api/events?type=device.message,device.online&limit=3');
    expect(items.map((item) => item.id)).toEqual(expected);
    expect(pages.slice(0, -1)).toContain(0);
  });

  it('needs no window for one terminal alone: full pages until the last', async () => {
    const expected = newestFirst(b.stored.filter((e) => e.deviceSn === 'QUIET'));
    const { items, pages } = await walk('/api/events?device=QUIET&limit=4');
    expect(items.map((item) => item.id)).toEqual(expected);
    expect(pages.slice(0, -1).every((n) => n === 4)).toBe(true);
  });
});

describe('GET /api/events?since=&until=', () => {
  it('gives exactly the events received in the range, for ranges across pages and windows', async () => {
    const all = b.stored.slice().sort((x, y) => x.seq - y.seq);
    // Times taken from the events themselves, several of them shared by many events (a batch arrives in one ms).
    const times = [...new Set(all.map((e) => e.receivedAt))];
    const picks = [
      [times[0], times.at(-1)! + 1],
      [times[1], times[Math.floor(times.length / 2)]],
      [times[Math.floor(times.length / 3)], times[Math.floor((2 * times.length) / 3)]],
      [times.at(-2)!, times.at(-1)!],
      [times[3], times[3]],
    ];
    for (const [since, until] of picks) {
      const expected = newestFirst(all.filter((e) => e.receivedAt >= since && e.receivedAt < until));
      const iso = (ms: number) => new Date(ms).toISOString();
      const plain = await walk(`/api/events?since=${iso(since)}&until=${iso(until)}&limit=500`);
      expect(plain.items.map((item) => item.id)).toEqual(expected);
      const filtered = await walk(`/api/events?type=face.verified&device=QUIET&since=${iso(since)}&until=${iso(until)}&limit=5`);
      const quietOnes = new Set(all.filter((e) => e.deviceSn === 'QUIET' && e.type === 'face.verified').map((e) => e.id));
      expect(filtered.items.map((item) => item.id)).toEqual(expected.filter((id) => quietOnes.has(id)));
    }
    // A range before every event, or after, is empty.
    expect((await b.api('GET', `/api/events?until=${new Date(times[0]).toISOString()}`)).json).toEqual({ items: [], next_cursor: null });
    expect((await b.api('GET', `/api/events?since=${new Date(times.at(-1)! + 1).toISOString()}`)).json).toEqual({ items: [], next_cursor: null });
  });
});

describe('GET /api/deliveries of one endpoint', () => {
  it('gives each of its deliveries exactly once, a window of seqs at a time', async () => {
    const rows = b.db().prepare('select seq from deliveries where endpoint_id = ? order by seq desc').all(rare) as { seq: number }[];
    expect(rows).toHaveLength(QUIET_AFTER.length);
    const { items, pages } = await walk(`/api/deliveries?endpoint=${rare}&limit=2`);
    expect(items.map((item) => item.id)).toEqual(rows.map((row) => `dlv_${row.seq}`));
    expect(items.every((item) => item.endpoint_id === rare && item.status === 'pending')).toBe(true);
    expect(pages.slice(0, -1)).toContain(0);
    const pending = await walk(`/api/deliveries?endpoint=${rare}&status=pending&limit=50`);
    expect(pending.items.map((item) => item.id)).toEqual(items.map((item) => item.id));
    // The other endpoint's are all there too, by status alone in full pages.
    const count = (b.db().prepare("select count(*) as n from deliveries where endpoint_id = ? and status = 'pending'").get(many) as { n: number }).n;
    expect(count).toBe(BUSY_EVENTS + QUIET_AFTER.length);
    const first = await b.api('GET', '/api/deliveries?status=pending&limit=500');
    expect(first.json.items).toHaveLength(500);
  });
});
