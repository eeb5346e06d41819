import mqtt from 'mqtt';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { heartU, strangerRecord, verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, serials, type Terminal, UPLINK } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { localTimestamp } from '../../src/lib/units.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { type ChatApp, type ChatReceiver, startChatReceiver } from '../support/chat-receiver.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

// README §Alerts in chat apps: endpoints that post to Feishu, DingTalk, WeCom
// and Slack robots, against receivers that imitate each app.

let bridge: TestBridge | undefined;
let terminal: Terminal | undefined;
let closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await terminal?.client.endAsync(true);
  terminal = undefined;
  await bridge?.stop();
  bridge = undefined;
  await Promise.all(closers.map((close) => close().catch(() => {})));
  closers = [];
});

const FAST = { DELIVERY_SCHEDULE: '50ms,50ms,50ms', DELIVERY_TIMEOUT: '2s' };

async function chatReceiver(app: ChatApp, options?: Parameters<typeof startChatReceiver>[1]): Promise<ChatReceiver> {
  const receiver = await startChatReceiver(app, options);
  closers.push(receiver.close);
  return receiver;
}

async function receiver(script?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(script);
  closers.push(() => r.close());
  return r;
}

async function addEndpoint(b: TestBridge, body: Record<string, unknown>): Promise<string> {
  const res = await b.api('POST', '/api/webhooks', body);
  expect(res.status, res.text).toBe(201);
  return res.json.id;
}

describe('chat endpoints by API', () => {
  it('keeps format and lang, standard and zh-CN by default, and shows them', async () => {
    bridge = await startBridge();
    const plain = await bridge.api('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/a' });
    expect(plain.json).toMatchObject({ format: 'standard', lang: 'zh-CN' });
    const chat = await bridge.api('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/b', format: 'dingtalk', lang: 'en', secret: 'SECabc' });
    expect(chat.status).toBe(201);
    expect(chat.json).toMatchObject({ format: 'dingtalk', lang: 'en', secret: '…' });
    expect((await bridge.api('GET', `/api/webhooks/${chat.json.id}`)).json).toMatchObject({ format: 'dingtalk', lang: 'en' });
  });

  it('answers 400 naming the field for a bad format, lang, or a secret the format does not take', async () => {
    bridge = await startBridge();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ url: 'http://x', format: 'teams' }, /^format: format is one of standard, feishu, dingtalk, wecom, slack/],
      [{ url: 'http://x', lang: 'fr' }, /^lang: lang is one of zh-CN, en/],
      [{ url: 'http://x', format: 'standard', secret: 'short' }, /^secret: secret must have at least 16 characters/],
      [{ url: 'http://x', format: 'wecom', secret: 'anything-at-all-0123' }, /^secret: a wecom robot takes no secret/],
      [{ url: 'http://x', format: 'slack', secret: 'anything-at-all-0123' }, /^secret: a slack robot takes no secret/],
      [{ url: 'http://x', format: 'feishu', secret: '' }, /^secret: a feishu secret has 1 to 256 characters/],
      [{ url: 'http://x', format: 'dingtalk', secret: 'S'.repeat(257) }, /^secret: a dingtalk secret has 1 to 256 characters/],
      [{ url: 'http://x', format: 'dingtalk', secret: 7 }, /^secret: secret must be a string/],
    ];
    for (const [body, message] of cases) {
      const res = await bridge.api('POST', '/api/webhooks', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.message).toMatch(message);
    }
    expect((await bridge.api('GET', '/api/webhooks')).json.items).toEqual([]);
  });
});

