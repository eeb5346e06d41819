import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { runCeilings } from '../../src/bench/scenarios/ceilings.ts';
import { FIXTURES_DIR } from '../../src/kit/fixtures.ts';

// The POST ceiling's warm-up goes to receivers of its own: the receiver
// measured counts every body it was sent, and none of the warm-up's.
it('the POST ceiling counts the bodies it measured, not the warm-up before it', async () => {
  const image = await readFile(new URL('face-2.jpg', FIXTURES_DIR));
  const ceilings = await runCeilings({
    which: ['post'],
    transports: [],
    mosquittoPath: undefined,
    payloads: () => [],
    kinds: ['none', 'image'],
    window: 100,
    timeoutMs: 30_000,
    terminals: [],
    seconds: 1,
    intervalMs: 1000,
    image,
    requests: 300,
    steady: { rate: 200, seconds: 1 },
    progress: () => {},
  });
  expect(ceilings.map((c) => ('figures' in c && c.ceiling === 'post' ? [c.kind, c.figures.requests, c.figures.received, c.figures.failed] : c))).toEqual([
    ['none', 300, 300, 0],
    ['image', 300, 300, 0],
  ]);
});
