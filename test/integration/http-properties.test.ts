import fc from 'fast-check';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandSchema } from '../../src/commands/commands.ts';
import type { StoredEvent } from '../../src/events/events.ts';
import { EVENT_TYPES } from '../../src/events/events.ts';
import { CommandListQuery } from '../../src/http/commands.ts';
import { DeliveryListQuery } from '../../src/http/deliveries.ts';
import { DeviceListQuery } from '../../src/http/devices.ts';
import { EventFilter, EventListQuery } from '../../src/http/events.ts';
import { Login } from '../../src/http/session.ts';
import { EndpointSchema, RedeliverSchema } from '../../src/http/webhooks.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { withoutPassword } from '../../src/lib/secrets.ts';
import { isSerial } from '../../src/protocol/serial.ts';
import { readAnswer, startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';
import { openStream } from '../support/sse.ts';

// Property tests of every HTTP body and query-string schema against one real
// bridge: whatever the schema's contract allows is accepted and reflected,
// whatever breaks it in one way is a 4xx of the documented shape naming the
// reason, and the bridge stays healthy. fuzz.test.ts throws random bytes at
// the same routes; these generate values from the contract itself.

const SERIALS = ['P0', 'P1', 'P2', 'P3'];
/** Listed in DEVICES, never connected: the bridge knows it, the broker has no subscriber for it. */
const OFFLINE = 'GONE1';
const BODY_LIMIT = 16 * 1024;
/** Keys valibot never copies onto an object it passes on. */
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded'];

let b: TestBridge;
let receiver: Receiver;
let refuser: Receiver;
let terminals: Terminal[] = [];
/** Every event of the run: the terminals are silent once seeded, so this is the whole table. */
let events: StoredEvent[] = [];
/** The endpoint redelivered to: its receiver takes everything. */
let hookId: string;
const HOOK_TYPES = ['face.stranger', 'device.online'];
/** An endpoint whose receiver refuses everything: its deliveries are dead. */
let deadHookId: string;

beforeAll(async () => {
  receiver = await startReceiver();
  refuser = await startReceiver(() => ({ status: 500 }));
  b = await startBridge({
    DEVICES: [...SERIALS, OFFLINE].join(','),
    DEFAULT_DEVICE: SERIALS[0],
    // Hundreds of commands per terminal in a few seconds: the rate limit has tests of its own.
    COMMAND_RATE: '1000000/s',
    BODY_LIMIT: `${BODY_LIMIT}`,
    // One quick retry, then dead: a refused delivery settles within milliseconds.
    DELIVERY_SCHEDULE: '1ms',
    LOG_LEVEL: 'warn',
  });
  terminals = await Promise.all(SERIALS.map((sn) => connectTerminal(b.brokerUrl, sn)));
  for (const [i, t] of terminals.entries()) {
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `${i}01` }), verifiedRecord({ num: `${i}02`, verifiedCode: 1 })] });
    await t.send({ cmd: 'strangerRecordU', data: [verifiedRecord({ num: `${i}03`, name: 'stranger' })] });
    await t.send({ cmd: 'openDoorU', code: 0 });
  }
  // Per terminal: device.online, face.verified, face.rejected, face.stranger, device.message.
  events = await b.eventsStored(SERIALS.length * 5);
  hookId = (await b.api('POST', '/api/webhooks', { url: receiver.url, event_types: HOOK_TYPES })).json.id;
  await b.api('POST', `/api/webhooks/${hookId}/redeliver`, { since: '2000-01-01T00:00:00Z' });
  deadHookId = (await b.api('POST', '/api/webhooks', { url: refuser.url, event_types: ['device.message'] })).json.id;
  // Two deliveries failing twice each go dead before the lane starts probing (five failures in a row), which would pause it for seconds.
  const messages = events.filter((e) => e.type === 'device.message');
  await b.api('POST', `/api/webhooks/${deadHookId}/redeliver`, { since: new Date(messages.at(-2)!.receivedAt).toISOString() });
  await settled();
  // Each dead delivery made a delivery.dead (README §Alerts in chat apps), in the commit of its last attempt: the table's last events.
  events = await b.eventsStored(SERIALS.length * 5 + 2);
});

/** An event's device_sn as its view shows it: delivery.dead is about an endpoint and has none. */
const shownSerial = (e: StoredEvent) => (e.deviceSn === '' ? undefined : e.deviceSn);

afterAll(async () => {
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  await b?.stop();
  await receiver?.close();
  await refuser?.close();
});

// ---- the wire ------------------------------------------------------------

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** A request as any client could send it: raw bytes or text, any content type. */
async function send(
  method: string,
  path: string,
  body?: string | Uint8Array,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${b.httpPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined && { 'content-type': contentType }), ...headers },
    body,
    // A redirect is part of the answer under test, not to be followed.
    redirect: 'manual',
  });
  return readAnswer(response);
}

const query = (params: Record<string, string>) =>
  Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');

/** What hono hands the route for that query string: the first value of each key. */
const parsedQuery = (qs: string): Record<string, string> => {
  const out: Record<string, string> = Object.create(null);
  for (const [key, value] of new URLSearchParams(qs)) if (!Object.hasOwn(out, key)) out[key] = value;
  return out;
};

/** A JSON object text with a key that JSON.stringify cannot write (`{__proto__: …}` in a literal sets the prototype instead). */
const withKey = (objectText: string, key: string, value: unknown) =>
  `{${JSON.stringify(key)}:${JSON.stringify(value)}${objectText === '{}' ? '' : `,${objectText.slice(1, -1)}`}}`;

// ---- what a refusal must look like ---------------------------------------

interface Refusal {
  label: string;
  body: string | Uint8Array;
  contentType?: string;
  status: number;
  code: string;
  /** The first issue's path (null: the body as a whole); undefined when the answer has no issues. */
  path?: string | null;
  reason: RegExp;
}

/** The API's error shape (README §HTTP API), the documented status, and a message that names the reason. */
function expectRefused(res: Answer, want: Omit<Refusal, 'label' | 'body'>) {
  expect(res.status, res.text).toBe(want.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(res.json)).toEqual(['error']);
  const { code, message, issues, ...rest } = res.json.error;
  expect(rest).toEqual({});
  expect(code).toBe(want.code);
  expect(message).toMatch(want.reason);
  if (want.path === undefined) {
    expect(issues).toBeUndefined();
  } else {
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) {
      expect(Object.keys(issue).sort()).toEqual(['message', 'path']);
      expect(issue.path === null || typeof issue.path === 'string').toBe(true);
      expect(typeof issue.message).toBe('string');
    }
    expect(issues[0].path).toBe(want.path);
    expect(message).toBe(want.path === null ? issues[0].message : `${want.path}: ${issues[0].message}`);
  }
}

