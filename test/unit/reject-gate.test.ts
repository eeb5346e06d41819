import { describe, expect, it } from 'vitest';
import { createRejectGate } from '../../src/store/reject-gate.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const kept = (keep: () => boolean, times: number) => Array.from({ length: times }, keep).filter(Boolean).length;

describe('createRejectGate', () => {
  it('keeps a burst, then one a second', () => {
    const time = clock();
    const gate = createRejectGate({ perSecond: 1, burst: 20, maxSerials: 100 }, time.now);
    expect(kept(() => gate.keep('A'), 500)).toBe(20);
    time.advance(1000);
    expect(kept(() => gate.keep('A'), 10)).toBe(1);
    time.advance(5500);
    expect(kept(() => gate.keep('A'), 10)).toBe(5);
  });

  it('gives each serial its own bucket', () => {
    const gate = createRejectGate({ perSecond: 1, burst: 3, maxSerials: 100 }, clock().now);
    expect(kept(() => gate.keep('A'), 10)).toBe(3);
    expect(kept(() => gate.keep('B'), 10)).toBe(3);
  });

  it('gives rejects without a known serial one shared bucket', () => {
    const gate = createRejectGate({ perSecond: 1, burst: 3, maxSerials: 100 }, clock().now);
    expect(kept(() => gate.keep(undefined), 10)).toBe(3);
    expect(gate.keep('A')).toBe(true);
    expect(gate.keep(undefined)).toBe(false);
  });

  it('holds at most maxSerials buckets: past them new serials share the shared bucket', () => {
    const gate = createRejectGate({ perSecond: 1, burst: 2, maxSerials: 3 }, clock().now);
    for (const sn of ['A', 'B', 'C']) expect(kept(() => gate.keep(sn), 2)).toBe(2);
    expect(gate.serials).toBe(3);
    expect(kept(() => gate.keep('D'), 5) + kept(() => gate.keep('E'), 5)).toBe(2);
    expect(gate.serials).toBe(3);
  });

  it('drops buckets left idle long enough to be full again, and so makes room', () => {
    const time = clock();
    const gate = createRejectGate({ perSecond: 1, burst: 2, maxSerials: 3 }, time.now);
    for (const sn of ['A', 'B', 'C']) gate.keep(sn);
    time.advance(1000);
    gate.keep('C'); // still in use
    time.advance(1000); // A and B idle for 2 s: a burst of 2 at 1 a second
    expect(gate.keep('D')).toBe(true);
    expect(gate.serials).toBe(2);
    expect(kept(() => gate.keep('D'), 5)).toBe(1);
  });

  it('does not mind the clock stepping back', () => {
    const time = clock();
    const gate = createRejectGate({ perSecond: 1, burst: 2, maxSerials: 3 }, time.now);
    expect(kept(() => gate.keep('A'), 5)).toBe(2);
    time.advance(-60_000);
    expect(gate.keep('A')).toBe(false);
  });
});
