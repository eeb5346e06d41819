import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { ENDPOINT_LIMIT } from '../../src/delivery/endpoints.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

let bridge: TestBridge | undefined;
let receivers: Receiver[] = [];
let terminal: Terminal | undefined;

afterEach(async () => {
  await terminal?.client.endAsync(true);
  terminal = undefined;
  await bridge?.stop();
  bridge = undefined;
  await Promise.all(receivers.map((r) => r.close().catch(() => {})));
  receivers = [];
});

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const FAST = { DELIVERY_SCHEDULE: '20ms,20ms,20ms,20ms,20ms', DELIVERY_TIMEOUT: '2s' };

async function receiver(script?: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(script);
  receivers.push(r);
  return r;
}

async function setup(env: Record<string, string>) {
  bridge = await startBridge({ ...FAST, ...env });
  terminal = await connectTerminal(bridge.brokerUrl, 'W1');
  return { b: bridge, t: terminal };
}

const passes = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => verifiedRecord({ num: String(from + i), time: `2026-11-22 10:00:${String(from + i).padStart(2, '0')}` }));

/** An independent verifier, written from the Standard Webhooks text: HMAC-SHA256 of "{id}.{timestamp}.{body}", constant-time compare. */
function verify(secret: string, headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((candidate) => {
      const [version, signature] = candidate.split(',');
      const given = Buffer.from(signature ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

describe('delivery to the default endpoint', () => {
  it('posts each verified pass once, with the original fields, signed', async () => {
    const r = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: r.url, WEBHOOK_SECRET: SECRET });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ personType: 1 }), verifiedRecord({ num: '2', verifiedCode: 1 })] });
    const [request] = await r.received(1);
    const [event] = b.stored.filter((e) => e.type === 'face.verified');

    expect(request.json).toEqual({
      type: 'face.verified',
      id: event.id,
      device_sn: 'W1',
      user_id: '1001',
      name: 'Zhang San',
      img: verifiedRecord().liveImageBase64,
      verifiedCode: 0,
      bot_time: '2026-11-22 09:59:58',
      personType: 1,
      received_at: new Date(event.receivedAt).toISOString(),
    });
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['user-agent']).toMatch(/^facegate\/\d+\.\d+\.\d+$/);
    expect(request.headers['webhook-id']).toBe(event.id);
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
    expect(verify(SECRET, request.headers, request.body)).toBe(true);
    expect(verify(SECRET, request.headers, request.body.replace('Zhang', 'Zhong'))).toBe(false);
    // The official library agrees.
    expect(new Webhook(SECRET).verify(request.body, request.headers as Record<string, string>)).toMatchObject({ id: event.id });

    await until(async () => (await b.api('GET', '/api/deliveries?status=delivered')).json.items.length === 1);
    expect(r.requests).toHaveLength(1); // the rejected record is no face.verified: not sent
    // Counted per endpoint (README §Webhooks, Metrics).
    expect(await b.metric('facegate_delivery_attempts_total')).toMatch(/^facegate_delivery_attempts_total\{endpoint="ep_default",outcome="delivered"\} 1$/m);
  });

  it('keeps names outside ASCII (and quotes) intact around the image, and signs those bytes', async () => {
    const r = await receiver();
    const { t } = await setup({ WEBHOOK_URL: r.url, WEBHOOK_SECRET: SECRET });
    const names = ['김민준', '张三 "老张"', 'Ünal 🚪'];
    await t.send({ cmd: 'verifiedRecordU', data: names.map((name, i) => verifiedRecord({ num: String(2000 + i), name })) });
    const requests = await r.received(names.length);
    expect(requests.map((request) => request.json.name).sort()).toEqual([...names].sort());
    for (const request of requests) {
      expect(request.json.img).toBe(verifiedRecord().liveImageBase64);
      expect(verify(SECRET, request.headers, request.body)).toBe(true);
    }
  });

  it('forwards an image that is not base64 exactly as sent, in a body that is still JSON', async () => {
    const r = await receiver();
    const { t } = await setup({ WEBHOOK_URL: r.url, WEBHOOK_SECRET: SECRET });
    const images = ['say "cheese"', 'C:\\door\\1.jpg', 'two\nlines\ttab\u0001', '</script>\u2028'];
    await t.send({ cmd: 'verifiedRecordU', data: images.map((liveImageBase64, i) => verifiedRecord({ num: String(3000 + i), liveImageBase64 })) });
    const requests = await r.received(images.length);
    for (const request of requests) expect(verify(SECRET, request.headers, request.body)).toBe(true);
    expect(requests.map((request) => request.json?.img).sort()).toEqual([...images].sort());
  });

  it('forwards base64 wrapped at 76 columns as sent, and serves the image it encodes', async () => {
    const r = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    const jpeg = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256));
    // As Android's Base64.DEFAULT and MIME encoders write it.
    const wrapped = jpeg.toString('base64').replace(/.{76}/g, '$&\n');
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ liveImageBase64: wrapped })] });
    const [request] = await r.received(1);
    expect(request.json.img).toBe(wrapped);
    const image = await fetch(`http://127.0.0.1:${b.httpPort}/api/events/${request.json.id}/image`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(Buffer.from(await image.arrayBuffer())).toEqual(jpeg);
  });

  it('forwards base64 sent with escaped slashes as the base64 itself, and serves it as the image', async () => {
    const r = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xff, 0xff, 0xfe, 0xfb, 0xff, 0xd9]);
    const base64 = jpeg.toString('base64');
    expect(base64).toContain('/');
    // Some JSON encoders on terminals write "/" as "\/".
    await t.send(JSON.stringify({ cmd: 'verifiedRecordU', data: [verifiedRecord({ liveImageBase64: base64 })] }).replaceAll('/', '\\/'));
    const [request] = await r.received(1);
    expect(request.json.img).toBe(base64);
    const image = await fetch(`http://127.0.0.1:${b.httpPort}/api/events/${request.json.id}/image`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(image.status).toBe(200);
    expect(Buffer.from(await image.arrayBuffer())).toEqual(jpeg);
  });

  it('sends the credentials of a URL as Basic authorization, and never shows the password', async () => {
    const r = await receiver((req) => ({
      status: req.headers.authorization === `Basic ${Buffer.from('door gate:pa:ss/word').toString('base64')}` ? 200 : 401,
    }));
    const url = r.url.replace('http://', 'http://door%20gate:pa%3Ass%2Fword@');
    const { b, t } = await setup({ WEBHOOK_URL: url });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const [request] = await r.received(1);
    expect(request.headers.authorization).toBeDefined();
    await until(async () => (await b.api('GET', '/api/deliveries?status=delivered')).json.items.length === 1);
    const shown = JSON.stringify((await b.api('GET', '/api/webhooks')).json);
    expect(shown).toContain('door%20gate:***@');
    expect(shown).not.toContain('word');
  });

  it('refuses a URL whose credentials are not valid percent-encoding, and starts with one stored by an older version', async () => {
    const r = await receiver();
    const b = (bridge = await startBridge(FAST));
    const bad = r.url.replace('http://', 'http://u:50%off@');
    const answer = await b.api('POST', '/api/webhooks', { url: bad });
    expect(answer.status).toBe(400);
    expect(answer.json.error.message).toMatch(/percent/);
    // A row such as an older version accepted: the bridge must still start, and serve the other endpoints.
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    const db = new Database(join(dataDir, 'facegate.db'));
    db.prepare("insert into endpoints (id, url, secret, event_types, enabled, created_at) values ('ep_old', ?, null, '[\"face.verified\"]', 1, 0)").run(bad);
    db.close();
    bridge = await startBridge({ ...FAST, WEBHOOK_URL: r.url }, dataDir);
    terminal = await connectTerminal(bridge.brokerUrl, 'W1');
    await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await r.received(1);
    expect(bridge.logLines.some((line) => line.includes('ep_old') && line.includes('percent'))).toBe(true);
  });

  it('signs with the UTF-8 bytes of a secret that is not whsec_', async () => {
    const r = await receiver();
    const { t } = await setup({ WEBHOOK_URL: r.url, WEBHOOK_SECRET: 'plain-shared-secret-123' });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const [request] = await r.received(1);
    const expected = createHmac('sha256', 'plain-shared-secret-123')
      .update(`${request.headers['webhook-id']}.${request.headers['webhook-timestamp']}.${request.body}`)
      .digest('base64');
    expect(request.headers['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('sends no signature without a secret, and no image with IMAGES=omit', async () => {
    const r = await receiver();
    const { t } = await setup({ WEBHOOK_URL: r.url, IMAGES: 'omit' });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const [request] = await r.received(1);
    expect(request.headers['webhook-signature']).toBeUndefined();
    expect(request.json).not.toHaveProperty('img');
    expect(request.json.user_id).toBe('1001');
  });
});

