import { describe, expect, it } from 'vitest';
import { againstCeilings, type Result } from '../../src/bench/report/report.ts';
import type { Ceiling } from '../../src/bench/scenarios/ceilings.ts';

// Only the figures the ratios read; the rest of a real result does not matter here.
const burst = (images: 'inline' | 'none', deliveredPerSecond: number) =>
  ({ scenario: 'delivery-burst', transport: 'embedded', sync: 'full', figures: { images, deliveredPerSecond } }) as unknown as Result;
const relay = (kind: 'image' | 'none', perSecond: number) => ({ ceiling: 'relay', transport: 'embedded', kind, figures: { perSecond } }) as unknown as Ceiling;
const post = (kind: 'image' | 'none', perSecond: number) => ({ ceiling: 'post', kind, figures: { perSecond } }) as unknown as Ceiling;

describe('againstCeilings', () => {
  it('sets a burst against the relay, the POSTs, and the two one after the other', () => {
    const rows = againstCeilings([burst('inline', 1500)], [relay('image', 8000), relay('none', 24000), post('image', 5000), post('none', 7000)]);
    expect(rows.map((row) => [row.ceiling, Math.round(row.ceilingValue), row.ratio.toFixed(3)])).toEqual([
      ['relay msgs/s', 8000, '0.188'],
      ['POST/s', 5000, '0.300'],
      // 1 ÷ (1/8,000 + 1/5,000) = 3,077 a second
      ['relay then POST /s', 3077, '0.487'],
    ]);
  });

  it('leaves out a ratio whose ceiling was not measured', () => {
    const rows = againstCeilings([burst('none', 3000)], [relay('none', 24000)]);
    expect(rows.map((row) => row.ceiling)).toEqual(['relay msgs/s']);
  });
});

describe('the cluster scenario', () => {
  const cluster = (setup: string, p99Ms: number, deliveredPerSecond: number) =>
    ({
      scenario: 'cluster',
      transport: 'mosquitto',
      sync: 'full',
      figures: { setup, heartbeats: { terminals: 1000, roundTrip: { p99Ms } }, delivery: { deliveredPerSecond } },
    }) as unknown as Result;
  const echo = (terminals: number, p99Ms: number) =>
    ({ ceiling: 'echo', transport: 'mosquitto', figures: { terminals, roundTrip: { p99Ms } } }) as unknown as Ceiling;

  it('sets each setup against the echo of as many terminals and the relay then POST of its records', () => {
    const rows = againstCeilings(
      [cluster('postgres-2', 40, 600)],
      [echo(100, 5), echo(1000, 20), { ...relay('image', 8000), transport: 'mosquitto' } as Ceiling, post('image', 5000)],
    );
    expect(rows.map((row) => [row.variant, row.ceiling, Math.round(row.ceilingValue), row.ratio.toFixed(3)])).toEqual([
      ['postgres-2', 'echo p99 ms', 20, '2.000'],
      ['postgres-2', 'relay then POST /s', 3077, '0.195'],
    ]);
  });
});
