import { afterEach, describe, expect, it } from 'vitest';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Tokens and roles: named tokens with roles beside the admin token,
// checked on every route and on the console's session; every command and
// people change records who made it.

let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.stop(0)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
});

async function made(b: TestBridge, name: string, role: string): Promise<string> {
  const answer = await b.api('POST', '/api/tokens', { name, role });
  expect(answer.status, answer.text).toBe(201);
  expect(answer.json).toMatchObject({ id: expect.stringMatching(/^tok_/), name, role, token: expect.stringMatching(/^fgt_/) });
  return answer.json.token;
}

describe('named tokens', () => {
  it('are made once-shown and stored hashed, checked by role on every route, name their actor, and stop working once revoked', async () => {
    const b = (bridge = await startBridge());
    const t = await connectTerminal(b.brokerUrl, 'TOK1', { answer: {} });
    terminals.push(t);
    const heard = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' }, 0);
    await heard;
    const viewer = await made(b, 'guard-desk', 'viewer');
    const operator = await made(b, 'integrator', 'operator');
    expect((await b.api('POST', '/api/tokens', { name: 'guard-desk', role: 'admin' })).status).toBe(409);
    expect((await b.api('POST', '/api/tokens', { name: 'admin', role: 'viewer' })).status).toBe(409);
    expect((await b.api('POST', '/api/tokens', { name: 'x', role: 'root' })).json.error.code).toBe('invalid_request');
    // The store keeps a hash: no secret is in it.
    expect(b.count('tokens', 'hash = ? or hash = ?', viewer, operator)).toBe(0);
    expect(b.count('tokens')).toBe(2);
    const listed = (await b.api('GET', '/api/tokens')).json.items;
    expect(listed.map((item: { name: string }) => item.name).sort()).toEqual(['guard-desk', 'integrator']);
    expect(JSON.stringify(listed)).not.toContain('fgt_');

    // A viewer reads, and may not change anything.
    expect((await b.api('GET', '/api/devices', undefined, { token: viewer })).status).toBe(200);
    expect((await b.api('GET', '/api/session', undefined, { token: viewer })).json).toEqual({ authenticated: true, name: 'guard-desk', role: 'viewer' });
    for (const [method, path, body] of [
      ['POST', '/api/devices/TOK1/commands', { cmd: 'openDoorD' }],
      ['POST', '/api/commands', { devices: 'all', command: { cmd: 'openDoorD' } }],
      ['PUT', '/api/people/1', { name: 'A' }],
      ['POST', '/api/webhooks', { url: 'http://127.0.0.1:9/x' }],
      ['GET', '/api/tokens', undefined],
    ] as const) {
      const refused = await b.api(method, path, body, { token: viewer });
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.json.error).toMatchObject({
        code: 'forbidden',
        message: expect.stringMatching(/^the viewer role may not do this: it needs (operator|admin)/),
      });
    }
    expect(t.received.filter((m) => m.cmd === 'openDoorD')).toEqual([]);

    // An operator sends commands and changes people, and is named as their actor; not an admin's erase or token.
    const sent = await b.api('POST', '/api/devices/TOK1/commands?wait=5s', { cmd: 'openDoorD' }, { token: operator });
    expect(sent.status, sent.text).toBe(200);
    expect((await b.api('GET', `/api/commands/${sent.json.id}`)).json.actor).toBe('integrator');
    expect((await b.api('PUT', '/api/people/7', { name: 'Li Lei' }, { token: operator })).status).toBe(202);
    expect((await b.api('GET', '/api/people/7')).json.actor).toBe('integrator');
    expect((await b.api('DELETE', '/api/people/7?erase=true', undefined, { token: operator })).status).toBe(403);
    expect((await b.api('POST', '/api/tokens', { name: 'more', role: 'admin' }, { token: operator })).status).toBe(403);
    const byAdmin = await b.api('POST', '/api/devices/TOK1/commands', { cmd: 'openDoorD' });
    expect((await b.api('GET', `/api/commands/${byAdmin.json.id}`)).json.actor).toBe('admin');

    // Revoked: refused at once.
    const id = listed.find((item: { name: string }) => item.name === 'guard-desk').id;
    expect((await b.api('DELETE', `/api/tokens/${id}`)).status).toBe(204);
    expect((await b.api('GET', '/api/devices', undefined, { token: viewer })).status).toBe(401);
    expect((await b.api('DELETE', `/api/tokens/${id}`)).status).toBe(404);
  });

  it('log in to the console with their role, and the session ends with the token', async () => {
    const b = (bridge = await startBridge());
    const viewer = await made(b, 'night-guard', 'viewer');
    const login = await fetch(`http://127.0.0.1:${b.httpPort}/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: viewer }),
    });
    expect(login.status).toBe(204);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const asConsole = { cookie, 'x-facegate-console': '1' };
    expect((await b.api('GET', '/api/session', undefined, { token: null, headers: asConsole })).json).toMatchObject({ name: 'night-guard', role: 'viewer' });
    expect((await b.api('PUT', '/api/people/8', { name: 'B' }, { token: null, headers: asConsole })).status).toBe(403);
    // A cookie claiming to be the admin's with the viewer's signature is no session.
    const forged = cookie.replace(/=(\d+)\.tok_[^.]+\./, '=$1.admin.');
    expect((await b.api('GET', '/api/session', undefined, { token: null, headers: { cookie: forged } })).status).toBe(401);

    const id = (await b.api('GET', '/api/tokens')).json.items[0].id;
    await b.api('DELETE', `/api/tokens/${id}`);
    expect((await b.api('GET', '/api/session', undefined, { token: null, headers: asConsole })).status).toBe(401);
  });

  it('are kept across a restart', async () => {
    const first = await startBridge();
    const operator = await made(first, 'kept', 'operator');
    await first.stop({ keepData: true });
    const b = (bridge = await startBridge({}, first.dataDir));
    expect(b.count('tokens')).toBe(1);
    expect((await b.api('GET', '/api/session', undefined, { token: operator })).json).toMatchObject({ name: 'kept', role: 'operator' });
  });
});
