import { expect, it } from 'vitest';
import { payloadRing } from '../../src/store/sqlite/payload-ring.ts';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

it('copies each payload into one stretch of shared memory, given back in order, and goes round without overwriting one still taken', () => {
  const ring = payloadRing(100);
  const a = ring.take(bytes(40, 1))!;
  const b = ring.take(bytes(40, 2))!;
  expect(a.view.buffer).toBeInstanceOf(SharedArrayBuffer);
  // 20 bytes left at the end: 30 do not fit there, nor at the start while the first is taken.
  expect(ring.take(bytes(30, 3))).toBeUndefined();
  ring.giveBack(a.claim);
  // At the start now; the 20 bytes it skipped count with it.
  const c = ring.take(bytes(30, 3))!;
  expect(c.claim).toBe(50);
  expect(c.view.byteOffset).toBe(0);
  expect([...b.view].every((x) => x === 2)).toBe(true);
  expect([...c.view].every((x) => x === 3)).toBe(true);
  // Between the third's end and the second's start: 10 bytes.
  expect(ring.take(bytes(11, 4))).toBeUndefined();
  const d = ring.take(bytes(10, 4))!;
  expect(d.view.byteOffset).toBe(30);
  ring.giveBack(b.claim);
  ring.giveBack(c.claim);
  ring.giveBack(d.claim);
  // Empty: the next starts at the beginning, however large up to the whole.
  expect(ring.take(bytes(100, 5))!.view.byteOffset).toBe(0);
  ring.clear();
  expect(ring.take(bytes(101, 6))).toBeUndefined();
  expect(ring.take(bytes(100, 6))).toBeDefined();
});

it('past its soft size starts again at the beginning as soon as there is room there, so it touches no more pages than its load needs', () => {
  const ring = payloadRing(100, 50);
  const a = ring.take(bytes(30, 1))!;
  const b = ring.take(bytes(30, 2))!;
  // Past 50, but the room before the oldest (none) is too small: on at 60.
  const c = ring.take(bytes(10, 3))!;
  expect(c.view.byteOffset).toBe(60);
  ring.giveBack(a.claim);
  // 30 bytes free at the start: taken there, the end it skips counting with it.
  const d = ring.take(bytes(20, 4))!;
  expect(d.view.byteOffset).toBe(0);
  expect(d.claim).toBe(30 + 20);
  // Under the soft size: on from there.
  expect(ring.take(bytes(10, 5))!.view.byteOffset).toBe(20);
  // Full up to the second's start: 0 bytes left.
  expect(ring.take(bytes(1, 6))).toBeUndefined();
  for (const taken of [b, c, d]) expect([...taken.view].every((x) => x === taken.view[0])).toBe(true);
});

it('starts again at the beginning when the last payload ended at the very end', () => {
  const ring = payloadRing(100);
  const a = ring.take(bytes(50, 1))!;
  const b = ring.take(bytes(50, 2))!;
  ring.giveBack(a.claim);
  // Nothing to skip, yet it cannot go on from the end.
  const c = ring.take(bytes(30, 3))!;
  expect([c.view.byteOffset, c.claim]).toEqual([0, 30]);
  expect([...b.view].every((x) => x === 2)).toBe(true);
});