describe('retries', () => {
  it('retries a 500 with the same webhook-id and a fresh timestamp', async () => {
    const r = await receiver((_req, n) => ({ status: n === 0 ? 500 : 200 }));
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const [first, second] = await r.received(2);
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.body).toBe(first.body);
    const delivery = await until(async () => (await b.api('GET', '/api/deliveries?status=delivered')).json.items[0]);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 2, last_status: 200, last_error: null });
  });

  it('waits as long as Retry-After asks, in seconds and as an HTTP date', async () => {
    const r = await receiver((_req, n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 503, headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } },
    );
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await r.received(1);
    const afterFirst = await until(async () => (await b.api('GET', '/api/deliveries')).json.items.find((d: any) => d.attempts === 1));
    expect(Date.parse(afterFirst.next_attempt_at) - Date.parse(afterFirst.last_attempt_at)).toBeGreaterThanOrEqual(2000);
    expect(afterFirst.last_status).toBe(429);
    await r.received(2);
    const afterSecond = await until(async () => (await b.api('GET', '/api/deliveries')).json.items.find((d: any) => d.attempts === 2));
    expect(Date.parse(afterSecond.next_attempt_at) - Date.parse(afterSecond.last_attempt_at)).toBeGreaterThanOrEqual(1500);
  });

  it('gives up on a receiver that hangs past DELIVERY_TIMEOUT and tries again', async () => {
    const r = await receiver((_req, n) => (n === 0 ? 'hang' : { status: 204 }));
    const { b, t } = await setup({ WEBHOOK_URL: r.url, DELIVERY_TIMEOUT: '300ms' });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await r.received(2);
    const delivery = await until(async () => (await b.api('GET', '/api/deliveries?status=delivered')).json.items[0]);
    expect(delivery.attempts).toBe(2);
    expect(b.logLines.some((line) => line.includes('no answer within 300 ms'))).toBe(true);
  });

  it("cuts a POST still under way when a stop's grace period is over, and sends it again after the restart", async () => {
    const r = await receiver((_req, n) => (n === 0 ? 'hang' : { status: 204 }));
    const { b, t } = await setup({ WEBHOOK_URL: r.url, DELIVERY_TIMEOUT: '60s' });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await r.received(1);
    await t.client.endAsync(true);
    terminal = undefined;
    await b.stop({ keepData: true });
    const pending = new Database(join(b.dataDir, 'facegate.db'), { readonly: true });
    expect(pending.prepare('SELECT attempts FROM deliveries').all()).toEqual([{ attempts: 0 }]);
    pending.close();
    bridge = await startBridge({ ...FAST, WEBHOOK_URL: r.url }, b.dataDir);
    await r.received(2);
    expect(r.requests[1].headers['webhook-id']).toBe(r.requests[0].headers['webhook-id']);
  });

  it('tries again after the connection is reset', async () => {
    const r = await receiver((_req, n) => (n === 0 ? 'reset' : { status: 200 }));
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await r.received(2);
    expect((await until(async () => (await b.api('GET', '/api/deliveries?status=delivered')).json.items[0])).attempts).toBe(2);
  });

  it('keeps deliveries while the receiver is down and sends them when it is back', async () => {
    const r = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: r.url, DELIVERY_SCHEDULE: '50ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms' });
    await r.down();
    await t.send({ cmd: 'verifiedRecordU', data: passes(5) });
    const failing = await until(async () => (await b.api('GET', '/api/deliveries?status=pending')).json.items.find((d: any) => d.attempts >= 1));
    expect(failing.last_error).toBe('ECONNREFUSED');
    await r.up();
    const requests = await r.received(5);
    expect(new Set(requests.map((q) => q.headers['webhook-id'])).size).toBe(5);
  });

  it('delivers a backlog many times as wide as the lane, each once, with retries among it', async () => {
    // Every third request fails once: retries fall due among the backlog the lane has fetched ahead.
    const failed = new Set<string>();
    const r = await receiver((request, n) => {
      const id = String(request.headers['webhook-id']);
      if (n % 3 !== 0 || failed.has(id)) return { status: 200 };
      failed.add(id);
      return { status: 500 };
    });
    const { b, t } = await setup({ WEBHOOK_URL: r.url, DELIVERY_CONCURRENCY: '4' });
    await t.send({ cmd: 'verifiedRecordU', data: passes(150) });
    await until(async () => (await b.api('GET', '/api/deliveries?status=delivered&limit=500')).json.items.length === 150);
    const answered = new Map<string, number>();
    for (const request of r.requests) {
      const id = String(request.headers['webhook-id']);
      answered.set(id, (answered.get(id) ?? 0) + 1);
    }
    expect(answered.size).toBe(150);
    // Once each, and twice where the first attempt failed: never a delivered one again.
    for (const [id, times] of answered) expect(times).toBe(failed.has(id) ? 2 : 1);
    expect((await b.api('GET', '/api/deliveries?status=pending')).json.items).toEqual([]);
  });

  it('sends a failing receiver one probe at a time instead of the whole backlog', async () => {
    // A slow answer, so that requests sent together are open together.
    const r = await receiver(() => ({ status: 503, delayMs: 50 }));
    const schedule = Array.from({ length: 50 }, () => '10ms').join(',');
    const { t } = await setup({ WEBHOOK_URL: r.url, DELIVERY_SCHEDULE: schedule, DELIVERY_CONCURRENCY: '8' });
    await t.send({ cmd: 'verifiedRecordU', data: passes(30) });
    const requests = await r.received(14);
    // The first failures come from the lane's full width; from the fifth on, one request at a time.
    expect(requests.slice(12).map((q) => q.concurrent)).toEqual([1, 1]);
    expect(Math.max(...requests.slice(0, 8).map((q) => q.concurrent))).toBeGreaterThan(1);
  });

  it('marks a delivery dead after the schedule, and the API puts it back', async () => {
    const r = await receiver(() => ({ status: 500 }));
    const { b, t } = await setup({ WEBHOOK_URL: r.url, DELIVERY_SCHEDULE: '10ms,10ms' });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    const dead = await until(async () => (await b.api('GET', '/api/deliveries?status=dead')).json.items[0]);
    expect(dead).toMatchObject({ attempts: 3, last_status: 500, last_error: 'HTTP 500', next_attempt_at: null });
    expect(r.requests).toHaveLength(3);

    r.script(() => ({ status: 200 }));
    const retried = await b.api('POST', `/api/deliveries/${dead.id}/retry`);
    expect(retried.status).toBe(202);
    await r.received(4);
    expect(await until(async () => (await b.api('GET', `/api/deliveries/${dead.id}`)).json.status === 'delivered')).toBe(true);
    expect((await b.api('POST', `/api/deliveries/${dead.id}/retry`)).status).toBe(409);
    expect((await b.api('POST', '/api/deliveries/dlv_999999/retry')).status).toBe(404);
  });

  it('disables an endpoint that answers 410 and resumes when it is enabled', async () => {
    const r = await receiver(() => ({ status: 410 }));
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await r.received(1);
    const endpoint = await until(
      async () => (await b.api('GET', '/api/webhooks/ep_default')).json.enabled === false && (await b.api('GET', '/api/webhooks/ep_default')).json,
    );
    expect(endpoint.disabled_reason).toBe('gone');
    await t.send({ cmd: 'verifiedRecordU', data: passes(2, 10) });
    await b.eventsStored(3, (e) => e.type === 'face.verified');
    expect((await b.api('GET', '/api/deliveries?status=pending')).json.items).toHaveLength(3);
    // Nothing comes before the first delivery: the cursor dlv_0 pages to an empty list, not the whole one.
    expect((await b.api('GET', '/api/deliveries?cursor=dlv_0')).json).toEqual({ items: [], next_cursor: null });
    expect(r.requests).toHaveLength(1);

    r.script(() => ({ status: 200 }));
    expect((await b.api('POST', '/api/webhooks/ep_default/enable')).json.enabled).toBe(true);
    await r.received(4);
    await until(async () => (await b.api('GET', '/api/deliveries?status=delivered')).json.items.length === 3);
  });
});

