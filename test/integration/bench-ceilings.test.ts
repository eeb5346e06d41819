import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { runCeilings } from '../../src/bench/scenarios/ceilings.ts';
import { FIXTURES_DIR } from '../../src/kit/fixtures.ts';
import { encodeLoad } from '../../src/kit/records.ts';

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

// The sink counts the records alone: the beating terminals' heartbeats, and
// the echo's answers on their downLinks, pass through the same broker.
it('the flood ceiling relays every record to the sink beside beating terminals, and times the beats due meanwhile', async () => {
  const image = await readFile(new URL('face-2.jpg', FIXTURES_DIR));
  const payloads = encodeLoad(600, 3, new Date(), undefined);
  const [ceiling] = await runCeilings({
    which: ['flood'],
    transports: ['embedded'],
    mosquittoPath: undefined,
    payloads: () => payloads,
    kinds: ['image'],
    window: 50,
    timeoutMs: 30_000,
    terminals: [20],
    seconds: 1,
    intervalMs: 200,
    image,
    requests: 0,
    steady: { rate: 200, seconds: 1 },
    progress: () => {},
  });
  if (ceiling.ceiling !== 'flood' || !('figures' in ceiling)) throw new Error(`no flood figures: ${JSON.stringify(ceiling)}`);
  const { relay, heartbeats, connected } = ceiling.figures;
  expect([relay.records, relay.received, relay.lost, connected]).toEqual([600, 600, 0, 20]);
  expect(heartbeats.beats).toBeGreaterThan(0);
  expect(heartbeats.missing).toBe(0);
  expect(heartbeats.roundTrip?.count).toBe(heartbeats.sent);
});
