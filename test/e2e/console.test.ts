import { mkdirSync, readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { PERSON_CODES } from '../../src/kit/roster.ts';
import { connectTerminal, type Terminal, UPLINK } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { SHOWN_BYTES } from '../../src/store/sqlite/reads.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { startChatReceiver } from '../support/chat-receiver.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

// The web console in a real headless Chromium against the real bridge: log in,
// watch a terminal come online and a face event arrive live, send a command
// and see its reply under it, send one to several terminals and watch their
// states change, filter the history, retry a dead delivery, add a chat robot
// and send it a test message; the console in Chinese and English, in the
// site's zone, passing axe-core in both themes; a viewer who cannot send a
// command. Needs /usr/bin/chromium (Debian's `chromium` package) and a CJK
// font (fonts-wqy-zenhei); .ci/run installs both.

const OUTPUT = new URL('../output/', import.meta.url);
const FACE = readFileSync(new URL('../../fixtures/face-2.jpg', import.meta.url)).toString('base64');
const AXE = readFileSync(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/**
 * Until the image the selector finds has loaded (a broken one has no natural
 * width). Asked from here, not with page.waitForFunction: when its first look
 * finds it not loaded yet, that polls inside the page through eval, which the
 * console's CSP (script-src 'self') refuses.
 */
const loaded = (page: Page, selector: string) =>
  until(() =>
    page.evaluate(
      `(() => { const img = document.querySelector(${JSON.stringify(selector)}); return img !== null && img.complete && img.naturalWidth > 0; })()`,
    ),
  );

interface AxeViolation {
  id: string;
  impact: string | null;
  nodes: { target: string[]; failureSummary?: string }[];
}

/**
 * axe-core's serious and critical violations on the page as it is. axe is
 * put in the page through the DevTools protocol (page.evaluate), which the
 * console's CSP does not apply to: the CSP stays what production serves.
 */
async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate('typeof axe !== "undefined"'))) await page.evaluate(AXE);
  const violations = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations)')) as AxeViolation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id} ${n.target.join(' ')}: ${n.failureSummary ?? ''}`));
}

