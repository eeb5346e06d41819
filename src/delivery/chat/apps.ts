import { createHmac } from 'node:crypto';

// The chat apps an endpoint can post alerts to (README §Alerts in chat apps):
// how each one's robot takes a message, signs it, limits it and answers.
// Each rule below cites the app's own documentation for custom robots:
// - Feishu: open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
// - DingTalk: open.dingtalk.com/document/robots/custom-robot-access
// - WeCom: developer.work.weixin.qq.com/document/path/91770
// - Slack: api.slack.com/messaging/webhooks and /docs/rate-limits

export const CHAT_FORMATS = ['feishu', 'dingtalk', 'wecom', 'slack'] as const;
export type ChatFormat = (typeof CHAT_FORMATS)[number];
/** An endpoint's `format`: `standard` is the Standard Webhooks JSON of README §Webhooks. */
export const ENDPOINT_FORMATS = ['standard', ...CHAT_FORMATS] as const;
export type EndpointFormat = (typeof ENDPOINT_FORMATS)[number];
export const isChatFormat = (format: EndpointFormat): format is ChatFormat => format !== 'standard';

export const ALERT_LANGS = ['zh-CN', 'en'] as const;
export type AlertLang = (typeof ALERT_LANGS)[number];

export interface ChatApp {
  /** Messages a robot may post in any 60 s, and in any second. */
  perMinute: number;
  perSecond?: number;
  /** Bytes of text one message may carry: a digest takes in what fits. */
  textBytes: number;
  /** How long the app makes a robot wait once it is over its limit. */
  throttleMs: number;
}

export const CHAT_APPS: Record<ChatFormat, ChatApp> = {
  // 100 a minute and 5 a second per robot; a request body of at most 20 KB.
  feishu: { perMinute: 100, perSecond: 5, textBytes: 16_000, throttleMs: 60_000 },
  // 20 a minute per robot; past it the robot is throttled for 10 minutes.
  dingtalk: { perMinute: 20, textBytes: 16_000, throttleMs: 600_000 },
  // 20 a minute per robot; a text message's content is at most 2,048 bytes.
  wecom: { perMinute: 20, textBytes: 2000, throttleMs: 60_000 },
  // Incoming webhooks: about one message a second; 429 with Retry-After past it.
  slack: { perMinute: 60, perSecond: 1, textBytes: 3000, throttleMs: 60_000 },
};

/** A message ready to post: its body, and the query parameters a signature adds to the URL. */
export interface ChatRequest {
  body: string;
  query: Record<string, string>;
}

/**
 * Feishu's signature: HMAC-SHA256 keyed with "{timestamp}\n{secret}" over an
 * empty message, base64; `timestamp` in seconds, within an hour of Feishu's
 * clock. Both go into the body.
 */
export function feishuSign(secret: string, timestampSeconds: number): string {
  return createHmac('sha256', `${timestampSeconds}\n${secret}`).update('').digest('base64');
}

/**
 * DingTalk's signature: HMAC-SHA256 keyed with the secret over
 * "{timestamp}\n{secret}", base64; `timestamp` in milliseconds, within an
 * hour of DingTalk's clock. Both go into the query string (URL-encoded).
 */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

/** The app's message for a text, signed when the endpoint has a secret (WeCom and Slack robots have none: their URL is the secret). */
export function chatRequest(format: ChatFormat, text: string, secret: string | null, now: number): ChatRequest {
  switch (format) {
    case 'feishu': {
      const message: Record<string, unknown> = { msg_type: 'text', content: { text } };
      if (secret) {
        const timestamp = Math.floor(now / 1000);
        message.timestamp = String(timestamp);
        message.sign = feishuSign(secret, timestamp);
      }
      return { body: JSON.stringify(message), query: {} };
    }
    case 'dingtalk': {
      const body = JSON.stringify({ msgtype: 'text', text: { content: text } });
      return { body, query: secret ? { timestamp: String(now), sign: dingtalkSign(secret, now) } : {} };
    }
    case 'wecom':
      return { body: JSON.stringify({ msgtype: 'text', text: { content: text } }), query: {} };
    case 'slack':
      return { body: JSON.stringify({ text }), query: {} };
  }
}

/** What the app's answer means beyond its HTTP status. */
export type ChatAnswer = { ok: true } | { ok: false; error: string; throttled: boolean };

// The codes each app answers when a robot posts too often.
const THROTTLE_CODES: Record<ChatFormat, readonly number[]> = {
  feishu: [11232, 9499],
  dingtalk: [130101],
  wecom: [45009],
  slack: [],
};
const SHOWN_ANSWER = 200;

/**
 * A 2xx answer read as the app means it: Feishu `code` (older robots
 * `StatusCode`), DingTalk and WeCom `errcode`, 0 or absent is success;
 * Slack answers the text `ok`. Anything else is a failed attempt, retried
 * like any other; a throttle code waits as a Retry-After would.
 */
export function readChatAnswer(format: ChatFormat, text: string): ChatAnswer {
  if (format === 'slack') return text.trim() === 'ok' ? { ok: true } : { ok: false, error: `slack: ${text.slice(0, SHOWN_ANSWER)}`, throttled: false };
  const answer = parsedAnswer(text);
  if (answer === undefined) return { ok: false, error: `${format}: the answer is not JSON: ${text.slice(0, SHOWN_ANSWER)}`, throttled: false };
  const code = codeOf(format, answer);
  if (code === undefined || code === 0) return { ok: true };
  const message = format === 'feishu' ? (answer.msg ?? answer.StatusMessage) : answer.errmsg;
  return {
    ok: false,
    error: `${format} code ${String(code).slice(0, 20)}: ${String(message ?? '').slice(0, SHOWN_ANSWER)}`,
    throttled: typeof code === 'number' && THROTTLE_CODES[format].includes(code),
  };
}

/** An answer's JSON as an object ({} for JSON that is none), or undefined when it is no JSON. */
function parsedAnswer(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return undefined;
  }
}

/** The app's own code in its answer: Feishu `code` (older robots `StatusCode`), DingTalk and WeCom `errcode`. */
function codeOf(format: Exclude<ChatFormat, 'slack'>, answer: Record<string, unknown>): unknown {
  return format === 'feishu' ? (answer.code ?? answer.StatusCode) : answer.errcode;
}

/** The app's code in an answer, for a test message's report; Slack answers none. */
export function chatCode(format: ChatFormat, text: string): unknown {
  if (format === 'slack') return undefined;
  const answer = parsedAnswer(text);
  return answer && codeOf(format, answer);
}
