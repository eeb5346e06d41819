import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { alertText, digestText } from '../../src/delivery/chat/alert-text.ts';
import { CHAT_APPS, chatRequest, readChatAnswer } from '../../src/delivery/chat/apps.ts';
import { createPace, nextStep } from '../../src/delivery/chat/pace.ts';

const AT = Date.UTC(2026, 11, 5, 1, 10, 0);

describe('chat requests', () => {
  it('signs a Feishu message in its body: HMAC-SHA256 keyed with "timestamp\\nsecret" over nothing, timestamp in seconds', () => {
    const request = chatRequest('feishu', 'hello', 'feishu-secret-0123456789', AT);
    const body = JSON.parse(request.body);
    expect(body).toMatchObject({ msg_type: 'text', content: { text: 'hello' }, timestamp: String(AT / 1000) });
    expect(body.sign).toBe(createHmac('sha256', `${AT / 1000}\nfeishu-secret-0123456789`).digest('base64'));
    expect(request.query).toEqual({});
    expect(JSON.parse(chatRequest('feishu', 'hello', null, AT).body)).toEqual({ msg_type: 'text', content: { text: 'hello' } });
  });

  it('signs a DingTalk message in its query: HMAC-SHA256 keyed with the secret over "timestamp\\nsecret", timestamp in ms', () => {
    const request = chatRequest('dingtalk', 'hello', 'SECdingtalk-0123456789', AT);
    expect(JSON.parse(request.body)).toEqual({ msgtype: 'text', text: { content: 'hello' } });
    expect(request.query.timestamp).toBe(String(AT));
    expect(request.query.sign).toBe(createHmac('sha256', 'SECdingtalk-0123456789').update(`${AT}\nSECdingtalk-0123456789`).digest('base64'));
  });

  it('gives WeCom and Slack their own shapes, unsigned', () => {
    expect(JSON.parse(chatRequest('wecom', 'hi', 'ignored-secret-0123', AT).body)).toEqual({ msgtype: 'text', text: { content: 'hi' } });
    expect(chatRequest('slack', 'hi', null, AT)).toEqual({ body: '{"text":"hi"}', query: {} });
  });
});

describe('chat answers', () => {
  it('reads each app’s code: 0 or absent succeeds, anything else fails, throttle codes say so', () => {
    expect(readChatAnswer('feishu', '{"code":0,"msg":"success"}')).toEqual({ ok: true });
    expect(readChatAnswer('feishu', '{"StatusCode":0}')).toEqual({ ok: true });
    expect(readChatAnswer('feishu', '{"code":19021,"msg":"sign match fail"}')).toMatchObject({
      ok: false,
      throttled: false,
      error: expect.stringContaining('19021'),
    });
    expect(readChatAnswer('feishu', '{"code":11232,"msg":"frequency limited"}')).toMatchObject({ ok: false, throttled: true });
    expect(readChatAnswer('dingtalk', '{"errcode":0,"errmsg":"ok"}')).toEqual({ ok: true });
    expect(readChatAnswer('dingtalk', '{"errcode":130101,"errmsg":"send too fast"}')).toMatchObject({ ok: false, throttled: true });
    expect(readChatAnswer('dingtalk', '{"errcode":310000,"errmsg":"sign not match"}')).toMatchObject({ ok: false, throttled: false });
    expect(readChatAnswer('wecom', '{"errcode":45009,"errmsg":"api freq out of limit"}')).toMatchObject({ ok: false, throttled: true });
    expect(readChatAnswer('wecom', '<html>')).toMatchObject({ ok: false, error: expect.stringContaining('not JSON') });
    expect(readChatAnswer('slack', 'ok')).toEqual({ ok: true });
    expect(readChatAnswer('slack', 'invalid_payload')).toMatchObject({ ok: false, error: 'slack: invalid_payload' });
  });
});