describe('several endpoints', () => {
  it('does not let a slow endpoint hold up a fast one', async () => {
    const slow = await receiver(() => 'hang');
    const fast = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: slow.url, DELIVERY_TIMEOUT: '60s', DELIVERY_CONCURRENCY: '2' });
    expect((await b.api('POST', '/api/webhooks', { url: fast.url, event_types: ['face.verified'] })).status).toBe(201);
    await t.send({ cmd: 'verifiedRecordU', data: passes(20) });
    await fast.received(20);
    expect(slow.requests.length).toBeLessThanOrEqual(2);
  });

  it('sends each endpoint only the event types it asked for', async () => {
    const strangers = await receiver();
    const everything = await receiver();
    const { b, t } = await setup({});
    await b.api('POST', '/api/webhooks', { url: strangers.url, event_types: ['face.stranger'] });
    await b.api('POST', '/api/webhooks', { url: everything.url, event_types: ['face.verified', 'face.rejected', 'face.stranger', 'device.message'] });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord(), verifiedRecord({ num: '9', verifiedCode: 3 })] });
    await t.send({ cmd: 'strangerRecordU', data: [{ liveImageBase64: '/9j/x', time: '2026-11-22 10:00:00' }] });
    await t.send({ cmd: 'getVersionU', version: '1.0' });
    const all = await everything.received(4);
    expect(all.map((q) => q.json.type).sort()).toEqual(['device.message', 'face.rejected', 'face.stranger', 'face.verified']);
    expect(all.find((q) => q.json.type === 'device.message')!.json.message).toEqual({ cmd: 'getVersionU', version: '1.0' });
    const [stranger] = await strangers.received(1);
    expect(stranger.json).toMatchObject({ type: 'face.stranger', device_sn: 'W1', img: '/9j/x', bot_time: '2026-11-22 10:00:00' });
    expect(strangers.requests).toHaveLength(1);
  });

  it('redelivers everything since a time to one endpoint', async () => {
    const r = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    await t.send({ cmd: 'verifiedRecordU', data: passes(3) });
    await until(async () => (await b.api('GET', '/api/deliveries?status=delivered')).json.items.length === 3);
    const res = await b.api('POST', '/api/webhooks/ep_default/redeliver', { since: new Date(Date.now() - 60_000).toISOString() });
    expect(res.status).toBe(202);
    expect(res.json.deliveries).toBe(3);
    const all = await r.received(6);
    expect(new Set(all.map((q) => q.headers['webhook-id'])).size).toBe(3);
  });
});