const invalid = (label: string, body: string, path: string | null, reason: RegExp): Refusal => ({
  label,
  body,
  status: 400,
  code: 'invalid_request',
  path,
  reason,
});
const notJsonRefusal = (body: string | Uint8Array): Refusal => ({
  label: 'not JSON',
  body,
  status: 400,
  code: 'invalid_request',
  reason: /^body is not valid JSON: /,
});
const tooLarge = (body: string): Refusal => ({ label: 'over BODY_LIMIT', body, status: 413, code: 'payload_too_large', reason: /BODY_LIMIT/ });

async function expectHealthy() {
  expect((await send('GET', '/healthz')).json).toEqual({ status: 'ok' });
  // The bridge runs in this process: a polluted prototype would show here.
  expect(Object.prototype).not.toHaveProperty('polluted');
  expect(b.logLines.filter((line) => line.includes('unhandled error'))).toEqual([]);
}

/** Waits until no delivery is pending: the receiver answers at once, so the statuses settle quickly. */
const settled = () => until(() => b.count('deliveries', "status = 'pending'") === 0, 5);

// ---- arbitraries of the contract -----------------------------------------

const jsonValue = fc.jsonValue({ maxDepth: 2 });
const anyText = (constraints: { minLength?: number; maxLength?: number } = {}) => fc.string({ unit: 'grapheme', maxLength: 20, ...constraints });
const notJson = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !parses(s)),
  fc.constant(''),
  jsonValue.map((value) => JSON.stringify({ v: value }).slice(0, -1)),
  // Not UTF-8 at all: the replacement characters decoding leaves are no JSON either.
  fc.uint8Array({ maxLength: 30 }).map((bytes) => Uint8Array.from([0xff, 0xfe, ...bytes])),
);
const nonObjectJson = fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
/** Keys of fields no schema knows, with fast-check's bias towards `toString`, `__proto__`… removed where they would change the case. */
const unknownKey = (known: string[]) => anyText({ maxLength: 12 }).filter((key) => !known.includes(key) && !PROTOTYPE_KEYS.includes(key));
const extraFields = (known: string[]) => fc.dictionary(unknownKey(known), jsonValue, { maxKeys: 4 });
const oversized = fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 2 });
const pollution = fc.constantFrom({ polluted: 'yes' }, { prototype: { polluted: 'yes' } });

