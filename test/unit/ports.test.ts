import { createServer } from 'node:http';
import { expect, it } from 'vitest';
import { EPHEMERAL_START, freePort } from '../../src/kit/ports.ts';

it('never hands out a port twice among its last 256, though each was closed again at once', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 256; i++) ports.push(await freePort());
  expect(new Set(ports).size).toBe(256);
});

it('hands out ports below the ephemeral range, which the kernel never gives an outgoing connection', async () => {
  for (let i = 0; i < 20; i++) expect(await freePort()).toBeLessThan(EPHEMERAL_START);
});

// A bridge given 10080 for its HTTP API was never found ready: fetch
// refuses the ports of the Fetch standard's bad-port list.
it('passes over a port fetch refuses to connect to, and hands out one it reaches', async () => {
  const span = EPHEMERAL_START - 10_000;
  const candidates = [10_080, 10_080, 10_000 + Math.floor(Math.random() * span)].map((port) => (port - 10_000 + 0.5) / span);
  const port = await freePort(() => candidates.shift() ?? Math.random());
  expect(port).not.toBe(10_080);
  const server = createServer((_, res) => res.end('reached'));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  try {
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('reached');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  await expect(fetch('http://127.0.0.1:10080/')).rejects.toThrow();
});