describe('alert text', () => {
  it('says what happened, where, to whom and when, in the reader’s language, without the image', () => {
    const view = { type: 'face.stranger', id: 'evt_1', device_sn: 'SN1', img: 'AAAA', received_at: new Date(AT).toISOString() };
    const zh = alertText(view, 'zh-CN');
    expect(zh).toMatch(/^facegate · 陌生人\n终端：SN1\n时间：\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(UTC[+-]\d{2}:\d{2}\)$/);
    expect(zh).not.toContain('AAAA');
    const en = alertText({ type: 'face.verified', device_sn: 'SN1', user_id: '1001', name: 'Li Lei', received_at: new Date(AT).toISOString() }, 'en');
    expect(en).toContain('Person passed');
    expect(en).toContain('Person: Li Lei (1001)');
    expect(alertText({ type: 'device.message', device_sn: 'SN1', message: 'x'.repeat(10_000) }, 'en').length).toBeLessThan(300);
    // A terminal an admin labelled is named by its label too.
    expect(alertText({ type: 'device.offline', device_sn: 'SN1', label: '3F east door' }, 'zh-CN')).toContain('终端：SN1 · 3F east door');
    expect(
      digestText(
        [
          { type: 'device.offline', device_sn: 'SN1', label: '3F east door' },
          { type: 'device.offline', device_sn: 'SN2' },
        ],
        'en',
        1000,
      ).text,
    ).toContain('Terminal offline ×2: SN1 (3F east door), SN2');
  });

  it('names every event a digest combines, as many as fit', () => {
    const views = Array.from({ length: 200 }, (_, i) => ({ type: 'device.offline', device_sn: `SN${String(i).padStart(4, '0')}` }));
    const all = digestText(views, 'zh-CN', CHAT_APPS.dingtalk.textBytes);
    expect(all.taken).toBe(200);
    expect(all.text.split('\n')[0]).toBe('facegate · 200 条告警');
    for (const view of views) expect(all.text).toContain(view.device_sn);
    const some = digestText(views, 'en', 300);
    expect(some.taken).toBeGreaterThan(1);
    expect(some.taken).toBeLessThan(200);
    expect(Buffer.byteLength(some.text)).toBeLessThanOrEqual(300);
    expect(some.text).toContain(`Terminal offline ×${some.taken}`);
  });
});

describe('the pace of a robot', () => {
  it('counts a post from its answer, when the app may have counted it late', () => {
    const pace = createPace(CHAT_APPS.slack);
    pace.posted(AT);
    pace.answered(AT, AT + 300);
    expect(pace.free(AT + 1000)).toBe(0);
    expect(pace.nextAt(AT + 1000)).toBe(AT + 1300);
    expect(pace.free(AT + 1300)).toBe(1);
  });

  it('spaces posts a minute ÷ the app’s limit apart, within the app’s posts a minute and a second, and says when the next one may go', () => {
    const pace = createPace(CHAT_APPS.feishu);
    pace.posted(AT);
    expect(pace.free(AT + 599)).toBe(0);
    expect(pace.nextAt(AT)).toBe(AT + 600);
    expect(pace.free(AT + 600)).toBe(4);
    const ding = createPace(CHAT_APPS.dingtalk);
    ding.posted(AT);
    expect(ding.free(AT + 2999)).toBe(0);
    expect(ding.nextAt(AT + 1)).toBe(AT + 3000);
    expect(ding.free(AT + 3000)).toBe(19);
    // However the posts came (a test message, a restart's), never more than 20 in a minute.
    for (let i = 1; i < 20; i += 1) ding.posted(AT + i * 100);
    expect(ding.free(AT + 5000)).toBe(0);
    expect(ding.nextAt(AT + 5000)).toBe(AT + 60_000);
    expect(ding.free(AT + 60_000)).toBe(1);
    ding.close(AT + 600_000);
    expect(ding.free(AT + 120_000)).toBe(0);
    expect(ding.nextAt(AT + 120_000)).toBe(AT + 600_000);
  });

  it('sends one alert alone, and more than one as a digest', () => {
    expect(nextStep(0, 20)).toBe('wait');
    expect(nextStep(5, 0)).toBe('wait');
    expect(nextStep(1, 1)).toBe('single');
    expect(nextStep(1, 20)).toBe('single');
    expect(nextStep(2, 20)).toBe('digest');
    expect(nextStep(200, 1)).toBe('digest');
  });

  it('keeps a minute of alerts coming one a second to the app’s limit, each at most a spacing late', () => {
    const pace = createPace(CHAT_APPS.dingtalk);
    const posts: { at: number; alerts: number }[] = [];
    let due = 0;
    for (let t = 0; t <= 60_000; t += 100) {
      if (t % 1000 === 0) due += 1;
      if (nextStep(due, pace.free(AT + t)) !== 'wait') {
        pace.posted(AT + t);
        posts.push({ at: t, alerts: due });
        due = 0;
      }
    }
    expect(posts.length).toBeLessThanOrEqual(21);
    expect(posts.reduce((sum, post) => sum + post.alerts, 0) + due).toBe(61);
    expect(due).toBeLessThanOrEqual(3);
  });
});