function parses(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

const MIN_MS = Date.parse('0000-01-01T00:00:00Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

interface Stamp {
  text: string;
  /** The instant the text denotes, to the millisecond. */
  ms: number;
}

/**
 * An instant written in any form valibot's isoTimestamp lets through: T or a
 * space, 0 to 9 decimals, Z or an offset with or without a colon, with or
 * without minutes, with or without a space before it.
 */
function stamp(instant: fc.Arbitrary<number>): fc.Arbitrary<Stamp> {
  const zone = fc.record({
    minutes: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
    form: fc.constantFrom('hh:mm', 'hhmm', 'hh'),
    space: fc.boolean(),
  });
  return fc
    .record({ at: instant, sep: fc.constantFrom('T', ' '), digits: fc.integer({ min: 0, max: 9 }), zone: fc.option(zone) })
    .map(({ at, sep, digits, zone }) => {
      const offset = zone === null ? 0 : zone.form === 'hh' ? Math.trunc(zone.minutes / 60) * 60 : zone.minutes;
      const unit = 10 ** (3 - Math.min(digits, 3));
      const ms = Math.floor(at / unit) * unit;
      const local = new Date(ms + offset * 60_000);
      const fraction = digits === 0 ? '' : `.${(`${pad(local.getUTCMilliseconds(), 3)}000000`).slice(0, digits)}`;
      let suffix = 'Z';
      if (zone !== null) {
        const abs = Math.abs(offset);
        const minutes = zone.form === 'hh:mm' ? `:${pad(abs % 60)}` : zone.form === 'hhmm' ? pad(abs % 60) : '';
        suffix = `${zone.space ? ' ' : ''}${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}${minutes}`;
      }
      const date = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}`;
      const time = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
      return { text: `${date}${sep}${time}${fraction}${suffix}`, ms };
    })
    .filter((s) => /^\d{4}-/.test(s.text)); // the offset took the local date out of years 0000–9999
}

/** Instants on and around the stored events (the edges of a filter), or anywhere in years 0000–9999. */
const nearEvents = () =>
  fc.oneof(
    fc.constantFrom(...events.map((e) => e.receivedAt)).chain((t) => fc.integer({ min: t - 2, max: t + 2 })),
    fc.constantFrom(...events.map((e) => e.receivedAt)).chain((t) => fc.integer({ min: t - 3_600_000, max: t + 3_600_000 })),
    fc.integer({ min: MIN_MS, max: MAX_MS }),
  );

/** Texts that are no timestamp: one part out of its range or shape, or a day its month does not have. */
const badStamp = fc.oneof(
  fc
    .record({
      part: fc.constantFrom('year', 'month', 'day', 'hour', 'minute', 'second', 'sep', 'fraction', 'zone'),
      pick: fc.nat(),
    })
    .map(({ part, pick }) => {
      const parts: Record<string, string> = {
        year: '2026',
        month: '11',
        day: '22',
        sep: 'T',
        hour: '10',
        minute: '00',
        second: '00',
        fraction: '.123',
        zone: 'Z',
      };
      const bad: Record<string, string[]> = {
        year: ['26', '20261', '+2026', 'yyyy'],
        month: ['00', '13', '1', '99'],
        day: ['00', '32', '1'],
        hour: ['24', '1', '99'],
        minute: ['60', '1'],
        second: ['60', '1'],
        sep: ['', 't', '/', '_', 'TT'],
        fraction: ['.', '.1234567890', ',5'],
        zone: ['', 'z', 'UTC', '+24:00', '+5', '+05:60', '+05:3', '  +05:00', 'Z+01:00'],
      };
      parts[part] = bad[part][pick % bad[part].length];
      return `${parts.year}-${parts.month}-${parts.day}${parts.sep}${parts.hour}:${parts.minute}:${parts.second}${parts.fraction}${parts.zone}`;
    }),
  fc.constantFrom(
    '2026-02-29T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2024-02-30T12:00:00+01:00',
    '2026-04-31 08:00:00Z',
    '2026-06-31T00:00:00Z',
    '1900-02-29T00:00:00Z',
  ),
  fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !/^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d/.test(s)),
);

const limitText = fc.oneof(
  fc.integer({ min: 1, max: 500 }).map(String),
  fc.tuple(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 3 })).map(([n, zeros]) => '0'.repeat(zeros) + n),
);
/** Small pages, so a walk through the list crosses several cursors. */
const smallLimit = fc.integer({ min: 1, max: 6 });
const badLimit = fc.oneof(
  fc.constantFrom('0', '00', '501', '1000', '9'.repeat(30)),
  fc.integer({ min: 501, max: 2 ** 31 }).map(String),
  fc.string({ maxLength: 8 }).filter((s) => !/^\d+$/.test(s)),
);
const typeList = fc
  .subarray([...EVENT_TYPES], { minLength: 1 })
  .chain((types) => fc.tuple(...types.map((t) => fc.constantFrom(t, ` ${t}`, `${t} `))))
  .map((types) => types.join(','));
const badTypeList = fc
  .tuple(
    fc.array(fc.constantFrom(...EVENT_TYPES), { maxLength: 3 }),
    anyText({ maxLength: 16 }).filter((t) => !t.includes(',') && !(EVENT_TYPES as readonly string[]).includes(t.trim())),
    fc.nat(),
  )
  .map(([good, bad, at]) => {
    const types: string[] = [...good];
    types.splice(at % (good.length + 1), 0, bad);
    return types.join(',');
  });

/** Walks a list through its next_cursor from the first page; checks the page sizes on the way. */
async function walk(path: string, params: Record<string, string>, limit: number): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; ; page++) {
    const qs = query({ ...params, limit: String(limit), ...(cursor !== null && { cursor }) });
    const res = await send('GET', `${path}?${qs}`);
    expect(res.status, `${path}?${qs}: ${res.text}`).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['items', 'next_cursor']);
    expect(res.json.items.length).toBeLessThanOrEqual(limit);
    items.push(...res.json.items);
    cursor = res.json.next_cursor;
    if (cursor === null) return items;
    expect(res.json.items.length).toBe(limit);
    // Every list here has far fewer rows: more pages means the cursor went round in circles.
    expect(page).toBeLessThan(500);
  }
}

// ---- POST /api/devices/{sn}/commands and POST / ------------------------

/** A command as the contract has it: a non-empty string cmd, any other fields. */
const command = fc.tuple(anyText({ minLength: 1 }), extraFields(['cmd'])).map(([cmd, extra]) => ({ ...extra, cmd }));

/** The next message on a terminal's downLink (registered before the request, so it cannot be missed). */
const nextDownlink = (t: Terminal) => new Promise<unknown>((resolve) => t.client.once('message', (_topic, payload) => resolve(JSON.parse(payload.toString()))));

/** The command recorded last (by rowid: two commands of one millisecond sort by their random ids). */
const latestCommand = () => b.db().prepare('select id, device_sn, body, status, error from commands order by rowid desc limit 1').get() as any;

/** One way each to break a command body. */
const brokenCommand = fc.oneof(
  notJson.map(notJsonRefusal),
  fc
    .oneof(fc.array(jsonValue, { maxLength: 3 }), nonObjectJson)
    .map((value) => invalid('not an object', JSON.stringify(value), null, /^body must be a JSON object$/)),
  extraFields(['cmd']).map((extra) => invalid('no cmd', JSON.stringify(extra), 'cmd', /^cmd: cmd is required$/)),
  fc
    .tuple(
      jsonValue.filter((value) => typeof value !== 'string'),
      extraFields(['cmd']),
    )
    .map(([cmd, extra]) => invalid('cmd not a string', JSON.stringify({ ...extra, cmd }), 'cmd', /^cmd: cmd must be a string$/)),
  extraFields(['cmd']).map((extra) => invalid('empty cmd', JSON.stringify({ ...extra, cmd: '' }), 'cmd', /^cmd: cmd must not be empty$/)),
  // valibot would leave such a key out: the terminal would get, and the history keep, another command than the one sent.
  fc
    .tuple(command, fc.constantFrom(...PROTOTYPE_KEYS), fc.oneof(pollution, jsonValue))
    .map(([body, key, value]) =>
      invalid(`a ${key} field`, withKey(JSON.stringify(body), key, value), null, new RegExp(`^${key} is not allowed as a field name$`)),
    ),
  fc.tuple(anyText({ minLength: 1, maxLength: 5 }), oversized).map(([cmd, n]) => tooLarge(JSON.stringify({ cmd, photo: 'x'.repeat(n) }))),
);

describe('POST /api/devices/{sn}/commands (CommandSchema)', () => {
  it('publishes every well-formed command to its terminal as sent, with any content type, and records it', async () => {
    await fc.assert(
      fc.asyncProperty(command, fc.nat(SERIALS.length - 1), fc.constantFrom(...CONTENT_TYPES), async (body, i, contentType) => {
        const sent = JSON.stringify(body);
        // Keeps the generator honest: what it makes is what the schema accepts.
        expect(v.is(CommandSchema, JSON.parse(sent))).toBe(true);
        const arrived = nextDownlink(terminals[i]);
        const res = await send('POST', `/api/devices/${SERIALS[i]}/commands`, sent, contentType);
        expect(res.status, res.text).toBe(202);
        expect(res.json).toEqual({ id: expect.stringMatching(/^cmd_[\w-]{22}$/), device_sn: SERIALS[i], status: 'published' });
        expect(await arrived).toEqual(JSON.parse(sent));
        const recorded = latestCommand();
        expect({ ...recorded, body: JSON.parse(recorded.body) }).toEqual({
          id: res.json.id,
          device_sn: SERIALS[i],
          body: JSON.parse(sent),
          status: 'published',
          error: null,
        });
      }),
      { numRuns: 40 },
    );
  });

  it('answers 503 device_offline for a known terminal that is not connected (recorded as failed), and 404 for an unknown one', async () => {
    const unknownSn = fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/).filter((sn) => ![...SERIALS, OFFLINE].includes(sn));
    await fc.assert(
      fc.asyncProperty(command, fc.oneof(fc.constant(OFFLINE), unknownSn), async (body, sn) => {
        const before = b.count('commands');
        const res = await send('POST', `/api/devices/${sn}/commands`, JSON.stringify(body));
        if (sn === OFFLINE) {
          expectRefused(res, { status: 503, code: 'device_offline', reason: new RegExp(`^command not sent: terminal ${OFFLINE} is not online$`) });
          // Refused, and still in the history, as failed.
          const recorded = latestCommand();
          expect({ ...recorded, body: JSON.parse(recorded.body) }).toEqual({
            id: expect.stringMatching(/^cmd_/),
            device_sn: OFFLINE,
            body: JSON.parse(JSON.stringify(body)),
            status: 'failed',
            error: 'device_offline',
          });
          expect(b.count('commands')).toBe(before + 1);
        } else {
          expectRefused(res, { status: 404, code: 'not_found', reason: new RegExp(`^no terminal ${sn} is known$`) });
          expect(b.count('commands')).toBe(before);
        }
      }),
      { numRuns: 20 },
    );
    await expectHealthy();
  });

  it('refuses every body that breaks the contract in one way with a 4xx naming the reason, sends and records nothing', async () => {
    await fc.assert(
      fc.asyncProperty(brokenCommand, fc.nat(SERIALS.length - 1), async (broken, i) => {
        if (typeof broken.body === 'string' && broken.status === 400 && parses(broken.body)) expect(v.is(CommandSchema, JSON.parse(broken.body))).toBe(false);
        const before = b.count('commands');
        const res = await send('POST', `/api/devices/${SERIALS[i]}/commands`, broken.body);
        expectRefused(res, broken);
        expect(b.count('commands')).toBe(before);
        await expectHealthy();
      }),
      { numRuns: 60 },
    );
  });
});

describe('POST / (the relay: any JSON object)', () => {
  it('relays every JSON object to DEFAULT_DEVICE as sent and answers ok', async () => {
    const relayed = extraFields([]).map((fields) => JSON.stringify(fields));
    await fc.assert(
      fc.asyncProperty(relayed, fc.constantFrom(...CONTENT_TYPES), async (sent, contentType) => {
        const arrived = nextDownlink(terminals[0]);
        const res = await send('POST', '/', sent, contentType);
        expect(res.status, res.text).toBe(200);
        expect(res.text).toBe('ok');
        expect(await arrived).toEqual(JSON.parse(sent));
        expect(JSON.parse(latestCommand().body)).toEqual(JSON.parse(sent));
      }),
      { numRuns: 25 },
    );
  });

  it('refuses what is no JSON object, a prototype key, or over BODY_LIMIT', async () => {
    const broken = fc.oneof(
      notJson.map(notJsonRefusal),
      fc
        .oneof(fc.array(jsonValue, { maxLength: 3 }), nonObjectJson)
        .map((value) => invalid('not an object', JSON.stringify(value), null, /^body must be a JSON object$/)),
      fc
        .tuple(extraFields([]), fc.constantFrom(...PROTOTYPE_KEYS), fc.oneof(pollution, jsonValue))
        .map(([fields, key, value]) =>
          invalid(`a ${key} field`, withKey(JSON.stringify(fields), key, value), null, new RegExp(`^${key} is not allowed as a field name$`)),
        ),
      oversized.map((n) => tooLarge(JSON.stringify({ cmd: 'enrolD', photo: 'x'.repeat(n) }))),
    );
    await fc.assert(
      fc.asyncProperty(broken, async (refusal) => {
        const before = b.count('commands');
        expectRefused(await send('POST', '/', refusal.body), refusal);
        expect(b.count('commands')).toBe(before);
        await expectHealthy();
      }),
      { numRuns: 30 },
    );
  });
});

// ---- POST /api/webhooks and POST /api/webhooks/{id}/redeliver -------------

const ENDPOINT_KEYS = ['url', 'event_types', 'secret', 'format', 'lang'];
const secret = fc.oneof(
  anyText({ minLength: 16, maxLength: 60 }),
  fc.uint8Array({ minLength: 16, maxLength: 40 }).map((key) => `whsec_${Buffer.from(key).toString('base64')}`),
);
const httpUrl = fc.webUrl({
  withQueryParameters: true,
  withFragments: true,
  authoritySettings: { withIPv4: true, withIPv6: true, withPort: true, withUserInfo: true },
});

describe('POST /api/webhooks (EndpointSchema)', () => {
  it('creates an endpoint from every well-formed body and shows exactly it, secret masked; unknown fields and prototype keys change nothing', async () => {
    const endpoint = fc.record(
      {
        url: httpUrl,
        event_types: fc.array(fc.constantFrom(...EVENT_TYPES), { minLength: 1, maxLength: 8 }),
        secret,
      },
      { requiredKeys: ['url'] },
    );
    // A prototype key carrying fields must not supply them.
    const smuggled = fc.option(
      fc.tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.record({ secret, event_types: fc.constant(['device.offline']), polluted: fc.constant('yes') })),
    );
    await fc.assert(
      fc.asyncProperty(endpoint, extraFields(ENDPOINT_KEYS), smuggled, fc.constantFrom(...CONTENT_TYPES), async (body, extra, hidden, contentType) => {
        const plain = JSON.stringify({ ...extra, ...body });
        const sent = hidden === null ? plain : withKey(plain, hidden[0], hidden[1]);
        expect(v.is(EndpointSchema, JSON.parse(sent))).toBe(true);
        const res = await send('POST', '/api/webhooks', sent, contentType);
        expect(res.status, res.text).toBe(201);
        expect(res.json).toEqual({
          id: expect.stringMatching(/^ep_[\w-]{22}$/),
          url: withoutPassword(body.url),
          event_types: body.event_types ?? ['face.verified'],
          secret: body.secret === undefined ? null : expect.any(String),
          enabled: true,
          disabled_reason: null,
          created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          format: 'standard',
          lang: 'zh-CN',
        });
        if (body.secret !== undefined) {
          // At most the prefix and four characters of the end: enough to tell two apart, never enough to sign.
          const prefix = body.secret.startsWith('whsec_') ? 'whsec_' : '';
          const masked: string = res.json.secret;
          expect(masked.startsWith(`${prefix}…`)).toBe(true);
          const shown = masked.slice(prefix.length + 1);
          expect(shown.length).toBeLessThanOrEqual(4);
          expect(body.secret.endsWith(shown)).toBe(true);
        }
        expect((await send('GET', `/api/webhooks/${res.json.id}`)).json).toEqual(res.json);
        // Removed at once: no event reaches these made-up URLs.
        expect((await send('DELETE', `/api/webhooks/${res.json.id}`)).status).toBe(204);
        expect((await send('GET', `/api/webhooks/${res.json.id}`)).status).toBe(404);
      }),
      { numRuns: 30 },
    );
    await expectHealthy();
  });

  it('refuses every body that breaks the contract in one way with a 400 naming the field, and creates nothing', async () => {
    const url = httpUrl;
    const broken = fc.oneof(
      notJson.map(notJsonRefusal),
      nonObjectJson.map((value) => invalid('not an object', JSON.stringify(value), null, /^Invalid type: Expected Object/)),
      // An array is an object to valibot: it is refused for what it lacks.
      fc.array(jsonValue, { maxLength: 3 }).map((value) => invalid('an array', JSON.stringify(value), 'url', /^url: /)),
      extraFields(ENDPOINT_KEYS).map((extra) => invalid('no url', JSON.stringify(extra), 'url', /^url: Invalid key: Expected "url"/)),
      jsonValue
        .filter((value) => typeof value !== 'string')
        .map((u) => invalid('url not a string', JSON.stringify({ url: u }), 'url', /^url: url must be a string$/)),
      fc
        .oneof(
          fc.webUrl({ validSchemes: ['ftp', 'ws', 'wss', 'file', 'mailto', 'data', 'javascript'] }),
          anyText({ maxLength: 30 }).filter((s) => !URL.canParse(s) || !['http:', 'https:'].includes(new URL(s).protocol)),
        )
        .map((u) => invalid('not an http(s) URL', JSON.stringify({ url: u }), 'url', /^url: url must be an http:\/\/ or https:\/\/ URL$/)),
      fc
        .tuple(url, fc.oneof(nonObjectJson, fc.dictionary(anyText(), jsonValue, { maxKeys: 2 })))
        .map(([u, types]) =>
          invalid('event_types not an array', JSON.stringify({ url: u, event_types: types }), 'event_types', /^event_types: Invalid type: Expected Array/),
        ),
      url.map((u) => invalid('no event type', JSON.stringify({ url: u, event_types: [] }), 'event_types', /^event_types: event_types must not be empty$/)),
      fc
        .tuple(
          url,
          fc.array(fc.constantFrom(...EVENT_TYPES), { maxLength: 3 }),
          fc.oneof(
            anyText().filter((t) => !(EVENT_TYPES as readonly string[]).includes(t)),
            jsonValue.filter((t) => typeof t !== 'string'),
          ),
          fc.nat(),
        )
        .map(([u, good, bad, at]) => {
          const types: unknown[] = [...good];
          const index = at % (good.length + 1);
          types.splice(index, 0, bad);
          return invalid(
            'an unknown event type',
            JSON.stringify({ url: u, event_types: types }),
            `event_types.${index}`,
            /^event_types\.\d+: event types are face\.verified, /,
          );
        }),
      fc
        .tuple(
          url,
          jsonValue.filter((s) => typeof s !== 'string'),
        )
        .map(([u, s]) => invalid('secret not a string', JSON.stringify({ url: u, secret: s }), 'secret', /^secret: secret must be a string$/)),
      fc
        .tuple(url, fc.string({ maxLength: 15 }))
        .map(([u, s]) => invalid('a short secret', JSON.stringify({ url: u, secret: s }), 'secret', /^secret: secret must have at least 16 characters$/)),
      fc
        .tuple(fc.constantFrom(...PROTOTYPE_KEYS), url)
        .map(([key, u]) => invalid(`url only under ${key}`, withKey('{}', key, { url: u, polluted: 'yes' }), 'url', /^url: Invalid key: Expected "url"/)),
      fc.tuple(url, oversized).map(([u, n]) => tooLarge(JSON.stringify({ url: `${u}#${'x'.repeat(n)}` }))),
    );
    await fc.assert(
      fc.asyncProperty(broken, async (refusal) => {
        if (typeof refusal.body === 'string' && refusal.status === 400 && parses(refusal.body))
          expect(v.is(EndpointSchema, JSON.parse(refusal.body))).toBe(false);
        const before = b.count('endpoints');
        expectRefused(await send('POST', '/api/webhooks', refusal.body), refusal);
        expect(b.count('endpoints')).toBe(before);
        await expectHealthy();
      }),
      { numRuns: 60 },
    );
  });
});