describe('alerts in each app', () => {
  const SECRETS: Record<ChatApp, string | undefined> = {
    feishu: 'feishu-robot-secret-7x',
    dingtalk: 'SEC0f1e2d3c4b5a69788',
    wecom: undefined,
    slack: undefined,
  };

  it.each(['feishu', 'dingtalk', 'wecom', 'slack'] as const)('%s: the app’s shape and signature; a non-zero code is retried, then delivered', async (app) => {
    const secret = SECRETS[app];
    const robot = await chatReceiver(app, { secret });
    bridge = await startBridge(FAST);
    const lang = app === 'slack' ? 'en' : 'zh-CN';
    const id = await addEndpoint(bridge, { url: robot.url, format: app, lang, secret, event_types: ['face.stranger'] });
    robot.refuse(1);
    terminal = await connectTerminal(bridge.brokerUrl, 'CHAT1');
    await terminal.send({ cmd: 'strangerRecordU', data: [strangerRecord()] });
    await robot.until((posts) => posts.some((post) => post.answer === 'ok'));

    expect(robot.posts.map((post) => post.answer)).toEqual(['refused', 'ok']);
    const [text] = robot.accepted;
    expect(text.split('\n')[0]).toBe(lang === 'en' ? 'facegate · Stranger at the door' : 'facegate · 陌生人');
    expect(text).toContain('CHAT1');
    // Never the image: a chat message is words only.
    expect(JSON.stringify(robot.posts.map((post) => post.body))).not.toContain(strangerRecord().liveImageBase64.slice(0, 20));
    await until(async () => (await bridge!.api('GET', `/api/deliveries?endpoint=${id}&status=delivered`)).json.items.length === 1);
    const [delivery] = (await bridge.api('GET', `/api/deliveries?endpoint=${id}`)).json.items;
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('a wrong signing secret is the app’s refusal, retried until the delivery is dead', async () => {
    const robot = await chatReceiver('dingtalk', { secret: 'SECthe-robot-has-this-one' });
    bridge = await startBridge(FAST);
    const id = await addEndpoint(bridge, { url: robot.url, format: 'dingtalk', secret: 'SECbut-facegate-has-that', event_types: ['face.stranger'] });
    terminal = await connectTerminal(bridge.brokerUrl, 'CHAT2');
    await terminal.send({ cmd: 'strangerRecordU', data: [strangerRecord()] });
    await until(async () => (await bridge!.api('GET', `/api/deliveries?endpoint=${id}&status=dead`)).json.items.length === 1);
    expect(robot.posts.map((post) => post.answer)).toEqual(['bad_sign', 'bad_sign', 'bad_sign', 'bad_sign']);
    const [delivery] = (await bridge.api('GET', `/api/deliveries?endpoint=${id}`)).json.items;
    expect(delivery.last_error).toMatch(/^dingtalk code 310000: sign not match/);
  });
});

describe('a flood of alerts', () => {
  it('reaches a DingTalk robot in a few digests that name every terminal, never over its limit, and a standard endpoint in full', async () => {
    const robot = await chatReceiver('dingtalk');
    const backend = await receiver();
    bridge = await startBridge({ ...FAST, HEARTBEAT_TIMEOUT: '1', DISCOVERY_RATE: '1000/s' });
    await addEndpoint(bridge, { url: robot.url, format: 'dingtalk', event_types: ['device.offline'] });
    await addEndpoint(bridge, { url: backend.url, event_types: ['device.offline'] });
    const flood = serials('FLOOD', 200);
    // One client speaks for 200 terminals (the embedded broker is anonymous here): each is heard once, then silent.
    const client = await mqtt.connectAsync(bridge.brokerUrl, { clientId: 'flood' });
    closers.push(() => client.endAsync(true));
    for (const sn of flood) await client.publishAsync(UPLINK.topicOf(sn), JSON.stringify(heartU()), { qos: 1 });
    const silentAt = Date.now();

    const backendGot = await backend.received(200);
    expect(new Set(backendGot.map((request) => request.json.device_sn))).toEqual(new Set(flood));
    const named = (sn: string) => robot.accepted.some((text) => text.includes(sn));
    await robot.until(() => flood.every(named));
    const arrived = robot.posts.find((post) => post.answer === 'ok')!.at;

    expect(robot.accepted.length).toBeLessThanOrEqual(20);
    expect(robot.throttled).toBe(0);
    expect(robot.accepted.some((text) => /^facegate · \d+ 条告警\n终端离线 ×\d+：/.test(text))).toBe(true);
    // Counted once the robot has answered the digest, after it holds its text.
    const b = bridge;
    await until(async () => /facegate_alert_digests_total\{endpoint="ep_[^"]+"\} [1-9]/.test(await b.metric('facegate_alert_digests_total')));
    const span = (robot.posts.at(-1)!.at - robot.posts[0].at) / 60_000;
    // Figures for the README, not asserted.
    console.log(
      `flood: ${flood.length} device.offline → ${robot.accepted.length} DingTalk messages in ${(span * 60).toFixed(1)} s; ` +
        `first alert ${((arrived - silentAt) / 1000).toFixed(1)} s after the terminals went silent (HEARTBEAT_TIMEOUT 1 s)`,
    );
  });
});

describe('a terminal’s label', () => {
  it('is set, shown and cleared by API, and names the terminal in its alerts', async () => {
    const robot = await chatReceiver('wecom');
    bridge = await startBridge({ ...FAST, HEARTBEAT_TIMEOUT: '2' });
    const b = bridge;
    await addEndpoint(b, { url: robot.url, format: 'wecom', event_types: ['device.offline'] });
    const client = await mqtt.connectAsync(b.brokerUrl, { clientId: 'door3' });
    closers.push(() => client.endAsync(true));
    await client.publishAsync(UPLINK.topicOf('DOOR3'), JSON.stringify(heartU()), { qos: 1 });
    // Its row is written once the terminal is heard: until then there is no such terminal to label.
    await until(async () => (await b.api('PUT', '/api/devices/DOOR3/label', { label: ' 3F east door ' })).status === 200);
    expect((await b.api('GET', '/api/devices/DOOR3')).json).toMatchObject({ sn: 'DOOR3', label: '3F east door' });
    await robot.until(() => robot.accepted.length > 0);
    expect(robot.accepted[0]).toContain('终端：DOOR3 · 3F east door');

    expect((await b.api('PUT', '/api/devices/DOOR3/label', { label: null })).json).toMatchObject({ label: null });
    expect((await b.api('PUT', '/api/devices/NOSUCH1/label', { label: 'x' })).status).toBe(404);
    for (const label of ['', 'a'.repeat(65), 'tab\there', 7]) {
      const refused = await b.api('PUT', '/api/devices/DOOR3/label', { label });
      expect(refused.status, String(label)).toBe(400);
      expect(refused.json.error.code).toBe('invalid_request');
    }
  });
});

describe('alerts about the bridge itself', () => {
  const settled = async (b: TestBridge) => until(async () => (await b.api('GET', '/api/deliveries?status=pending')).json.items.length === 0);

  it('tells a Feishu robot of a delivery that gave up; never the failing endpoint itself, and no alert of an alert that gave up', async () => {
    const secret = 'feishu-robot-secret-dead';
    const robot = await chatReceiver('feishu', { secret });
    const failing = await receiver(() => ({ status: 500 }));
    const alsoFailing = await receiver(() => ({ status: 503 }));
    bridge = await startBridge({ DELIVERY_SCHEDULE: '20ms,20ms', DELIVERY_TIMEOUT: '2s' });
    const a = await addEndpoint(bridge, { url: failing.url, event_types: ['face.stranger', 'delivery.dead'] });
    const b = await addEndpoint(bridge, { url: alsoFailing.url, event_types: ['delivery.dead'] });
    await addEndpoint(bridge, { url: robot.url, format: 'feishu', lang: 'en', secret, event_types: ['delivery.dead'] });
    terminal = await connectTerminal(bridge.brokerUrl, 'DEAD1');
    await terminal.send({ cmd: 'strangerRecordU', data: [strangerRecord()] });
    await robot.until((posts) => posts.some((post) => post.answer === 'ok'));
    await settled(bridge);

    const [stranger] = bridge.stored.filter((e) => e.type === 'face.stranger');
    const dead = (await bridge.api('GET', '/api/events?type=delivery.dead')).json.items;
    expect(dead).toEqual([
      {
        type: 'delivery.dead',
        id: expect.stringMatching(/^evt_/),
        delivery_id: expect.stringMatching(/^dlv_\d+$/),
        event_id: stranger.id,
        endpoint_id: a,
        attempts: 3,
        last_status: 500,
        received_at: expect.any(String),
        has_image: false,
      },
    ]);
    // b's delivery of that alert gave up too, and made no alert of it.
    expect((await bridge.api('GET', `/api/deliveries?endpoint=${b}&status=dead`)).json.items).toHaveLength(1);
    expect(failing.requests.map((request) => request.json.type)).toEqual(['face.stranger', 'face.stranger', 'face.stranger']);
    expect(robot.accepted).toHaveLength(1);
    expect(robot.accepted[0]).toContain('facegate · Delivery given up');
    expect(robot.accepted[0]).toContain(a);
  });

  it('tells a WeCom robot of an endpoint a 410 disabled, with its password masked, and not that endpoint', async () => {
    const robot = await chatReceiver('wecom');
    const gone = await receiver(() => ({ status: 410 }));
    bridge = await startBridge(FAST);
    const url = gone.url.replace('http://', 'http://door:s3cret-pass@');
    const g = await addEndpoint(bridge, { url, event_types: ['face.stranger', 'endpoint.disabled'] });
    await addEndpoint(bridge, { url: robot.url, format: 'wecom', lang: 'en', event_types: ['endpoint.disabled'] });
    terminal = await connectTerminal(bridge.brokerUrl, 'GONE1');
    await terminal.send({ cmd: 'strangerRecordU', data: [strangerRecord()] });
    await robot.until((posts) => posts.some((post) => post.answer === 'ok'));

    const masked = url.replace('s3cret-pass', '***');
    expect((await bridge.api('GET', '/api/events?type=endpoint.disabled')).json.items).toEqual([
      { type: 'endpoint.disabled', id: expect.stringMatching(/^evt_/), endpoint_id: g, url: masked, reason: 'gone', has_image: false },
    ]);
    expect(robot.accepted[0]).toContain('facegate · Endpoint disabled');
    expect(robot.accepted[0]).toContain(`${g} ${masked}`);
    expect(robot.accepted.join('\n')).not.toContain('s3cret');
    expect(bridge.count('deliveries', `endpoint_id = ? and event_seq in (select seq from events where type = 'endpoint.disabled')`, g)).toBe(0);
  });

  it('reports a terminal whose clock is off once an hour, each terminal on its own', async () => {
    const robot = await chatReceiver('slack');
    bridge = await startBridge({ ...FAST, CLOCK_SKEW: '5m' });
    await addEndpoint(bridge, { url: robot.url, format: 'slack', lang: 'en', event_types: ['device.clock_skew'] });
    const ahead = () => localTimestamp(new Date(Date.now() + 10 * 60_000));
    terminal = await connectTerminal(bridge.brokerUrl, 'SKEW1');
    await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '1', time: ahead() })] });
    await bridge.eventsStored(1, (e) => e.type === 'device.clock_skew');
    await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '2', time: ahead() })] });
    // On time: nothing to say.
    await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '3', time: localTimestamp(new Date()) })] });
    const other = await connectTerminal(bridge.brokerUrl, 'SKEW2');
    closers.push(() => other.client.endAsync(true));
    await other.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '4', time: ahead() })] });
    await bridge.eventsStored(4, (e) => e.type === 'face.verified');

    const skews = (await bridge.api('GET', '/api/events?type=device.clock_skew')).json.items;
    expect(skews.map((e: any) => e.device_sn).sort()).toEqual(['SKEW1', 'SKEW2']);
    for (const skew of skews) {
      expect(Object.keys(skew).sort()).toEqual(['device_sn', 'has_image', 'id', 'received_at', 'record_time', 'skew_seconds', 'type']);
      expect(skew.skew_seconds).toBeGreaterThan(590);
      expect(skew.skew_seconds).toBeLessThanOrEqual(600);
    }
    await robot.until((posts) => posts.filter((post) => post.answer === 'ok').length === 2);
    expect(robot.accepted.every((text) => text.startsWith('facegate · Terminal clock off'))).toBe(true);
  });
});

