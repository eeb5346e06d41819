import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHeldReplies, HOLD_MS } from '../../src/commands/held-replies.ts';

// README §Running several replicas: a reply faster than the record of its
// publish is held until a command of its terminal is recorded published,
// within its bounds of time and count.

function reply() {
  const seen: string[] = [];
  return {
    seen,
    again: (last: boolean) => void seen.push(last ? 'last' : 'again'),
    release: (err: Error) => void seen.push(`released: ${err.message}`),
  };
}

describe('held replies', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('lets a reply go again when its terminal has a publish recorded, and only that terminal', () => {
    const held = createHeldReplies();
    const a = reply();
    const b = reply();
    expect(held.hold('A', Date.now(), Date.now(), a)).toBe(true);
    expect(held.hold('B', Date.now(), Date.now(), b)).toBe(true);
    held.published(['A']);
    expect(a.seen).toEqual(['again']);
    expect(b.seen).toEqual([]);
    expect(held.size).toBe(1);
  });

  it('stores a reply as ever once its time is up, counted from when it was first held', () => {
    const held = createHeldReplies();
    const r = reply();
    const since = Date.now();
    held.hold('A', since, since, r);
    vi.advanceTimersByTime(HOLD_MS - 1);
    expect(r.seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(r.seen).toEqual(['last']);
    // Held again after another try: only what is left of its time; none left, no hold.
    expect(held.hold('A', since, Date.now(), reply())).toBe(false);
    expect(held.size).toBe(0);
  });

  it('frees at once a reply whose publish was recorded while it was being stored', async () => {
    const held = createHeldReplies();
    const sent = Date.now();
    held.published(['A']);
    const r = reply();
    expect(held.hold('A', sent, sent, r)).toBe(true);
    await Promise.resolve();
    expect(r.seen).toEqual(['again']);
  });

  it('holds no more than its bounds, per terminal and in all', () => {
    const held = createHeldReplies({ max: 3, perTerminal: 2 });
    const now = Date.now();
    expect([1, 2, 3].map(() => held.hold('A', now, now, reply()))).toEqual([true, true, false]);
    expect([1, 2].map(() => held.hold('B', now, now, reply()))).toEqual([true, false]);
    expect(held.size).toBe(3);
  });

  it('releases every held reply unacknowledged when it stops, and holds nothing after', () => {
    const held = createHeldReplies();
    const r = reply();
    held.hold('A', Date.now(), Date.now(), r);
    held.stop();
    expect(r.seen).toEqual(['released: stopping: a held reply is left unacknowledged']);
    expect(held.hold('A', Date.now(), Date.now(), reply())).toBe(false);
    vi.advanceTimersByTime(HOLD_MS);
    expect(r.seen).toHaveLength(1);
  });
});
