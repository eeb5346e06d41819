import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { openStream } from '../support/sse.ts';

let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
});

async function login(b: TestBridge, token: string) {
  return fetch(`http://127.0.0.1:${b.httpPort}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
}

describe('console session', () => {
  it('turns the admin token into an HttpOnly, SameSite=Strict cookie that opens the API', async () => {
    const b = await startBridge();
    bridge = b;
    const res = await login(b, TOKEN);
    expect(res.status).toBe(204);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^facegate_session=\d+\.admin\.[\w-]+;/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
    const session = cookie.split(';')[0];
    expect((await b.api('GET', '/api/devices', undefined, { token: null, headers: { cookie: session } })).status).toBe(200);
    expect((await b.api('GET', '/api/session', undefined, { token: null, headers: { cookie: session } })).json).toEqual({
      authenticated: true,
      name: 'admin',
      role: 'admin',
    });
  });

  it('refuses a wrong token, a tampered cookie and no cookie', async () => {
    const b = await startBridge();
    bridge = b;
    expect((await login(b, 'wrong-token-wrong-token')).status).toBe(401);
    const session = (await login(b, TOKEN)).headers.get('set-cookie')!.split(';')[0];
    const tampered = session.replace(/=(\d+)\./, (_m, issued) => `=${Number(issued) + 1}.`);
    expect((await b.api('GET', '/api/devices', undefined, { token: null, headers: { cookie: tampered } })).status).toBe(401);
    expect((await b.api('GET', '/api/devices', undefined, { token: null })).status).toBe(401);
  });

  it("takes a change made with the cookie only with the console's header, which a form from another port cannot send", async () => {
    const b = await startBridge();
    bridge = b;
    const cookie = (await login(b, TOKEN)).headers.get('set-cookie')!.split(';')[0];
    // What a page on another port of the same host can make a browser send: same site, so the cookie goes along.
    const form = (path: string, body: string) =>
      b.api('POST', path, body, { token: null, headers: { cookie, 'content-type': 'text/plain', origin: 'http://127.0.0.1:8080' } });
    const forged = await form('/api/webhooks', '{"url":"http://127.0.0.1:9/steal","pad":"="}');
    expect(forged.status).toBe(403);
    expect(forged.json.error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/x-facegate-console/) });
    expect((await form('/', '{"cmd":"openDoorD","pad":"="}')).status).toBe(403);
    expect((await b.api('GET', '/api/webhooks', undefined, { token: null, headers: { cookie } })).json.items).toEqual([]);
    // The console sends the header; scripts with the bearer token need none.
    const console = await b.api(
      'POST',
      '/api/webhooks',
      { url: 'http://127.0.0.1:9/console' },
      { token: null, headers: { cookie, 'x-facegate-console': '1' } },
    );
    expect(console.status).toBe(201);
    expect((await b.api('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/script' })).status).toBe(201);
  });

  it('ends the live streams when the token changes: a leaked token or session stops streaming with it', async () => {
    // The generated token, kept in DATA_DIR: the one a rotation replaces.
    const b = await startBridge({ ADMIN_TOKEN: '' });
    bridge = b;
    const file = join(b.dataDir, 'admin-token');
    const old = readFileSync(file, 'utf8').trim();
    const stream = await openStream(`http://127.0.0.1:${b.httpPort}/api/stream`, { authorization: `Bearer ${old}` });
    expect(stream.status).toBe(200);
    writeFileSync(file, 'a-new-token-after-the-leak-0123456789\n');
    expect(b.facegate.reloadToken()).toBe(true);
    await stream.ended;
    const again = await fetch(`http://127.0.0.1:${b.httpPort}/api/stream`, { headers: { authorization: `Bearer ${old}` } });
    expect(again.status).toBe(401);
  });

  it('keeps the token it has when SIGHUP finds the token file short, missing or unreadable', async () => {
    const b = await startBridge({ ADMIN_TOKEN: '' });
    bridge = b;
    const file = join(b.dataDir, 'admin-token');
    const old = readFileSync(file, 'utf8').trim();
    const status = async () => (await b.api('GET', '/api/devices', undefined, { token: old })).status;
    writeFileSync(file, 'short\n');
    expect(b.facegate.reloadToken()).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('short\n');
    expect(await status()).toBe(200);
    rmSync(file);
    mkdirSync(file); // read as a file: EISDIR
    expect(b.facegate.reloadToken()).toBe(false);
    expect(await status()).toBe(200);
    rmSync(file, { recursive: true });
    expect(b.facegate.reloadToken()).toBe(false);
    expect(existsSync(file)).toBe(false);
    expect(await status()).toBe(200);
    expect(b.logLines.filter((line) => line.includes('admin token not reloaded')).length).toBe(3);
  });

  it('accepts the login form and redirects to the console', async () => {
    const b = await startBridge();
    bridge = b;
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: TOKEN }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui');
    expect(res.headers.get('set-cookie')).toMatch(/^facegate_session=/);
  });

  it('sends no CORS headers: another site cannot read the API from a browser', async () => {
    const b = await startBridge();
    bridge = b;
    const preflight = await fetch(`http://127.0.0.1:${b.httpPort}/api/devices`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const res = await b.api('GET', '/api/devices', undefined, { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('logs out by clearing the cookie and ending the session, so a copy of the cookie is no use either', async () => {
    const b = await startBridge();
    bridge = b;
    const cookie = (await login(b, TOKEN)).headers.get('set-cookie')!.split(';')[0];
    // A second console's cookie: issued in another millisecond, so another cookie.
    let other = cookie;
    while (other === cookie) other = (await login(b, TOKEN)).headers.get('set-cookie')!.split(';')[0];
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/ui/logout`, { method: 'POST', headers: { cookie } });
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/^facegate_session=;.*Max-Age=0/);
    expect((await b.api('GET', '/api/devices', undefined, { token: null, headers: { cookie } })).status).toBe(401);
    // Another console, logged in on its own, stays in.
    expect((await b.api('GET', '/api/devices', undefined, { token: null, headers: { cookie: other } })).status).toBe(200);
  });

  it('takes only the cookie exactly as issued: a logged-out session does not come back with a suffix or a leading zero', async () => {
    const b = await startBridge();
    bridge = b;
    const cookie = (await login(b, TOKEN)).headers.get('set-cookie')!.split(';')[0];
    const value = cookie.slice('facegate_session='.length);
    await fetch(`http://127.0.0.1:${b.httpPort}/ui/logout`, { method: 'POST', headers: { cookie } });
    for (const variant of [`${value}.x`, `0${value}`, `${value}.`, `+${value}`, `${value.replace('.', '.0')}`]) {
      const answer = await b.api('GET', '/api/devices', undefined, { token: null, headers: { cookie: `facegate_session=${variant}` } });
      expect(answer.status, variant).toBe(401);
    }
  });
});