describe('POST /api/webhooks/{id}/redeliver (RedeliverSchema)', () => {
  it('answers 202 for every timestamp form, echoing it, with the count of events of its types received since that instant', async () => {
    await fc.assert(
      fc.asyncProperty(stamp(nearEvents()), extraFields(['since']), fc.constantFrom(...CONTENT_TYPES), async (since, extra, contentType) => {
        const sent = JSON.stringify({ ...extra, since: since.text });
        expect(v.is(RedeliverSchema, JSON.parse(sent))).toBe(true);
        const res = await send('POST', `/api/webhooks/${hookId}/redeliver`, sent, contentType);
        expect(res.status, `${since.text}: ${res.text}`).toBe(202);
        const expected = events.filter((e) => HOOK_TYPES.includes(e.type) && e.receivedAt >= since.ms).length;
        expect(res.json, since.text).toEqual({ endpoint_id: hookId, since: since.text, deliveries: expected });
      }),
      { numRuns: 40 },
    );
    await settled();
    await expectHealthy();
  });

  it('refuses every body that breaks the contract in one way with a 400 naming since, and 404 for an unknown endpoint', async () => {
    const broken = fc.oneof(
      notJson.map(notJsonRefusal),
      nonObjectJson.map((value) => invalid('not an object', JSON.stringify(value), null, /^Invalid type: Expected Object/)),
      extraFields(['since']).map((extra) => invalid('no since', JSON.stringify(extra), 'since', /^since: Invalid key: Expected "since"/)),
      jsonValue
        .filter((s) => typeof s !== 'string')
        .map((s) => invalid('since not a string', JSON.stringify({ since: s }), 'since', /^since: since must be a date$/)),
      badStamp.map((s) => invalid('since not a timestamp', JSON.stringify({ since: s }), 'since', /^since: since must be an ISO 8601 timestamp/)),
      fc
        .constantFrom(...PROTOTYPE_KEYS)
        .map((key) =>
          invalid(`since only under ${key}`, withKey('{}', key, { since: '2026-11-22T00:00:00Z', polluted: 'yes' }), 'since', /^since: Invalid key/),
        ),
      oversized.map((n) => tooLarge(JSON.stringify({ since: '2026-11-22T00:00:00Z', note: 'x'.repeat(n) }))),
    );
    await fc.assert(
      fc.asyncProperty(broken, async (refusal) => {
        if (typeof refusal.body === 'string' && refusal.status === 400 && parses(refusal.body))
          expect(v.is(RedeliverSchema, JSON.parse(refusal.body))).toBe(false);
        const before = b.count('deliveries', "status = 'pending'");
        expectRefused(await send('POST', `/api/webhooks/${hookId}/redeliver`, refusal.body), refusal);
        expect(b.count('deliveries', "status = 'pending'")).toBe(before);
        await expectHealthy();
      }),
      { numRuns: 50 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.stringMatching(/^ep_[\w-]{1,22}$/).filter((id) => id !== hookId && id !== deadHookId),
        stamp(nearEvents()),
        async (id, since) => {
          expectRefused(await send('POST', `/api/webhooks/${id}/redeliver`, JSON.stringify({ since: since.text })), {
            status: 404,
            code: 'not_found',
            reason: new RegExp(`^no webhook endpoint ${id}$`),
          });
        },
      ),
      { numRuns: 10 },
    );
  });
});

