import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/lib/rate-limit.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('createRateLimiter', () => {
  it('allows a full burst at once', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    const answers = Array.from({ length: 10 }, () => limiter.take('sn1'));
    expect(answers).toEqual(Array(10).fill(0));
  });

  it('refuses past the burst with the wait until the next token', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    for (let i = 0; i < 10; i++) limiter.take('sn1');
    expect(limiter.take('sn1')).toBe(200);
  });

  it('does not spend a token on a refusal', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    for (let i = 0; i < 10; i++) limiter.take('sn1');
    expect(limiter.take('sn1')).toBe(200);
    expect(limiter.take('sn1')).toBe(200);
    c.advance(200);
    expect(limiter.take('sn1')).toBe(0);
  });

  it('shortens the wait as time passes', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    for (let i = 0; i < 10; i++) limiter.take('sn1');
    c.advance(100);
    expect(limiter.take('sn1')).toBe(100);
  });

  it('refills at perSecond', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    for (let i = 0; i < 10; i++) limiter.take('sn1');
    c.advance(1000);
    const allowed = Array.from({ length: 6 }, () => limiter.take('sn1')).filter((w) => w === 0).length;
    expect(allowed).toBe(5);
  });

  it('never holds more than the burst after a long pause', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    limiter.take('sn1');
    c.advance(3_600_000);
    const allowed = Array.from({ length: 20 }, () => limiter.take('sn1')).filter((w) => w === 0).length;
    expect(allowed).toBe(10);
  });

  it('does not refuse for an hour after the clock it reads steps an hour back', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    limiter.take('sn1');
    c.advance(-3_600_000);
    expect(limiter.take('sn1')).toBe(0);
    c.advance(1000);
    const allowed = Array.from({ length: 20 }, () => limiter.take('sn1')).filter((w) => w === 0).length;
    expect(allowed).toBe(10);
  });

  it('keeps one bucket per key', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 5, burst: 10 }, c.now);
    for (let i = 0; i < 10; i++) limiter.take('sn1');
    expect(limiter.take('sn1')).toBeGreaterThan(0);
    expect(limiter.take('sn2')).toBe(0);
  });

  it('handles a slow rate (1 per minute)', () => {
    const c = clock();
    const limiter = createRateLimiter({ perSecond: 1 / 60, burst: 1 }, c.now);
    expect(limiter.take('sn1')).toBe(0);
    expect(limiter.take('sn1')).toBe(60_000);
    c.advance(60_000);
    expect(limiter.take('sn1')).toBe(0);
  });
});
