import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';

let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
});

const PAYLOADS = 10_000;
const rand = fc.sample(fc.integer({ min: 0, max: 2 ** 31 }), { numRuns: 1, seed: 4242 })[0];

/** Payloads each sure to be refused, of every kind a broken or hostile client could send. */
function malformed(i: number): Buffer {
  const record = JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `bad${i}` })] });
  switch (i % 9) {
    case 0: // not UTF-8
      return Buffer.from([0xff, 0xfe, ...Buffer.from(record.slice(0, (i * 7 + rand) % 200))]);
    case 1: // cut short: never valid JSON
      return Buffer.from(record.slice(0, 1 + ((i * 13 + rand) % (record.length - 2))));
    case 2: // JSON, but no object
      return Buffer.from(JSON.stringify([null, i, 'x', [], true][i % 5]));
    case 3: // no cmd, or not a string
      return Buffer.from(JSON.stringify(i % 2 ? { data: [] } : { cmd: i }));
    case 4: // wrong field types
      return Buffer.from(JSON.stringify({ cmd: 'verifiedRecordU', data: [{ num: 'x', verifiedCode: String(i) }] }));
    case 5: // a huge array of things that are no records
      return Buffer.from(JSON.stringify({ cmd: 'strangerRecordU', data: Array.from({ length: 2000 }, (_, k) => k) }));
    case 6: // deep nesting
      return Buffer.from(`{"cmd":"verifiedRecordU","data":${'['.repeat(500 + (i % 1000))}${']'.repeat(500 + (i % 1000))}}`);
    case 7: // prototype-pollution keys in a bad record
      return Buffer.from(
        `{"cmd":"verifiedRecordU","__proto__":{"polluted":1},"data":[{"__proto__":{"x":1},"constructor":{"prototype":{"polluted":1}},"verifiedCode":"0"}]}`,
      );
    default: // 5 MB strings, now and then; small otherwise
      return Buffer.from(JSON.stringify({ cmd: 'verifiedRecordU', data: [{ name: 'n'.repeat(i % 2000 === 8 ? 5 * 1024 * 1024 : 100), verifiedCode: [] }] }));
  }
}

describe('fuzzing a running bridge', () => {
  it('survives 10,000 random and mutated MQTT payloads between valid records: every valid one stored, every bad one counted', async () => {
    const b = await startBridge();
    bridge = b;
    const senders = await Promise.all(Array.from({ length: 4 }, (_, k) => connectTerminal(b.brokerUrl, `FUZZ${k}`)));
    terminals.push(...senders);
    let good = 0;
    let bad = 0;
    const since = performance.now();
    for (let start = 0; start < PAYLOADS; start += 200) {
      const batch: Promise<void>[] = [];
      for (let i = start; i < Math.min(start + 200, PAYLOADS); i++) {
        const t = senders[i % senders.length];
        if (i % 10 === 0) {
          good += 1;
          batch.push(t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `good${i}` })] }));
        } else {
          bad += 1;
          batch.push(t.send(malformed(i)));
        }
      }
      await Promise.all(batch);
    }
    const seconds = (performance.now() - since) / 1000;
    expect(b.count('events', "type = 'face.verified'")).toBe(good);
    const rejected = await b.metric('facegate_messages_rejected_total');
    const counted = [...rejected.matchAll(/} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(counted).toBe(bad);
    // Each terminal fills the rejects table with a burst and then one a
    // second (README §Malformed messages); the rest are counted as not kept.
    const rows = b.count('rejects');
    expect(rows).toBeGreaterThanOrEqual(senders.length * 20);
    expect(rows).toBeLessThanOrEqual(senders.length * (20 + Math.ceil(seconds)));
    expect(await b.metric('facegate_rejects_not_kept_total')).toContain(`facegate_rejects_not_kept_total ${bad - rows}`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await b.api('GET', '/healthz')).status).toBe(200);
  }, 120_000);

  it('answers random HTTP bodies and query strings with 4xx, never 5xx', async () => {
    const b = await startBridge({ DEVICES: 'D1' });
    bridge = b;
    // An online terminal: a valid command is sent (or rate limited), not refused as undeliverable.
    const terminal = await connectTerminal(b.brokerUrl, 'D1');
    terminals.push(terminal);
    const online = b.eventsStored(1, (e) => e.type === 'device.online');
    await terminal.send({ cmd: 'heartU' });
    await online;
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
      fc
        .record({ cmd: fc.anything(), url: fc.anything(), event_types: fc.anything(), secret: fc.anything(), since: fc.anything(), token: fc.anything() })
        .map((v) => JSON.stringify(v)),
    );
    const routes = ['/api/devices/D1/commands', '/api/webhooks', '/api/webhooks/ep_default/redeliver', '/ui/login', '/'];
    const query = fc.dictionary(
      fc.constantFrom('type', 'device', 'since', 'until', 'limit', 'cursor', 'status', 'endpoint', 'event'),
      fc.string({ maxLength: 40 }),
    );
    const lists = ['/api/events', '/api/deliveries', '/api/commands', '/api/stream'];
    const samples = fc.sample(fc.tuple(fc.constantFrom(...routes), body, fc.constantFrom(...lists), query), { numRuns: 400, seed: 77 });
    for (const [route, text, list, params] of samples) {
      const posted = await b.api('POST', route, text, { headers: { 'content-type': 'application/json' } });
      expect(posted.status, `${route} ${text.slice(0, 80)}`).toBeLessThan(500);
      const search = new URLSearchParams(params).toString();
      // The stream answers a valid filter with 200 and keeps the connection: only its 4xx are read here.
      if (list === '/api/stream' && !/type=|device=/.test(search)) continue;
      const listed = await fetch(`http://127.0.0.1:${b.httpPort}${list}?${search}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: AbortSignal.timeout(2000),
      }).catch(() => undefined);
      if (listed) {
        expect(listed.status, `${list}?${search}`).toBeLessThan(500);
        await listed.body?.cancel();
      }
    }
  }, 120_000);
});
