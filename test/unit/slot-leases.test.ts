import { describe, expect, it } from 'vitest';
import { everySlot } from '../../src/cluster/leases.ts';
import { fairShare, lockKeys } from '../../src/cluster/pg-leases.ts';
import { sharedFilter, slotClientId } from '../../src/transport/slots.ts';

// README §Running several replicas: how slots are named, shared and held.

describe('fairShare', () => {
  it.each([
    [4, 1],
    [4, 2],
    [4, 3],
    [4, 5],
    [8, 3],
    [64, 7],
    [1, 2],
  ])('gives %i slots among %i replicas shares that add up to all of them, none more than one apart', (count, live) => {
    const shares = Array.from({ length: live }, (_, i) => fairShare(count, live, i));
    expect(shares.reduce((a, b) => a + b, 0)).toBe(count);
    expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
  });
});

describe('lockKeys', () => {
  it('are positive 32-bit keys, one for the slots and one for the replicas, of each group its own', () => {
    const a = lockKeys('facegate');
    const b = lockKeys('site-b');
    for (const key of [a.slots, a.members, b.slots, b.members]) {
      expect(key).toBeGreaterThan(0);
      expect(key).toBeLessThan(2 ** 31);
    }
    expect(new Set([a.slots, a.members, b.slots, b.members]).size).toBe(4);
    expect(lockKeys('facegate')).toEqual(a);
  });
});

describe('everySlot', () => {
  it('holds every slot from the start and releases each at the stop', async () => {
    const leases = everySlot(3);
    const taken: number[] = [];
    const released: number[] = [];
    await leases.start({
      take: (n) => taken.push(n),
      release: async (n, lost) => {
        expect(lost).toBe(false);
        released.push(n);
      },
    });
    expect(taken).toEqual([0, 1, 2]);
    expect(leases.held()).toEqual([0, 1, 2]);
    expect(leases.healthy()).toBe(true);
    await leases.stop();
    expect(released.sort()).toEqual([0, 1, 2]);
    expect(leases.held()).toEqual([]);
  });
});

describe('slot names', () => {
  it('are fixed client ids and $share filters of the group', () => {
    expect(slotClientId('facegate', 3)).toBe('facegate-slot-3');
    expect(sharedFilter('facegate', '+')).toBe('$share/facegate/+');
  });
});
