import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §HTTP API, errors: U+0000 in any input is refused with a 400 naming
// where it is. PostgreSQL's text cannot hold it, so without the rule a name
// with a NUL was a 500 there and stored on SQLite: one answer for both engines.

let b: TestBridge;

beforeAll(async () => {
  b = await startBridge({ DEVICES: 'NUL1' });
});

afterAll(async () => {
  await b?.stop();
});

const NUL = 'a\u0000b';

it.each([
  ['a token name', 'POST', '/api/tokens', { name: NUL, role: 'viewer' }, 'name'],
  ["a person's name", 'PUT', '/api/people/1', { name: NUL }, 'name'],
  ["a terminal's label", 'PUT', '/api/devices/NUL1/label', { label: NUL }, 'label'],
  ["an endpoint's URL", 'POST', '/api/webhooks', { url: `http://127.0.0.1:9/${NUL}` }, 'url'],
  ['a string deep in a command', 'POST', '/api/devices/NUL1/commands', { cmd: 'setD', data: [{ text: NUL }] }, 'data.0.text'],
  ['a key of a command', 'POST', '/api/devices/NUL1/commands', { cmd: 'setD', [NUL]: 1 }, NUL],
  ['a query parameter', 'GET', `/api/events?device=${encodeURIComponent(NUL)}`, undefined, 'device'],
  ['a path parameter', 'GET', `/api/events/${encodeURIComponent(NUL)}`, undefined, 'id'],
] as const)('refuses U+0000 in %s with a 400 naming it, and stores nothing', async (_what, method, path, body, where) => {
  const stored = () => ['commands', 'tokens', 'endpoints', 'people'].map((table) => b.count(table));
  const before = stored();
  const answer = await b.api(method, path, body);
  expect(answer.status, answer.text).toBe(400);
  expect(answer.json.error.code).toBe('invalid_request');
  expect(answer.json.error.message).toContain('U+0000');
  expect(answer.json.error.message).toContain(JSON.stringify(where));
  expect(stored()).toEqual(before);
});

it('still takes the escaped text of a NUL, a backslash then u0000', async () => {
  const answer = await b.api('PUT', '/api/devices/NUL1/label', { label: 'a\\u0000b' });
  expect(answer.status, answer.text).toBe(200);
  expect(answer.json.label).toBe('a\\u0000b');
});

it("stores a terminal's record whose person number holds a NUL, whole, with no person", async () => {
  const terminal = await connectTerminal(b.brokerUrl, 'NUL1');
  try {
    // Stored before its PUBACK.
    await terminal.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: NUL, name: NUL })] });
    const [event] = await b.eventsStored(1, (e) => e.type === 'face.verified');
    const listed = (await b.api('GET', `/api/events/${event.id}`)).json;
    expect(listed).toMatchObject({ user_id: NUL, name: NUL });
    expect(b.rows('select person from events where id = ?', event.id)).toEqual([{ person: null }]);
  } finally {
    await terminal.stop(0);
  }
});

it('answers a NUL nested 10,000 deep with a 400, not a stack overflow', async () => {
  const deep = `{"cmd":"setD","x":${'['.repeat(10_000)}"\\u0000"${']'.repeat(10_000)}}`;
  const answer = await b.api('POST', '/api/devices/NUL1/commands', deep);
  expect(answer.status, answer.text).toBe(400);
  expect(answer.json.error.code).toBe('invalid_request');
});