describe('changes to an endpoint with much behind it, a step at a time', () => {
  /** A bridge whose store holds `n` events of alternating types, each with a delivery to ep_big, some delivered. */
  async function storeWith(n: number) {
    let b = await startBridge(FAST);
    const created = await b.api('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/big', event_types: ['face.verified'] });
    const id = created.json.id as string;
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    const db = new Database(join(dataDir, 'facegate.db'));
    const at = Date.now() - 1000;
    const insertEvent = db.prepare("insert into events (id, type, device_sn, received_at, fields, has_image) values (?, ?, 'BIG1', ?, '{}', 0)");
    const insertDelivery = db.prepare('insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at) values (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const type = i % 2 === 0 ? 'face.verified' : 'face.stranger';
        const { lastInsertRowid } = insertEvent.run(`evt_big_${i}`, type, at);
        if (type === 'face.verified') insertDelivery.run(lastInsertRowid, id, i % 4 === 0 ? 'delivered' : 'pending', at + 86_400_000, at);
      }
    })();
    db.close();
    b = await startBridge({ ...FAST, DELIVERY_SCHEDULE: '1h' }, dataDir);
    bridge = b;
    return { b, id, since: new Date(at - 1000).toISOString() };
  }

  it('redelivers more events than one step takes: every one of its types once, none of the others', async () => {
    const { b, id, since } = await storeWith(5000);
    const res = await b.api('POST', `/api/webhooks/${id}/redeliver`, { since });
    expect(res.status).toBe(202);
    expect(res.json.deliveries).toBe(2500);
    expect(b.count('deliveries', 'endpoint_id = ?', id)).toBe(2500);
    expect(b.count('deliveries', "endpoint_id = ? and status = 'pending'", id)).toBe(2500);
  });

  it('removes an endpoint with more deliveries than one step takes, and all of them with it', async () => {
    const { b, id } = await storeWith(9000);
    expect(b.count('deliveries', 'endpoint_id = ?', id)).toBe(4500);
    expect((await b.api('DELETE', `/api/webhooks/${id}`)).status).toBe(204);
    expect(b.count('deliveries', 'endpoint_id = ?', id)).toBe(0);
    expect(b.count('endpoints', 'id = ?', id)).toBe(0);
    expect((await b.api('GET', `/api/webhooks/${id}`)).status).toBe(404);
  });
});

