import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A chat app's custom robot as the tests meet it (README §Alerts in chat
// apps): a real HTTP server on loopback that takes the app's message shape at
// the app's path, checks the signature the way the app's documentation
// describes it (computed here, independently of src/), answers the app's
// codes, and holds the app's rate limit, answering its throttle code past it.

export type ChatApp = 'feishu' | 'dingtalk' | 'wecom' | 'slack';

interface AppRules {
  path: string;
  /** Posts a robot may make in any sliding 60 s, and in any second. */
  perMinute: number;
  perSecond?: number;
  /** The message's text, or undefined when the body is not the app's shape. */
  text(body: any): string | undefined;
  ok(): Answer;
  throttled(): Answer;
  /** A non-zero code that is not a throttle: a keyword missing from the message. */
  refused(): Answer;
  badShape(): Answer;
  badSign(): Answer;
}

interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

const json = (value: unknown): Answer => ({ status: 200, body: JSON.stringify(value) });

const RULES: Record<ChatApp, AppRules> = {
  feishu: {
    path: '/open-apis/bot/v2/hook/0a1b2c3d-feishu',
    perMinute: 100,
    perSecond: 5,
    text: (body) => (body?.msg_type === 'text' && typeof body.content?.text === 'string' ? body.content.text : undefined),
    ok: () => json({ code: 0, data: {}, msg: 'success' }),
    throttled: () => json({ code: 11232, data: {}, msg: 'frequency limited psm[lark.oapi.app_platform_runtime]appID[1]' }),
    refused: () => json({ code: 19024, data: {}, msg: 'Key Words Not Found' }),
    badShape: () => json({ code: 9499, data: {}, msg: 'Bad Request' }),
    badSign: () => json({ code: 19021, data: {}, msg: 'sign match fail or timestamp is not within one hour from current time' }),
  },
  dingtalk: {
    path: '/robot/send?access_token=dingtalk-token',
    perMinute: 20,
    text: (body) => (body?.msgtype === 'text' && typeof body.text?.content === 'string' ? body.text.content : undefined),
    ok: () => json({ errcode: 0, errmsg: 'ok' }),
    throttled: () => json({ errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' }),
    refused: () => json({ errcode: 310000, errmsg: 'keywords not in content' }),
    badShape: () => json({ errcode: 40035, errmsg: 'missing parameter' }),
    badSign: () => json({ errcode: 310000, errmsg: 'sign not match' }),
  },
  wecom: {
    path: '/cgi-bin/webhook/send?key=wecom-key',
    perMinute: 20,
    text: (body) => (body?.msgtype === 'text' && typeof body.text?.content === 'string' ? body.text.content : undefined),
    ok: () => json({ errcode: 0, errmsg: 'ok' }),
    throttled: () => json({ errcode: 45009, errmsg: 'api freq out of limit' }),
    refused: () => json({ errcode: 93017, errmsg: 'message blocked' }),
    badShape: () => json({ errcode: 40008, errmsg: 'invalid message type' }),
    badSign: () => json({ errcode: 93000, errmsg: 'invalid webhook url' }),
  },
  slack: {
    path: '/services/T0000/B0000/slacktoken',
    perMinute: 60,
    perSecond: 1,
    text: (body) => (typeof body?.text === 'string' ? body.text : undefined),
    ok: () => ({ status: 200, body: 'ok' }),
    throttled: () => ({ status: 429, body: 'rate_limited', headers: { 'retry-after': '30' } }),
    refused: () => ({ status: 200, body: 'no_text' }),
    badShape: () => ({ status: 400, body: 'invalid_payload' }),
    badSign: () => ({ status: 403, body: 'invalid_token' }),
  },
};

/** One post as it arrived: its text when it was accepted, and how it was answered. */
export interface ChatPost {
  at: number;
  text: string | undefined;
  answer: 'ok' | 'throttled' | 'refused' | 'bad_shape' | 'bad_sign';
  query: URLSearchParams;
  body: any;
}

/** Feishu: HMAC-SHA256 keyed with "timestamp\nsecret" over an empty message, base64; the timestamp in seconds, within an hour. */
function feishuSigned(body: any, secret: string): boolean {
  const timestamp = Number(body?.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 3600) return false;
  const expected = createHmac('sha256', `${body.timestamp}\n${secret}`).update(Buffer.alloc(0)).digest('base64');
  return body.sign === expected;
}

/** DingTalk: HMAC-SHA256 keyed with the secret over "timestamp\nsecret", base64, URL-encoded in the query; the timestamp in ms, within an hour. */
function dingtalkSigned(query: URLSearchParams, secret: string): boolean {
  const timestamp = query.get('timestamp') ?? '';
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() - Number(timestamp)) > 3_600_000) return false;
  return query.get('sign') === createHmac('sha256', secret).update(`${timestamp}\n${secret}`, 'utf8').digest('base64');
}

