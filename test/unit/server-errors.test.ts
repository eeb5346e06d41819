import { type AddressInfo, connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { keepServing } from '../../src/transport/server-errors.ts';
import { throttledWarn } from '../../src/transport/throttled-log.ts';
import { capturedLog } from '../support/captured-log.ts';

const logger = capturedLog;

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('keepServing', () => {
  // An accept that fails for want of descriptors reaches a server as 'error'
  // (net.js onconnection); the kernel's EMFILE cannot be had on cue, so the
  // event is emitted as Node would emit it.
  const emfile = () => Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });

  it('logs failed accepts once a minute at most, and the server goes on taking connections', async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { log, lines } = logger();
    keepServing(server, log, 'HTTP server');
    for (let i = 0; i < 1000; i++) expect(() => server.emit('error', emfile())).not.toThrow();
    await new Promise(setImmediate);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: 'HTTP server: a connection could not be accepted', code: 'EMFILE', count: 1 });
    const accepted = new Promise((resolve) => server.once('connection', resolve));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await accepted;
    client.destroy();
  });

  it('is what stands between such an error and the end of the process', () => {
    const server = createServer();
    expect(() => server.emit('error', emfile())).toThrow(/EMFILE/);
  });
});

describe('throttledWarn', () => {
  it('logs the first at once, then one line a minute with the count since the line before', async () => {
    let t = 0;
    const { log, lines } = logger();
    const warn = throttledWarn(log, 'refused', 60_000, () => t);
    for (let i = 0; i < 5; i++) warn({ max: 3 });
    t = 59_999;
    warn({ max: 3 });
    t = 60_000;
    warn({ max: 3 });
    t = 60_001;
    warn({ max: 3 });
    await new Promise(setImmediate);
    expect(lines.map(({ msg, count, max }) => ({ msg, count, max }))).toEqual([
      { msg: 'refused', count: 1, max: 3 },
      { msg: 'refused', count: 6, max: 3 },
    ]);
  });
});