// ---- POST /ui/login --------------------------------------------------------

describe('POST /ui/login (Login)', () => {
  it('trades the token for a session cookie that opens the API, as JSON or as a form; any other token is a 401', async () => {
    const token = fc.oneof(
      fc.constant(TOKEN),
      anyText({ minLength: 1, maxLength: 40 }).filter((t) => t !== TOKEN),
    );
    await fc.assert(
      fc.asyncProperty(token, fc.boolean(), extraFields(['token']), fc.constantFrom('application/json', 'text/plain'), async (token, form, extra, jsonType) => {
        const body = form
          ? new URLSearchParams({ ...Object.fromEntries(Object.keys(extra).map((k) => [k, 'x'])), token }).toString()
          : JSON.stringify({ ...extra, token });
        expect(v.is(Login, form ? parsedQuery(body) : JSON.parse(body))).toBe(true);
        const res = await send('POST', '/ui/login', body, form ? 'application/x-www-form-urlencoded' : jsonType);
        if (token !== TOKEN) {
          expectRefused(res, { status: 401, code: 'unauthorized', reason: /^invalid token$/ });
          expect(res.headers.get('set-cookie')).toBeNull();
          return;
        }
        expect(res.status, res.text).toBe(form ? 303 : 204);
        if (form) expect(res.headers.get('location')).toBe('/ui');
        const cookie = res.headers.get('set-cookie')!.split(';')[0];
        expect(cookie).toMatch(/^facegate_session=\d+\.admin\.[\w-]+$/);
        const session = await fetch(`http://127.0.0.1:${b.httpPort}/api/session`, { headers: { cookie } });
        expect(session.status).toBe(200);
        expect(await session.json()).toEqual({ authenticated: true, name: 'admin', role: 'admin' });
      }),
      { numRuns: 30 },
    );
  });

  it('refuses every body that breaks the contract in one way with a 400 naming the reason, and sets no cookie', async () => {
    const form = 'application/x-www-form-urlencoded';
    const broken = fc.oneof(
      notJson.map(notJsonRefusal),
      nonObjectJson.map((value) => invalid('not an object', JSON.stringify(value), null, /^Invalid type: Expected Object/)),
      extraFields(['token']).map((extra) => invalid('no token', JSON.stringify(extra), 'token', /^token: Invalid key: Expected "token"/)),
      jsonValue
        .filter((t) => typeof t !== 'string')
        .map((t) => invalid('token not a string', JSON.stringify({ token: t }), 'token', /^token: token must be a string$/)),
      fc.constant(invalid('an empty token', JSON.stringify({ token: '' }), 'token', /^token: token must not be empty$/)),
      fc
        .constantFrom(...PROTOTYPE_KEYS)
        .map((key) => invalid(`token only under ${key}`, withKey('{}', key, { token: TOKEN, polluted: 'yes' }), 'token', /^token: Invalid key/)),
      // A form is read as a form: JSON sent under that type has no token field.
      fc.constant({ ...invalid('JSON as a form', JSON.stringify({ token: TOKEN }), 'token', /^token: Invalid key/), contentType: form }),
      fc.constant({ ...invalid('an empty form token', 'token=', 'token', /^token: token must not be empty$/), contentType: form }),
      oversized.map((n) => tooLarge(JSON.stringify({ token: TOKEN, note: 'x'.repeat(n) }))),
    );
    await fc.assert(
      fc.asyncProperty(broken, async (refusal) => {
        const res = await send('POST', '/ui/login', refusal.body, refusal.contentType);
        expectRefused(res, refusal);
        expect(res.headers.get('set-cookie')).toBeNull();
        await expectHealthy();
      }),
      { numRuns: 40 },
    );
  });
});

