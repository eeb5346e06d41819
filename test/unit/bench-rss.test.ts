import { afterEach, expect, it, vi } from 'vitest';
import { monotonicMs } from '../../src/bench/measures/clock.ts';
import { peakBetween, sampleRss } from '../../src/bench/measures/rss.ts';

afterEach(() => {
  vi.useRealTimers();
});

it('keeps each reading with its moment, and gives the peak of a window only', () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'hrtime'] });
  const readings = [100, 300, 150, 120];
  let reads = 0;
  const sampler = sampleRss(() => readings[reads++], 10);
  vi.advanceTimersByTime(20);
  sampler.stop();
  // A second stop takes no second last sample.
  sampler.stop();
  expect(sampler.samples.map((s) => s.bytes)).toEqual(readings);
  const [first, , third] = sampler.samples;
  expect(third.at - first.at).toBe(20);
  expect(peakBetween(sampler.samples, first.at, monotonicMs())).toBe(300);
  // From the third on: a burst after its first second, say.
  expect(peakBetween(sampler.samples, third.at, monotonicMs())).toBe(150);
  expect(peakBetween(sampler.samples, third.at + 1, third.at + 2)).toBeUndefined();
});