describe('web console', () => {
  let receiver: Receiver;
  let bridge: TestBridge;
  let terminal: Terminal | undefined;
  let answering: Terminal | undefined;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    receiver = await startReceiver(() => ({ status: 500 }));
    bridge = await startBridge({ WEBHOOK_URL: receiver.url, DELIVERY_SCHEDULE: '10ms' });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  });

  afterAll(async () => {
    await browser?.close();
    await terminal?.end();
    await answering?.end();
    await bridge?.stop();
    await receiver?.close();
  });

  it('serves the console with security headers', async () => {
    const html = await fetch(`http://127.0.0.1:${bridge.httpPort}/ui`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(html.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(html.headers.get('referrer-policy')).toBe('no-referrer');
    const js = await fetch(`http://127.0.0.1:${bridge.httpPort}/ui/app.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const messages = await fetch(`http://127.0.0.1:${bridge.httpPort}/ui/i18n.js`);
    expect(messages.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(messages.headers.get('content-security-policy')).toBe(js.headers.get('content-security-policy'));
    const css = await fetch(`http://127.0.0.1:${bridge.httpPort}/ui/style.css`);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('logs in, shows live terminals and events, sends a command, retries a dead delivery', async () => {
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => msg.type() === 'error' && pageErrors.push(msg.text()));
    page.on('response', (r) => r.status() >= 400 && pageErrors.push(`${r.status()} ${r.url()}`));

    await page.goto(`http://127.0.0.1:${bridge.httpPort}/ui`);
    await page.locator('#login-view').waitFor();

    // A wrong token is refused readably; the right one opens the console.
    await page.fill('#token', 'wrong');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error', { hasText: 'Wrong token' }).waitFor();
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.locator('#console-view').waitFor();
    await page.locator('#live', { hasText: 'live' }).waitFor();

    // A terminal comes online: its row appears live from the stream.
    terminal = await connectTerminal(bridge.brokerUrl, 'UI1');
    await terminal.send({ cmd: 'heartU' });
    await page.locator('#terminals li.online[data-sn="UI1"]').waitFor();

    // A verified face arrives live, with its thumbnail loaded.
    await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ name: 'Li Si', num: '2002', liveImageBase64: FACE })] });
    const face = page.locator('#events li.face-verified', { hasText: 'Li Si' });
    await face.waitFor();
    await face.locator('img.thumb').waitFor();
    // The thumbnail really loaded (a broken image has no natural width).
    await loaded(page, '#events li.face-verified img.thumb');

    // A command from the form; the terminal's reply shows under it, as the command's
    // reply (README §Commands with replies): the reply, its time, its latency.
    await page.selectOption('#command-sn', 'UI1');
    await page.fill('#command-cmd', 'openDoorD');
    await page.fill('#command-extra', '{"door": 1}');
    const received = terminal.next((m) => m.cmd === 'openDoorD');
    await page.click('#command button[type=submit]');
    expect(await received).toMatchObject({ cmd: 'openDoorD', door: 1 });
    const [sent] = (await bridge.api('GET', '/api/commands?device=UI1&limit=1')).json.items;
    await page.locator(`#command-sent li[data-id="${sent.id}"][data-status="published"]`).waitFor();
    await terminal.send({ cmd: 'openDoorU', code: 0, sn: 'UI1' });
    const replied = page.locator(`#command-sent li[data-id="${sent.id}"][data-status="replied"]`);
    await replied.locator('.reply pre', { hasText: '"openDoorU"' }).waitFor();
    await replied.locator('.reply .latency', { hasText: /after it went out/ }).waitFor();
    await replied.locator('.times', { hasText: /published .* · replied / }).waitFor();
    await page.locator('#command-status', { hasText: 'Reply from UI1' }).waitFor();
    // The history shows it replied, its reply under it; the live events show command.replied.
    await page.locator(`#commands li[data-id="${sent.id}"][data-status="replied"] .reply pre`, { hasText: '"openDoorU"' }).waitFor();
    await page.locator('#events li.command-replied', { hasText: 'openDoorD → ' }).waitFor();

    // A fan-out to two terminals: its items with their states, changing as the replies come.
    answering = await connectTerminal(bridge.brokerUrl, 'UI2', { answer: {} });
    await answering.send({ cmd: 'heartU' });
    await page.locator('#terminals li.online[data-sn="UI2"]').waitFor();
    await page.fill('#fanout-devices', 'UI1, UI2');
    await page.fill('#fanout-command', '{"cmd": "setParamD", "volume": 3}');
    const fannedOut = terminal.next((m) => m.cmd === 'setParamD');
    await page.click('#fanout button[type=submit]');
    expect(await fannedOut).toMatchObject({ cmd: 'setParamD', volume: 3 });
    await page.locator('#fanout-batch-id', { hasText: /^bat_/ }).waitFor();
    const batch = (await page.locator('#fanout-batch-id').textContent())!;
    expect(batch).toMatch(/^bat_/);
    // UI2 answers by itself; UI1 waits for this test.
    await page.locator('#fanout-items li[data-status="replied"]', { hasText: 'UI2' }).waitFor();
    await page.locator('#fanout-items li[data-status="published"]', { hasText: 'UI1' }).waitFor();
    await terminal.send({ cmd: 'setParamU', code: 0, sn: 'UI1' });
    await page.locator('#fanout-items li[data-status="replied"]', { hasText: 'UI1' }).waitFor();
    await page.locator('#fanout-counts', { hasText: '2 commands: 2 replied' }).waitFor();

    // A command held (ttl) for a terminal the bridge knows but that does not listen on its downLink
    // (README §Commands with replies): queued, then replied once the terminal is there.
    const sender = await mqtt.connectAsync(bridge.brokerUrl, { clientId: 'UI3-sender' });
    await sender.publishAsync(UPLINK.topicOf('UI3'), JSON.stringify({ cmd: 'heartU' }), { qos: 1 });
    await sender.endAsync();
    await page.locator('#terminals li[data-sn="UI3"]').waitFor();
    await page.selectOption('#command-sn', 'UI3');
    await page.fill('#command-cmd', 'openDoorD');
    await page.fill('#command-extra', '');
    await page.fill('#command-ttl', '1h');
    await page.click('#command button[type=submit]');
    await page.locator('#command-sent li[data-status="queued"]', { hasText: 'UI3' }).waitFor();
    await page.locator('#command-sent li .times', { hasText: /expires / }).waitFor();
    const back = await connectTerminal(bridge.brokerUrl, 'UI3', { answer: {} });
    try {
      await back.send({ cmd: 'heartU' });
      await page.locator('#command-sent li[data-status="replied"] .reply pre', { hasText: '"openDoorU"' }).waitFor();
    } finally {
      await back.end();
    }
    await page.fill('#command-ttl', '');

    // The history filtered by the batch, then by a state none of its commands is in.
    await page.fill('#commands-batch', batch);
    await page.click('#commands-filter button[type=submit]');
    await page.locator('#commands li[data-status="replied"]', { hasText: 'UI2' }).waitFor();
    // The command of the form is in no batch: gone from the list, which holds the batch's two.
    await page.locator(`#commands li[data-id="${sent.id}"]`).waitFor({ state: 'detached' });
    expect(await page.locator('#commands li', { hasText: batch }).count()).toBe(2);
    expect(await page.locator('#commands li').count()).toBe(2);
    await page.selectOption('#commands-status', 'failed');
    await page.locator('#commands-empty').waitFor();
    await page.fill('#commands-batch', '');
    await page.selectOption('#commands-status', '');

    // The failing receiver made the face event's delivery dead: it shows with a Retry button.
    const dead = page.locator('#deliveries li.dead', { hasText: 'face.verified' });
    await dead.waitFor({ timeout: 20_000 });
    await page.screenshot({ path: new URL('console-laptop.png', OUTPUT).pathname, fullPage: false });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: new URL('console-phone.png', OUTPUT).pathname, fullPage: true });
    await page.setViewportSize({ width: 1366, height: 768 });

    receiver.script(() => ({ status: 200 }));
    const before = receiver.requests.length;
    await dead.locator('button.retry').click();
    await dead.waitFor({ state: 'detached' });
    const delivered = await receiver.received(before + 1);
    expect(delivered.at(-1)!.json).toMatchObject({ type: 'face.verified', name: 'Li Si' });
    await page.click('.tab[data-status="delivered"]');
    await page.locator('#deliveries li.delivered', { hasText: 'face.verified' }).waitFor();

    // A DingTalk robot added with the form answers a test message, shown under its endpoint.
    const robot = await startChatReceiver('dingtalk', { secret: 'SECconsole-robot-secret' });
    try {
      await page.fill('#endpoint-url', robot.url);
      await page.selectOption('#endpoint-format', 'dingtalk');
      await page.fill('#endpoint-secret', 'SECconsole-robot-secret');
      await page.click('#endpoint button[type=submit]');
      const endpoint = page.locator('#endpoints li', { hasText: 'dingtalk · zh-CN' });
      await endpoint.locator('button.test').click();
      await endpoint.locator('.test-answer.ok', { hasText: 'ok · HTTP 200 · code 0' }).waitFor();
      expect(robot.accepted).toEqual([expect.stringMatching(/^facegate · 测试消息\n/)]);
    } finally {
      await robot.close();
    }

    // Bad extra JSON is refused in the page.
    await page.fill('#command-extra', '{nope');
    await page.click('#command button[type=submit]');
    await page.locator('#command-status.error', { hasText: 'Extra fields' }).waitFor();

    // Logging out brings back the login form.
    await page.click('#logout button');
    await page.locator('#login-view').waitFor();
    expect((await bridge.api('GET', '/api/session', undefined, { token: null })).status).toBe(401);

    expect(pageErrors.filter((e) => !/401/.test(e))).toEqual([]);
  });

  it('lists terminals a page at a time, with a button for the next page', async () => {
    const serials = Array.from({ length: 130 }, (_, i) => `T${String(i).padStart(3, '0')}`);
    const many = await startBridge({ DEVICES: serials.join(',') });
    try {
      await page.goto(`http://127.0.0.1:${many.httpPort}/ui`);
      await page.locator('#login-view').waitFor();
      await page.fill('#token', TOKEN);
      await page.click('#login button[type=submit]');
      await page.locator('#terminals li[data-sn="T099"]').waitFor();
      expect(await page.locator('#terminals li').count()).toBe(100);
      await page.click('#terminals-more');
      await page.locator('#terminals li[data-sn="T129"]').waitFor();
      expect(await page.locator('#terminals li').evaluateAll((items) => items.map((li) => li.getAttribute('data-sn')))).toEqual(serials);
      await page.locator('#terminals-more').waitFor({ state: 'hidden' });
    } finally {
      // Otherwise the page's live stream is open, and reconnecting, while the bridge stops (the first test logs out).
      await page.goto('about:blank');
      // Cookies do not tell ports apart: this session would open the next test's console on the other bridge.
      await page.context().clearCookies();
      await many.stop();
    }
  });

  it('fills the event list past a page cut short at 4 MB, and shows an event too large to list with a link to all of it', async () => {
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    terminal ??= await connectTerminal(bridge.brokerUrl, 'UI1');
    // Messages just under the size lists show in full: a page of 100 of them would be over 4 MB.
    const filler = 'f'.repeat(SHOWN_BYTES - 2000);
    for (let i = 0; i < 110; i++) await terminal.send({ cmd: 'logU', i, filler });
    await terminal.send({ cmd: 'dumpU', big: 'b'.repeat(SHOWN_BYTES * 2) });
    // Stored before its PUBACK: the newest event.
    const big = bridge.stored.at(-1)!;
    expect(big.type).toBe('device.message');

    const first = await bridge.api('GET', '/api/events?limit=100');
    expect(first.json.items.length).toBeLessThan(100);
    expect(first.json.next_cursor).not.toBeNull();

    const lists: string[] = [];
    page.on('request', (request) => request.url().includes('/api/events?') && lists.push(request.url()));
    await page.goto(`http://127.0.0.1:${bridge.httpPort}/ui`);
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.locator('#console-view').waitFor();
    // A locator's wait runs outside the page's scripts (its CSP refuses eval).
    await page.locator('#events li').nth(99).waitFor();
    expect(await page.locator('#events li').count()).toBe(100);
    // The first page was short: the console went on with its next_cursor.
    expect(lists.length).toBeGreaterThanOrEqual(2);
    expect(lists[1]).toContain(`cursor=${first.json.next_cursor}`);

    const item = page.locator(`#events li[data-id="${big.id}"]`);
    await item.locator('.what', { hasText: /message of 128 KB, not shown here/ }).waitFor();
    const href = await item.locator('a.whole').getAttribute('href');
    expect(href).toBe(`/api/events/${big.id}`);
    // The link gives the whole event, with the console's session.
    const whole = (await page.evaluate(async (url) => (await fetch(url)).json(), href!)) as { message: { big: string } };
    expect(whole.message.big).toHaveLength(SHOWN_BYTES * 2);
    expect(pageErrors).toEqual([]);
  });

  it('enrols a person a terminal refuses, retries them once it accepts, and shows hostile text as text', async () => {
    // People and rejected messages: an enrolment a terminal refuses, retried once it accepts;
    // a name and a message made of markup, shown as text.
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const own = await startBridge();
    let refusing: Terminal | undefined;
    let accepting: Terminal | undefined;
    try {
      // The session of the test before (cookies do not tell ports apart) would open this console without a login.
      await page.context().clearCookies();
      await page.goto(`http://127.0.0.1:${own.httpPort}/ui`);
      await page.locator('#login-view').waitFor();
      await page.fill('#token', TOKEN);
      await page.click('#login button[type=submit]');
      await page.locator('#live', { hasText: 'live' }).waitFor();
      refusing = await connectTerminal(own.brokerUrl, 'UP1', { answer: { personFailures: 1 } });
      await refusing.send({ cmd: 'heartU' });
      await page.locator('#terminals li.online[data-sn="UP1"]').waitFor();

      // A name that would be markup if it were inserted as HTML.
      const hostile = '<img src=x onerror="document.title=\'owned\'">';
      await page.fill('#person-num', '7001');
      await page.fill('#person-name', hostile);
      await page.setInputFiles('#person-photo', { name: 'face.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(FACE, 'base64') });
      await page.uncheck('#person-all');
      await page.fill('#person-devices', 'UP1');
      await page.click('#person-form button[type=submit]');

      // Refused by the terminal: failed, with the code and message it answered.
      const row = page.locator('#person-detail li[data-sn="UP1"]');
      await page.locator('#person-detail li[data-sn="UP1"][data-status="failed"]').waitFor();
      expect(await row.locator('.refusal').textContent()).toBe(`code ${PERSON_CODES.badPhoto} · bad photo`);
      const listed = page.locator('#people li[data-num="7001"]');
      await listed.locator('.counts', { hasText: '1 failed' }).waitFor();
      expect(await listed.locator('.name').textContent()).toBe(hostile);
      expect(await page.locator('#person-detail .name').textContent()).toBe(hostile);
      expect(await page.locator('img[src="x"]').count()).toBe(0);
      // The thumbnail came through the photo route with the session.
      await loaded(page, '#people li[data-num="7001"] img.thumb');

      // The terminal now accepts: Retry sends it again, and the view follows to applied.
      await refusing.end();
      refusing = undefined;
      accepting = await connectTerminal(own.brokerUrl, 'UP1', { answer: {} });
      await accepting.send({ cmd: 'heartU' });
      await row.locator('button.retry').click();
      await page.locator('#person-detail li[data-sn="UP1"][data-status="applied"]').waitFor();
      await listed.locator('.counts', { hasText: '1 applied' }).waitFor();
      expect(accepting.roster().get('7001')?.name).toBe(hostile);

      // A message that is no JSON, and markup: listed among the rejects as text.
      const garbage = '<script>document.title="owned"</script><img src=x onerror=alert(1)> {not json';
      await accepting.send(garbage);
      await until(async () => (await own.api('GET', '/api/rejects?device=UP1')).json.items[0]);
      await page.fill('#rejects-device', 'UP1');
      await page.click('#rejects-filter button[type=submit]');
      const reject = page.locator('#rejects li', { hasText: 'not_json' });
      await reject.waitFor();
      expect(await reject.locator('pre.sample').textContent()).toBe(garbage);
      expect(await page.locator('#rejects img, #rejects script').count()).toBe(0);
      expect(await page.title()).toBe('facegate console');
      expect(pageErrors).toEqual([]);
    } finally {
      await page.goto('about:blank');
      await page.context().clearCookies();
      await refusing?.end();
      await accepting?.end();
      await own.stop();
    }
  });
  it("speaks the browser's language, switches and remembers it, shows times in the site's zone, and passes axe in both themes", async () => {
    const base = `http://127.0.0.1:${bridge.httpPort}`;
    const info = (await bridge.api('GET', '/api/info')).json as { time_zone: string; utc_offset: string };
    // A browser in another zone than the site's: the times shown must be the site's.
    const browserZone = info.time_zone === 'America/New_York' ? 'Asia/Tokyo' : 'America/New_York';
    const viewport = { width: 1366, height: 768 };
    const zh = await browser.newContext({ locale: 'zh-CN', timezoneId: browserZone, viewport, colorScheme: 'light' });
    const en = await browser.newContext({ locale: 'en-US', timezoneId: browserZone, viewport, colorScheme: 'light' });
    // The receiver takes every delivery: no delivery.dead comes while the live list is paused below, only the face sent then.
    receiver.script(() => ({ status: 200 }));
    const pageErrors: string[] = [];
    const watch = (p: Page) => {
      p.on('pageerror', (err) => pageErrors.push(err.message));
      p.on('console', (msg) => msg.type() === 'error' && !/401/.test(msg.text()) && pageErrors.push(msg.text()));
    };
    const signIn = async (p: Page, live: string) => {
      await p.fill('#token', TOKEN);
      await p.click('#login button[type=submit]');
      await p.locator('#live', { hasText: live }).waitFor();
    };
    try {
      // Chinese, from the browser's locale, before and after the login.
      const page = await zh.newPage();
      watch(page);
      await page.goto(`${base}/ui`);
      await page.locator('#login h2', { hasText: '登录' }).waitFor();
      expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
      await page.fill('#token', 'wrong');
      await page.click('#login button[type=submit]');
      await page.locator('#login-error', { hasText: '令牌错误' }).waitFor();
      await signIn(page, '实时');
      await page.locator('#terminals-title', { hasText: '门禁终端' }).waitFor();
      await page.locator('#zone', { hasText: `${info.time_zone}（UTC${info.utc_offset}）` }).waitFor();
      expect(await page.title()).toBe('facegate 控制台');

      // A face arrives: its type in words, its time in the site's zone.
      terminal ??= await connectTerminal(bridge.brokerUrl, 'UI1');
      await terminal.send({ cmd: 'heartU' });
      await page.locator('#terminals li.online[data-sn="UI1"] .state', { hasText: '在线' }).waitFor();
      await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ name: '王五', num: '3003', liveImageBase64: FACE })] });
      const face = page.locator('#events li.face-verified', { hasText: '王五' });
      await face.locator('.badge', { hasText: '人脸通过' }).waitFor();
      const { received_at } = (await bridge.api('GET', `/api/events/${await face.getAttribute('data-id')}`)).json;
      const shown = (zone: string) =>
        new Intl.DateTimeFormat('zh-CN', { dateStyle: 'short', timeStyle: 'medium', timeZone: zone }).format(new Date(received_at));
      expect(shown(info.time_zone)).not.toBe(shown(browserZone));
      expect(await face.locator('.body > .muted.small').textContent()).toBe(shown(info.time_zone));

      // Paused, the list holds still and counts what comes; resumed, it shows it.
      await page.click('#events-pause');
      expect(await page.getAttribute('#events-pause', 'aria-pressed')).toBe('true');
      await page.locator('#events-pause', { hasText: '继续' }).waitFor();
      await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ name: '赵六', num: '3004', liveImageBase64: FACE })] });
      await page.locator('#events-held', { hasText: '期间到达 1 条事件' }).waitFor();
      expect(await page.locator('#events li', { hasText: '赵六' }).count()).toBe(0);
      await page.click('#events-pause');
      await page.locator('#events li.face-verified', { hasText: '赵六' }).waitFor();
      await page.locator('#events-held', { hasText: '暂停期间到达 1 条事件' }).waitFor();
      expect(await page.getAttribute('#events-pause', 'aria-pressed')).toBe('false');

      // The deliveries' states are tabs (WAI-ARIA APG): arrows, Home and End move, one tab in the Tab order.
      const selected = () => page.locator('#deliveries-card [role="tab"][aria-selected="true"]').getAttribute('id');
      const focused = () => page.evaluate('document.activeElement.id');
      await page.focus('#tab-dead');
      await page.keyboard.press('ArrowRight');
      expect([await selected(), await focused()]).toEqual(['tab-pending', 'tab-pending']);
      expect(await page.locator('#deliveries-card [role="tab"][tabindex="0"]').getAttribute('id')).toBe('tab-pending');
      expect(await page.getAttribute('#deliveries-panel', 'aria-labelledby')).toBe('tab-pending');
      await page.keyboard.press('End');
      expect([await selected(), await focused()]).toEqual(['tab-delivered', 'tab-delivered']);
      await page.keyboard.press('ArrowRight');
      expect([await selected(), await focused()]).toEqual(['tab-dead', 'tab-dead']);
      await page.keyboard.press('ArrowLeft');
      expect(await selected()).toBe('tab-delivered');
      await page.keyboard.press('Home');
      expect([await selected(), await focused()]).toEqual(['tab-dead', 'tab-dead']);

      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: new URL('console-zh-CN.png', OUTPUT).pathname });
      expect(await axeViolations(page)).toEqual([]);
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: new URL('console-zh-CN-dark.png', OUTPUT).pathname });
      expect(await axeViolations(page)).toEqual([]);
      await page.emulateMedia({ colorScheme: 'light' });

      // The switch: English at once, <html lang> with it, and remembered over the browser's Chinese.
      await page.selectOption('#lang', 'en');
      expect(await page.getAttribute('html', 'lang')).toBe('en');
      await page.locator('#terminals-title', { hasText: 'Terminals' }).waitFor();
      await face.locator('.badge', { hasText: 'face verified' }).waitFor();
      await page.reload();
      await page.locator('#live', { hasText: 'live' }).waitFor();
      expect(await page.getAttribute('html', 'lang')).toBe('en');

      // English, from the browser's locale.
      const english = await en.newPage();
      watch(english);
      await english.goto(`${base}/ui`);
      await english.locator('#login h2', { hasText: 'Sign in' }).waitFor();
      expect(await english.getAttribute('html', 'lang')).toBe('en');
      await signIn(english, 'live');
      await english.locator('#events li.face-verified .badge', { hasText: 'face verified' }).first().waitFor();
      await english.locator('#zone', { hasText: `Time zone ${info.time_zone}` }).waitFor();
      await english.screenshot({ path: new URL('console-en.png', OUTPUT).pathname });
      expect(await axeViolations(english)).toEqual([]);
      await english.emulateMedia({ colorScheme: 'dark' });
      expect(await axeViolations(english)).toEqual([]);
      expect(pageErrors).toEqual([]);
    } finally {
      await zh.close();
      await en.close();
    }
  });

  it("offers a viewer no command, and shows the API's 403 as text when one is sent anyway", async () => {
    const made = await bridge.api('POST', '/api/tokens', { name: 'guard-desk', role: 'viewer' });
    expect(made.status).toBe(201);
    const secret: string = made.json.token;
    // The API refuses it, whatever the console offers.
    const refused = await bridge.api('POST', '/api/devices/UI1/commands', { cmd: 'openDoorD' }, { token: secret });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('forbidden');
    const commands = async () => (await bridge.api('GET', '/api/commands?device=UI1&limit=100')).json.items.length;
    const before = await commands();

    const context: BrowserContext = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 768 } });
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${bridge.httpPort}/ui`);
      await page.fill('#token', secret);
      await page.click('#login button[type=submit]');
      await page.locator('#live', { hasText: 'live' }).waitFor();
      await page.locator('#whoami', { hasText: 'guard-desk (viewer)' }).waitFor();
      // The forms that change things are off, each saying the role it needs.
      for (const form of ['#command', '#fanout', '#person-form', '#endpoint'])
        expect(await page.locator(`${form} button[type=submit]`).isDisabled()).toBe(true);
      expect(await page.locator('#command-role').textContent()).toBe('Needs the operator role; this token is viewer.');
      expect(await page.locator('#endpoint-role').textContent()).toBe('Needs the admin role; this token is viewer.');
      expect(await page.locator('#endpoints button, #deliveries button.retry').count()).toBe(0);

      // Sent anyway (the form switched on by hand): the 403 shows as text, its code with it; nothing is sent.
      const force = "for (const el of document.getElementById('command').elements) el.disabled = false";
      await page.evaluate(force);
      await page.selectOption('#command-sn', 'UI1');
      await page.click('#command button[type=submit]');
      await page.locator('#command-status.error', { hasText: 'Not allowed' }).waitFor();
      expect(await page.locator('#command-status').textContent()).toMatch(/^Not sent: Not allowed: .*\(forbidden, HTTP 403\)$/);
      await page.selectOption('#lang', 'zh-CN');
      expect(await page.locator('#command-role').textContent()).toBe('需要操作员权限，当前令牌为只读。');
      await page.evaluate(force);
      await page.click('#command button[type=submit]');
      await page.locator('#command-status.error', { hasText: '未发送：权限不足' }).waitFor();
      expect(await page.locator('#command-status').textContent()).toContain('（forbidden，HTTP 403）');
      expect(await commands()).toBe(before);
    } finally {
      await context.close();
    }
  });
});