describe('/api/webhooks', () => {
  it('creates, lists with masked secrets, and deletes endpoints', async () => {
    const { b } = await setup({});
    const created = await b.api('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/x', secret: SECRET, event_types: ['device.online'] });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: expect.stringMatching(/^ep_/), url: 'http://127.0.0.1:9/x', event_types: ['device.online'], enabled: true });
    expect(created.json.secret).not.toContain(SECRET.slice(6, 20));
    const list = await b.api('GET', '/api/webhooks');
    expect(list.text).not.toContain(SECRET.slice(6));
    expect(list.json.items.map((e: any) => e.id)).toContain(created.json.id);
    expect((await b.api('DELETE', `/api/webhooks/${created.json.id}`)).status).toBe(204);
    expect((await b.api('GET', `/api/webhooks/${created.json.id}`)).status).toBe(404);
    expect((await b.api('DELETE', `/api/webhooks/${created.json.id}`)).status).toBe(404);
  });

  it.each([
    [{ url: 'ftp://x' }, /^url: /],
    [{ url: 'not a url' }, /^url: /],
    [{}, /^url: /],
    [{ url: 'http://x', event_types: ['face.unknown'] }, /^event_types\.0: /],
    [{ url: 'http://x', event_types: [] }, /^event_types: /],
    [{ url: 'http://x', secret: 'short' }, /^secret: /],
    // Node's decoder would skip every character and sign with an empty key.
    [{ url: 'http://x', secret: 'whsec_!!!!!!!!!!!!!!!!!!!!' }, /^secret: a whsec_ secret must be base64/],
    [{ url: 'http://x', secret: 'whsec_c2hvcnQ=' }, /^secret: a whsec_ secret must hold at least 16 bytes/],
  ])('answers 400 for %j', async (body, message) => {
    const { b } = await setup({});
    const res = await b.api('POST', '/api/webhooks', body);
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(message);
  });

  it('refuses an endpoint past ENDPOINT_LIMIT with 409, however many are asked for at once', async () => {
    const { b } = await setup({ WEBHOOK_URL: 'http://127.0.0.1:9/default' });
    const add = (i: number) => b.api('POST', '/api/webhooks', { url: `http://127.0.0.1:9/h${i}`, event_types: ['device.online'] });
    for (let i = 1; i < ENDPOINT_LIMIT - 8; i++) expect((await add(i)).status).toBe(201);
    // Twenty at once for the last eight places: the count and the insert do not interleave.
    const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => add(100 + i)));
    expect(racing.filter((res) => res.status === 201)).toHaveLength(8);
    const refused = racing.filter((res) => res.status !== 201);
    for (const res of refused) {
      expect(res.status).toBe(409);
      expect(res.json.error).toEqual({
        code: 'conflict',
        message: `${ENDPOINT_LIMIT} webhook endpoints exist, the most there may be (${ENDPOINT_LIMIT}); delete one first`,
      });
    }
    const { json } = await b.api('GET', '/api/webhooks');
    expect(json.items).toHaveLength(ENDPOINT_LIMIT);
    expect(json.items.map((e: any) => e.id)).toContain('ep_default');
    expect((await add(200)).status).toBe(409);
    // One removed makes room for one.
    expect((await b.api('DELETE', `/api/webhooks/${json.items.at(-1).id}`)).status).toBe(204);
    expect((await add(201)).status).toBe(201);
    expect((await add(202)).status).toBe(409);
  });

  it('disables an endpoint by API, holding its deliveries, until it is enabled again', async () => {
    const r = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    const disabled = await b.api('POST', '/api/webhooks/ep_default/disable');
    expect(disabled.status).toBe(200);
    expect(disabled.json).toMatchObject({ id: 'ep_default', enabled: false, disabled_reason: 'admin' });
    expect((await b.api('GET', '/api/webhooks/ep_default')).json).toMatchObject({ enabled: false, disabled_reason: 'admin' });
    await t.send({ cmd: 'verifiedRecordU', data: passes(2) });
    await b.eventsStored(2, (e) => e.type === 'face.verified');
    expect((await b.api('GET', '/api/deliveries?status=pending')).json.items.map((d: any) => d.attempts)).toEqual([0, 0]);
    const enabled = await b.api('POST', '/api/webhooks/ep_default/enable');
    expect(enabled.json).toMatchObject({ enabled: true, disabled_reason: null });
    await r.received(2);
    expect((await b.api('POST', '/api/webhooks/ep_nope/disable')).status).toBe(404);
  });

  it('answers 400 for bad delivery filters', async () => {
    const { b } = await setup({});
    expect((await b.api('GET', '/api/deliveries?status=lost')).status).toBe(400);
    expect((await b.api('GET', '/api/deliveries?limit=0')).status).toBe(400);
    expect((await b.api('GET', '/api/deliveries?cursor=abc')).status).toBe(400);
  });
});

