import { afterEach, describe, expect, it } from 'vitest';
import { SECURITY_HEADERS } from '../../src/http/security-headers.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';

let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
});

/** The headers of a response, read without its body (a stream would not end). */
async function headersOf(b: TestBridge, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers }> {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${b.httpPort}${path}`, { ...init, signal: controller.signal });
  controller.abort();
  return { status: response.status, headers: response.headers };
}

describe('every response', () => {
  it('carries the security headers and a request id: JSON, errors, probes, the console, the docs, an image, the live stream', async () => {
    const b = (bridge = await startBridge({ BODY_LIMIT: '1kb' }));
    const t = await connectTerminal(b.brokerUrl, 'HDR1');
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
    await t.end();
    const [event] = await b.eventsStored(1, (e) => e.type === 'face.verified');
    const auth = { authorization: `Bearer ${TOKEN}` };
    const responses = {
      list: await headersOf(b, '/api/devices', { headers: auth }),
      unauthorized: await headersOf(b, '/api/devices'),
      notFound: await headersOf(b, '/nowhere', { headers: auth }),
      invalid: await headersOf(b, '/api/events?limit=0', { headers: auth }),
      tooLarge: await headersOf(b, '/api/webhooks', { method: 'POST', headers: auth, body: 'x'.repeat(2048) }),
      healthz: await headersOf(b, '/healthz'),
      metrics: await headersOf(b, '/metrics'),
      console: await headersOf(b, '/ui'),
      docs: await headersOf(b, '/api/docs'),
      image: await headersOf(b, `/api/events/${event.id}/image`, { headers: auth }),
      stream: await headersOf(b, '/api/stream', { headers: auth }),
    };
    expect(Object.fromEntries(Object.entries(responses).map(([name, r]) => [name, r.status]))).toEqual({
      list: 200,
      unauthorized: 401,
      notFound: 404,
      invalid: 400,
      tooLarge: 413,
      healthz: 200,
      metrics: 200,
      console: 200,
      docs: 200,
      image: 200,
      stream: 200,
    });
    for (const [name, { headers }] of Object.entries(responses)) {
      for (const header of ['x-content-type-options', 'x-frame-options', 'referrer-policy', 'cross-origin-resource-policy', 'strict-transport-security']) {
        expect(headers.get(header), `${header} of ${name}`).toBe(SECURITY_HEADERS[header]);
      }
      expect(headers.get('content-security-policy'), name).toMatch(/frame-ancestors 'none'/);
      expect(headers.get('x-request-id'), name).toMatch(/^[\w-]{16,}$/);
      expect(headers.get('x-powered-by'), name).toBeNull();
    }
    // JSON and an image a terminal supplied may load nothing; the console and the docs keep their own policy.
    expect(responses.image.headers.get('content-security-policy')).toBe(SECURITY_HEADERS['content-security-policy']);
    expect(responses.list.headers.get('content-security-policy')).toBe(SECURITY_HEADERS['content-security-policy']);
    expect(responses.console.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(responses.docs.headers.get('content-security-policy')).toMatch(/style-src 'unsafe-inline'/);
  });

  it('logs each request with its id, takes a well-formed id from the client and replaces a hostile one', async () => {
    const b = (bridge = await startBridge());
    const given = await headersOf(b, '/healthz', { headers: { 'x-request-id': 'trace-42' } });
    expect(given.headers.get('x-request-id')).toBe('trace-42');
    const hostile = await headersOf(b, '/healthz', { headers: { 'x-request-id': `a b"\\${'x'.repeat(300)}` } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const lines = b.logLines.filter((line) => line.includes('"msg":"request"'));
    expect(lines.some((line) => line.includes('"request":"trace-42"'))).toBe(true);
    expect(lines.some((line) => line.includes(`"request":"${hostile.headers.get('x-request-id')}"`))).toBe(true);
  });
});