describe('a test message', () => {
  it('reaches a chat robot in its format and lang, and answers what the robot answered', async () => {
    const secret = 'feishu-robot-secret-test';
    const robot = await chatReceiver('feishu', { secret });
    const backend = await receiver(() => ({ status: 204 }));
    bridge = await startBridge();
    const chat = await addEndpoint(bridge, { url: robot.url, format: 'feishu', secret, lang: 'en' });
    const sent = await bridge.api('POST', `/api/webhooks/${chat}/test`);
    expect(sent.status).toBe(200);
    expect(sent.json).toEqual({ ok: true, status: 200, body: expect.stringContaining('"code":0'), code: 0, error: null });
    expect(robot.accepted).toEqual([expect.stringMatching(/^facegate · Test message\n/)]);
    // The robot's pace counts it: the next post may go 0.6 s later (a minute ÷ Feishu's 100).
    const early = await bridge.api('POST', `/api/webhooks/${chat}/test`);
    expect(early.status).toBe(429);
    expect(early.headers.get('retry-after')).toBe('1');
    robot.refuse(1);
    const refused = await until(async () => {
      const res = await bridge!.api('POST', `/api/webhooks/${chat}/test`);
      return res.status === 200 ? res : undefined;
    });
    expect(robot.posts).toHaveLength(2);
    expect(refused.json).toEqual({
      ok: false,
      status: 200,
      body: expect.stringContaining('Key Words Not Found'),
      code: 19024,
      error: 'feishu code 19024: Key Words Not Found',
    });

    const standardSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const plain = await addEndpoint(bridge, { url: backend.url, secret: standardSecret });
    expect((await bridge.api('POST', `/api/webhooks/${plain}/test`)).json).toEqual({ ok: true, status: 204, body: '', code: null, error: null });
    const [request] = backend.requests;
    expect(request.json).toEqual({ type: 'facegate.test', id: request.headers['webhook-id'], endpoint_id: plain, sent_at: expect.any(String) });
    expect(new Webhook(standardSecret).verify(request.body, request.headers as Record<string, string>)).toMatchObject({ type: 'facegate.test' });
    // Outside the outbox: nothing stored, nothing to retry.
    expect((await bridge.api('GET', '/api/deliveries')).json.items).toEqual([]);
    expect((await bridge.api('POST', '/api/webhooks/ep_nope/test')).status).toBe(404);
  });
});