// ---- query strings of the lists ------------------------------------------

/** A query string with one parameter broken, and how the answer must name it. */
interface BadQuery {
  params: Record<string, string>;
  path: string;
  reason: RegExp;
}

async function expectBadQuery(route: string, schema: v.GenericSchema, bad: BadQuery) {
  const qs = query(bad.params);
  expect(v.is(schema, parsedQuery(qs))).toBe(false);
  expectRefused(await send('GET', `${route}?${qs}`), { status: 400, code: 'invalid_request', path: bad.path, reason: bad.reason });
}

/** Every query string with one bad parameter is refused with a 400 naming it, and the bridge stays healthy. */
async function expectBadQueries(route: string, schema: v.GenericSchema, bad: fc.Arbitrary<BadQuery>, numRuns: number) {
  await fc.assert(
    fc.asyncProperty(bad, async (q) => {
      await expectBadQuery(route, schema, q);
      await expectHealthy();
    }),
    { numRuns },
  );
}

const badTimestampParam = (name: 'since' | 'until') =>
  badStamp.map((s) => ({ params: { [name]: s }, path: name, reason: new RegExp(`^${name}: ${name} must be an ISO 8601 timestamp`) }));
const badLimitParam = (reason: RegExp) => badLimit.map((limit) => ({ params: { limit }, path: 'limit', reason }));
const badFilterParams = [
  badTypeList.map((type) => ({ params: { type }, path: 'type', reason: /^type: type must be one of face\.verified, / })),
  fc.constant({ params: { device: '' }, path: 'device', reason: /^device: device must not be empty$/ }),
];
const unknownParams = (known: string[]) => fc.dictionary(unknownKey(known), anyText({ maxLength: 10 }), { maxKeys: 3 });