export async function startChatReceiver(app: ChatApp, options: { secret?: string; keyword?: string } = {}) {
  const rules = RULES[app];
  const keyword = options.keyword ?? 'facegate';
  const posts: ChatPost[] = [];
  /** Times of the posts the robot counted (every request at its path). */
  const counted: number[] = [];
  let refuseNext = 0;
  const waiters = new Set<() => void>();

  const answer = (res: ServerResponse, reply: Answer) => {
    res.writeHead(reply.status, { 'content-type': reply.body.startsWith('{') ? 'application/json' : 'text/plain', ...reply.headers }).end(reply.body);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://robot');
      const expected = new URL(rules.path, 'http://robot');
      if (req.method !== 'POST' || url.pathname !== expected.pathname || [...expected.searchParams].some(([k, v]) => url.searchParams.get(k) !== v)) {
        res.writeHead(404).end();
        return;
      }
      const now = Date.now();
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      const record = (outcome: ChatPost['answer'], text?: string) => {
        posts.push({ at: now, text, answer: outcome, query: url.searchParams, body });
        for (const wake of [...waiters]) wake();
      };
      // The app's limit over any sliding minute (and second): every request counts.
      while (counted.length > 0 && counted[0] <= now - 60_000) counted.shift();
      const lastSecond = counted.filter((at) => at > now - 1000).length;
      const over = counted.length >= rules.perMinute || (rules.perSecond !== undefined && lastSecond >= rules.perSecond);
      counted.push(now);
      if (over) {
        record('throttled');
        return answer(res, rules.throttled());
      }
      if (options.secret !== undefined) {
        const signed = app === 'feishu' ? feishuSigned(body, options.secret) : app === 'dingtalk' ? dingtalkSigned(url.searchParams, options.secret) : true;
        if (!signed) {
          record('bad_sign');
          return answer(res, rules.badSign());
        }
      }
      const text = rules.text(body);
      if (text === undefined) {
        record('bad_shape');
        return answer(res, rules.badShape());
      }
      // The robot's keyword check, or a refusal the test asked for.
      if (!text.includes(keyword) || refuseNext > 0) {
        refuseNext = Math.max(0, refuseNext - 1);
        record('refused', text);
        return answer(res, rules.refused());
      }
      record('ok', text);
      answer(res, rules.ok());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}${rules.path}`,
    posts,
    /** Texts of the messages the robot accepted. */
    get accepted(): string[] {
      return posts.filter((post) => post.answer === 'ok').map((post) => post.text!);
    },
    get throttled(): number {
      return posts.filter((post) => post.answer === 'throttled').length;
    },
    /** The next `n` posts are refused with the app's non-zero code (or Slack's error text). */
    refuse(n: number) {
      refuseNext = n;
    },
    /** Resolves once `check` holds of the posts so far. */
    until(check: (posts: ChatPost[]) => boolean): Promise<void> {
      if (check(posts)) return Promise.resolve();
      return new Promise((resolve) => {
        const wake = () => {
          if (!check(posts)) return;
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type ChatReceiver = Awaited<ReturnType<typeof startChatReceiver>>;
