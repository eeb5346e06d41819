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

it('past its soft size starts again at the beginning when its load fits there, so it touches no more pages than the load needs', () => {
  const ring = payloadRing(100, 50);
  // A load of two 20-byte payloads at a time, taken and given back in turn, for a long while.
  let older = ring.take(bytes(20, 0))!;
  let furthest = 0;
  for (let i = 1; i <= 50; i++) {
    const newer = ring.take(bytes(20, i))!;
    furthest = Math.max(furthest, newer.view.byteOffset + 20);
    ring.giveBack(older.claim);
    older = newer;
  }
  // It went round within the soft size and one payload past it, never to the end.
  expect(furthest).toBe(60);
});

it('gives a load larger than its soft size the whole ring, not the room before the oldest payload', () => {
  const ring = payloadRing(100, 50);
  const a = ring.take(bytes(30, 1))!;
  const b = ring.take(bytes(30, 2))!;
  const c = ring.take(bytes(10, 3))!;
  expect(c.view.byteOffset).toBe(60);
  ring.giveBack(a.claim);
  // 30 bytes free at the start, but the load (40 taken, 60 with this one) is past the soft size: on to the end.
  const d = ring.take(bytes(20, 4))!;
  expect([d.view.byteOffset, d.claim]).toEqual([70, 20]);
  const e = ring.take(bytes(10, 5))!;
  expect(e.view.byteOffset).toBe(90);
  // The end is reached: the start's 30 bytes are next, and all of them.
  const f = ring.take(bytes(30, 6))!;
  expect([f.view.byteOffset, f.claim]).toEqual([0, 30]);
  expect(ring.take(bytes(1, 7))).toBeUndefined();
  ring.giveBack(b.claim);
  ring.giveBack(c.claim);
  ring.giveBack(d.claim);
  ring.giveBack(e.claim);
  const g = ring.take(bytes(20, 8))!;
  expect(g.view.byteOffset).toBe(30);
  ring.giveBack(f.claim);
  // The load (20 bytes, 40 with the next) fits in the soft size again: the next starts at the beginning, the end it skips counting with it.
  const h = ring.take(bytes(20, 9))!;
  expect([h.view.byteOffset, h.claim]).toEqual([0, 50 + 20]);
  expect([...g.view].every((x) => x === 8)).toBe(true);
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

it('copies payloads that lie anywhere in their buffers to any place in the ring, byte for byte, and takes an empty one', () => {
  const ring = payloadRing(1000);
  // Views at odd offsets of a larger buffer, as a payload inside a socket's read is.
  const read = Uint8Array.from({ length: 700 }, (_, i) => (i * 7 + 3) & 0xff);
  const first = read.subarray(1, 334);
  const second = read.subarray(335, 700);
  const a = ring.take(first)!;
  const empty = ring.take(new Uint8Array(0))!;
  const b = ring.take(second)!;
  expect([a.view.byteOffset, empty.view.byteOffset, b.view.byteOffset]).toEqual([0, 333, 333]);
  expect(empty.view.length).toBe(0);
  expect(Buffer.from(a.view).equals(Buffer.from(first))).toBe(true);
  expect(Buffer.from(b.view).equals(Buffer.from(second))).toBe(true);
  // A copy: what the socket's buffer holds next changes nothing in the ring.
  read.fill(0);
  expect(a.view[0]).toBe(10);
});