describe('GET /api/events (EventListQuery)', () => {
  it('pages through exactly the events the filters select, newest first, whatever the limit and timestamp forms', async () => {
    const filters = fc.record(
      {
        type: typeList,
        device: fc.oneof(fc.constantFrom(...SERIALS, OFFLINE), anyText({ minLength: 1, maxLength: 8 })),
        since: stamp(nearEvents()),
        until: stamp(nearEvents()),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(filters, smallLimit, unknownParams(['type', 'device', 'since', 'until', 'limit', 'cursor']), async (f, limit, extra) => {
        const params: Record<string, string> = { ...extra };
        if (f.type !== undefined) params.type = f.type;
        if (f.device !== undefined) params.device = f.device;
        if (f.since !== undefined) params.since = f.since.text;
        if (f.until !== undefined) params.until = f.until.text;
        expect(v.is(EventListQuery, parsedQuery(query({ ...params, limit: String(limit) })))).toBe(true);
        const types = f.type?.split(',').map((t) => t.trim());
        const expected = events
          .filter((e) => (!types || types.includes(e.type)) && (!f.device || e.deviceSn === f.device))
          .filter((e) => (!f.since || e.receivedAt >= f.since.ms) && (!f.until || e.receivedAt < f.until.ms))
          .sort((x, y) => y.seq - x.seq);
        const items = await walk('/api/events', params, limit);
        expect(items.map((item) => [item.id, item.type, item.device_sn, item.received_at])).toEqual(
          expected.map((e) => [e.id, e.type, shownSerial(e), new Date(e.receivedAt).toISOString()]),
        );
        for (const item of items) {
          expect(item).not.toHaveProperty('img');
          expect(item.has_image).toBe(item.type.startsWith('face.'));
        }
      }),
      { numRuns: 30 },
    );
    // Any limit the contract allows, leading zeros included, is one page of that size here.
    await fc.assert(
      fc.asyncProperty(limitText, async (limit) => {
        const res = await send('GET', `/api/events?limit=${limit}`);
        expect(res.json.items.length).toBe(Math.min(Number(limit), events.length));
        expect(res.json.next_cursor).toBe(Number(limit) < events.length ? String(events.slice().sort((x, y) => y.seq - x.seq)[Number(limit) - 1].seq) : null);
      }),
      { numRuns: 15 },
    );
  });

  it('refuses a query string with one bad parameter with a 400 naming it', async () => {
    const bad = fc.oneof(
      ...badFilterParams,
      badTimestampParam('since'),
      badTimestampParam('until'),
      badLimitParam(/^limit: limit must be (a whole number|1 to 500)$/),
      fc
        .string({ maxLength: 12 })
        .filter((s) => !/^\d+$/.test(s))
        .map((cursor) => ({ params: { cursor }, path: 'cursor', reason: /^cursor: cursor must be a next_cursor of this list$/ })),
    );
    await expectBadQueries('/api/events', EventListQuery, bad, 50);
  });
});

describe('GET /api/stream (EventFilter)', () => {
  it('replays exactly the events the filter selects for every well-formed filter, and refuses one bad parameter with a 400', async () => {
    const filter = fc.record({ type: typeList, device: fc.oneof(fc.constantFrom(...SERIALS), anyText({ minLength: 1, maxLength: 8 })) }, { requiredKeys: [] });
    const bySeq = events.slice().sort((x, y) => x.seq - y.seq);
    await fc.assert(
      fc.asyncProperty(filter, unknownParams(['type', 'device', 'last_event_id']), fc.nat(bySeq.length - 1), async (f, extra, from) => {
        const qs = query({ ...extra, ...f } as Record<string, string>);
        expect(v.is(EventFilter, parsedQuery(qs))).toBe(true);
        // Resuming after a stored event replays the rest of the store through the filter: what the filter selects, seen without new events.
        const s = await openStream(`http://127.0.0.1:${b.httpPort}/api/stream?${qs}`, { authorization: `Bearer ${TOKEN}`, 'last-event-id': bySeq[from].id });
        try {
          expect(s.status).toBe(200);
          expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
          // The replay is written before the handler returns, so the first ping comes after all of it.
          await s.until(() => s.comments.length > 0);
          const types = f.type?.split(',').map((t) => t.trim());
          const expected = bySeq.slice(from + 1).filter((e) => (!types || types.includes(e.type)) && (!f.device || e.deviceSn === f.device));
          expect(s.events.map((e) => [e.event, e.id, JSON.parse(e.data).device_sn])).toEqual(expected.map((e) => [e.type, e.id, shownSerial(e)]));
        } finally {
          await s.close();
        }
      }),
      { numRuns: 10 },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(...badFilterParams), async (q) => {
        await expectBadQuery('/api/stream', EventFilter, q);
      }),
      { numRuns: 20 },
    );
    await expectHealthy();
  });
});

describe('GET /api/commands (CommandListQuery)', () => {
  it('pages through exactly the recorded commands, newest first, from the start or from any well-formed cursor', async () => {
    const rows = (device: string | undefined) =>
      b
        .db()
        .prepare('select id, device_sn, created_at from commands where ? is null or device_sn = ? order by created_at desc, id desc')
        .all(device ?? null, device ?? null) as { id: string; device_sn: string; created_at: number }[];
    // A few of its own, so the walk crosses pages even when this test runs alone.
    for (let i = 0; i < 12; i++) expect((await b.api('POST', `/api/devices/${SERIALS[i % SERIALS.length]}/commands`, { cmd: `list${i}` })).status).toBe(202);
    expect(rows(undefined).length).toBeGreaterThanOrEqual(12);
    const device = fc.option(fc.oneof(fc.constantFrom(...SERIALS, OFFLINE), anyText({ minLength: 1, maxLength: 8 })));
    await fc.assert(
      fc.asyncProperty(device, fc.integer({ min: 5, max: 40 }), unknownParams(['device', 'limit', 'cursor']), async (sn, limit, extra) => {
        const params = { ...extra, ...(sn !== null && { device: sn }) };
        expect(v.is(CommandListQuery, parsedQuery(query({ ...params, limit: String(limit) })))).toBe(true);
        const items = await walk('/api/commands', params, limit);
        expect(items.map((item) => [item.id, item.device_sn])).toEqual(rows(sn ?? undefined).map((row) => [row.id, row.device_sn]));
      }),
      { numRuns: 15 },
    );
    // A cursor is a position: any (time, id) pair the pattern allows gives the commands strictly before it.
    const all = rows(undefined);
    const position = fc.oneof(
      fc.constantFrom(...all).map((row) => ({ at: row.created_at, id: row.id })),
      fc.record({
        at: fc.constantFrom(...all.map((row) => row.created_at)).chain((t) => fc.integer({ min: t - 2, max: t + 2 })),
        id: fc.stringMatching(/^cmd_[\w-]{1,22}$/),
      }),
    );
    await fc.assert(
      fc.asyncProperty(position, limitText, async ({ at, id }, limit) => {
        const res = await send('GET', `/api/commands?${query({ cursor: `${at}_${id}`, limit })}`);
        expect(res.status, res.text).toBe(200);
        const before = all.filter((row) => row.created_at < at || (row.created_at === at && row.id < id)).slice(0, Number(limit));
        expect(res.json.items.map((item: any) => item.id)).toEqual(before.map((row) => row.id));
      }),
      { numRuns: 20 },
    );
  });

  it('refuses a query string with one bad parameter with a 400 naming it', async () => {
    const bad = fc.oneof(
      fc.constant({ params: { device: '' }, path: 'device', reason: /^device: device must not be empty$/ }),
      badLimitParam(/^limit: limit must be (a whole number|1 to 500)$/),
      fc
        .string({ maxLength: 30 })
        .filter((s) => !/^\d+_cmd_[\w-]+$/.test(s))
        .map((cursor) => ({ params: { cursor }, path: 'cursor', reason: /^cursor: cursor must be a next_cursor of this list$/ })),
    );
    await expectBadQueries('/api/commands', CommandListQuery, bad, 30);
  });
});

