import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { type CeilingOptions, runCeilings } from '../../src/bench/scenarios/ceilings.ts';
import { FIXTURES_DIR } from '../../src/kit/fixtures.ts';
import { encodeLoad } from '../../src/kit/records.ts';

/** A small load of each kind: the ceilings' bookkeeping is what is tested, not their figures. */
async function ceilingsOf(options: Partial<CeilingOptions> & Pick<CeilingOptions, 'which'>) {
  return runCeilings({
    transports: [],
    mosquittoPath: undefined,
    payloads: () => [],
    kinds: [],
    window: 50,
    timeoutMs: 30_000,
    terminals: [],
    seconds: 1,
    intervalMs: 200,
    image: await readFile(new URL('face-2.jpg', FIXTURES_DIR)),
    requests: 0,
    steady: { rate: 200, seconds: 1 },
    progress: () => {},
    ...options,
  });
}

// The POST ceiling's warm-up goes to receivers of its own: the receiver
// measured counts every body it was sent, and none of the warm-up's.
it('the POST ceiling counts the bodies it measured, not the warm-up before it', async () => {
  const ceilings = await ceilingsOf({ which: ['post'], kinds: ['none', 'image'], requests: 300 });
  expect(ceilings.map((c) => ('figures' in c && c.ceiling === 'post' ? [c.kind, c.figures.requests, c.figures.received, c.figures.failed] : c))).toEqual([
    ['none', 300, 300, 0],
    ['image', 300, 300, 0],
  ]);
});

// The sink counts the records alone: the beating terminals' heartbeats, and
// the echo's answers on their downLinks, pass through the same broker.
it('the flood ceiling relays every record to the sink beside beating terminals, and times the beats due meanwhile', async () => {
  const payloads = encodeLoad(600, 3, new Date(), undefined);
  const [ceiling] = await ceilingsOf({ which: ['flood'], transports: ['embedded'], payloads: () => payloads, terminals: [20] });
  if (ceiling.ceiling !== 'flood' || !('figures' in ceiling)) throw new Error(`no flood figures: ${JSON.stringify(ceiling)}`);
  const { relay, heartbeats, connected } = ceiling.figures;
  expect([relay.records, relay.received, relay.lost, connected]).toEqual([600, 600, 0, 20]);
  expect(heartbeats.beats).toBeGreaterThan(0);
  expect(heartbeats.missing).toBe(0);
  expect(heartbeats.roundTrip?.count).toBe(heartbeats.sent);
});

// The sink counts from its start, the warm-up's records too: the relay's
// figures are the burst's alone, after them.
it('the relay ceiling sends its warm-up first and counts the records after it alone', async () => {
  const payloads = encodeLoad(300, 3, new Date(), undefined);
  const warmUp = encodeLoad(120, 3, new Date(), undefined, 300);
  const [ceiling] = await ceilingsOf({ which: ['relay'], transports: ['embedded'], kinds: ['none'], payloads: () => payloads, warmUp: () => warmUp });
  if (ceiling.ceiling !== 'relay' || !('figures' in ceiling)) throw new Error(`no relay figures: ${JSON.stringify(ceiling)}`);
  const { records, received, lost, warmedUp } = ceiling.figures;
  expect({ records, received, lost, warmedUp }).toEqual({ records: 300, received: 300, lost: 0, warmedUp: 120 });
});