describe('restarts', () => {
  it('keeps the default endpoint disabled after a 410 while WEBHOOK_URL stays the same, and disables it as config without WEBHOOK_URL', async () => {
    const gone = await receiver(() => ({ status: 410 }));
    const fresh = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: gone.url });
    await t.send({ cmd: 'verifiedRecordU', data: passes(1) });
    await until(async () => (await b.api('GET', '/api/webhooks/ep_default')).json.disabled_reason === 'gone');
    await t.client.endAsync(true);
    terminal = undefined;
    const dataDir = b.dataDir;
    const state = async (env: Record<string, string>) => {
      await bridge!.stop({ keepData: true });
      bridge = await startBridge({ ...FAST, ...env }, dataDir);
      const { json } = await bridge.api('GET', '/api/webhooks/ep_default');
      return { enabled: json.enabled, disabled_reason: json.disabled_reason, url: json.url };
    };
    expect(await state({ WEBHOOK_URL: gone.url })).toEqual({ enabled: false, disabled_reason: 'gone', url: gone.url });
    // A new receiver is another endpoint: enabled, and what waited goes to it.
    expect(await state({ WEBHOOK_URL: fresh.url })).toEqual({ enabled: true, disabled_reason: null, url: fresh.url });
    await fresh.received(1);
    expect(await state({})).toEqual({ enabled: false, disabled_reason: 'config', url: fresh.url });
    expect(await state({ WEBHOOK_URL: fresh.url })).toEqual({ enabled: true, disabled_reason: null, url: fresh.url });
  });

  it('resumes pending deliveries after a restart', async () => {
    const r = await receiver();
    const { b, t } = await setup({ WEBHOOK_URL: r.url });
    await r.down();
    await t.send({ cmd: 'verifiedRecordU', data: passes(4) });
    await t.client.endAsync(true);
    terminal = undefined;
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    await r.up();
    bridge = await startBridge({ ...FAST, WEBHOOK_URL: r.url }, dataDir);
    const requests = await r.received(4);
    expect(new Set(requests.map((q) => q.headers['webhook-id'])).size).toBe(4);
  });
});
