import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Alerts in chat apps: endpoints that post to Feishu, DingTalk, WeCom
// and Slack robots, against receivers that imitate each app.

let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
});

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