describe('GET /api/deliveries (DeliveryListQuery)', () => {
  it('pages through exactly the deliveries the filters select, newest first', async () => {
    await settled();
    const rows = (f: { status?: string; endpoint?: string; event?: string }) =>
      b
        .db()
        .prepare(
          `select d.seq, d.status, d.endpoint_id, e.id as event_id from deliveries d join events e on e.seq = d.event_seq
           where (@status is null or d.status = @status) and (@endpoint is null or d.endpoint_id = @endpoint) and (@event is null or e.id = @event) order by d.seq desc`,
        )
        .all({ status: f.status ?? null, endpoint: f.endpoint ?? null, event: f.event ?? null }) as {
        seq: number;
        status: string;
        endpoint_id: string;
        event_id: string;
      }[];
    // Both outcomes are there to be filtered on.
    expect(rows({ status: 'delivered' }).length).toBeGreaterThan(0);
    expect(rows({ status: 'dead' }).length).toBeGreaterThan(0);
    const filters = fc.record(
      {
        status: fc.constantFrom('pending', 'delivered', 'dead'),
        endpoint: fc.oneof(fc.constantFrom(hookId, deadHookId), anyText({ minLength: 1, maxLength: 8 })),
        event: fc.oneof(fc.constantFrom(...events.map((e) => e.id)), anyText({ minLength: 1, maxLength: 8 })),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(filters, smallLimit, unknownParams(['status', 'endpoint', 'event', 'limit', 'cursor']), async (f, limit, extra) => {
        const params = { ...extra, ...f } as Record<string, string>;
        expect(v.is(DeliveryListQuery, parsedQuery(query({ ...params, limit: String(limit) })))).toBe(true);
        const items = await walk('/api/deliveries', params, limit);
        expect(items.map((item) => [item.id, item.status, item.endpoint_id, item.event_id])).toEqual(
          rows(f).map((row) => [`dlv_${row.seq}`, row.status, row.endpoint_id, row.event_id]),
        );
      }),
      { numRuns: 25 },
    );
  });

  it('refuses a query string with one bad parameter with a 400 naming it', async () => {
    const bad = fc.oneof(
      anyText({ maxLength: 12 })
        .filter((s) => !['pending', 'delivered', 'dead'].includes(s))
        .map((status) => ({ params: { status }, path: 'status', reason: /^status: status is pending, delivered or dead$/ })),
      badLimitParam(/^limit: /),
      fc
        .string({ maxLength: 12 })
        .filter((s) => !/^dlv_\d+$/.test(s))
        .map((cursor) => ({ params: { cursor }, path: 'cursor', reason: /^cursor: cursor must be a next_cursor of this list$/ })),
      // Empty, as device= is on the other lists: a filter left blank by mistake must not silently list everything.
      fc.constantFrom('endpoint', 'event').map((name) => ({ params: { [name]: '' }, path: name, reason: new RegExp(`^${name}: ${name} must not be empty$`) })),
    );
    await expectBadQueries('/api/deliveries', DeliveryListQuery, bad, 30);
  });
});

describe('GET /api/devices (DeviceListQuery)', () => {
  const serials = () => (b.db().prepare('select sn from terminals order by sn').all() as { sn: string }[]).map((row) => row.sn);

  it('pages through every terminal in serial order, whatever the page size, and filters on the online state', async () => {
    const all = serials();
    expect(all).toEqual([...SERIALS, OFFLINE].sort());
    await fc.assert(
      fc.asyncProperty(smallLimit, fc.option(fc.constantFrom('true', 'false')), unknownParams(['online', 'limit', 'cursor']), async (limit, online, extra) => {
        const params = { ...extra, ...(online !== null && { online }) };
        expect(v.is(DeviceListQuery, parsedQuery(query({ ...params, limit: String(limit) })))).toBe(true);
        const items = await walk('/api/devices', params, limit);
        const listed = items.map((item) => item.sn);
        if (online === null) expect(listed).toEqual(all);
        else {
          // Online is presence's, which a sweep may change at any time: the filter holds for every item, in order.
          expect(items.every((item) => item.online === (online === 'true'))).toBe(true);
          expect(listed).toEqual(all.filter((sn) => listed.includes(sn)));
        }
      }),
      { numRuns: 20 },
    );
    // A cursor is a position: any serial gives the terminals after it.
    const position = fc.oneof(fc.constantFrom(...all), fc.stringMatching(/^[0-9A-Za-z][0-9A-Za-z_.:-]{0,10}$/));
    await fc.assert(
      fc.asyncProperty(position, limitText, async (cursor, limit) => {
        const res = await send('GET', `/api/devices?${query({ cursor, limit })}`);
        expect(res.status, res.text).toBe(200);
        const after = all.filter((sn) => sn > cursor);
        expect(res.json.items.map((item: any) => item.sn)).toEqual(after.slice(0, Number(limit)));
        expect(res.json.next_cursor).toBe(after.length > Number(limit) ? after[Number(limit) - 1] : null);
      }),
      { numRuns: 20 },
    );
  });

  it('refuses a query string with one bad parameter with a 400 naming it', async () => {
    const bad = fc.oneof(
      anyText({ maxLength: 8 })
        .filter((s) => s !== 'true' && s !== 'false')
        .map((online) => ({ params: { online }, path: 'online', reason: /^online: online must be true or false$/ })),
      badLimitParam(/^limit: limit must be (a whole number|1 to 500)$/),
      fc
        .string({ unit: 'grapheme', maxLength: 70 })
        .filter((s) => !isSerial(s))
        .map((cursor) => ({ params: { cursor }, path: 'cursor', reason: /^cursor: cursor must be a next_cursor of this list$/ })),
    );
    await expectBadQueries('/api/devices', DeviceListQuery, bad, 30);
  });
});
