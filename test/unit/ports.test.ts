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
