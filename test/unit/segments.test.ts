import { readFileSync, rmSync, truncateSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { listSegments, segmentPath, segmentsSize } from '../../src/store/sqlite/segment-files.ts';
import { openSegmentReader, type SegmentReader } from '../../src/store/sqlite/segment-reader.ts';
import { openSegmentWriter, type SegmentWriter } from '../../src/store/sqlite/segment-writer.ts';

// The image segments on their own, with a segment bound of 100 bytes: where
// each image goes, what a failed transaction leaves, what an erasure and
// retention do, and what a read answers for bytes that are not there.

let dir: string;
let writer: SegmentWriter;
let reader: SegmentReader;
const text = (fill: string, n: number) => Buffer.from(fill.repeat(n));

beforeEach(() => {
  dir = makeTempDir('facegate-segments-');
  writer = openSegmentWriter(dir, 'full', 100);
  reader = openSegmentReader(dir);
});

afterEach(async () => {
  writer.close();
  await reader.close();
  removeTempDir(dir);
});

describe('the segment writer', () => {
  it('appends images back to back, starts a new segment past the bound, and gives an image larger than it a segment of its own', async () => {
    const a = writer.append(text('a', 60));
    const b = writer.append(text('b', 30));
    const c = writer.append(text('c', 30)); // 120 > 100: the next segment
    const big = writer.append(text('d', 250));
    const e = writer.append(text('e', 10));
    expect([a, b, c, big, e]).toEqual([
      { segment: 1, position: 0, length: 60 },
      { segment: 1, position: 60, length: 30 },
      { segment: 2, position: 0, length: 30 },
      { segment: 3, position: 0, length: 250 },
      { segment: 4, position: 0, length: 10 },
    ]);
    expect(writer.flush()).toBe(10); // the rest went out as each segment closed
    expect(listSegments(dir)).toEqual([1, 2, 3, 4]);
    expect(segmentsSize(dir)).toEqual({ segments: 4, bytes: 380 });
    expect((await reader.read(b))?.toString()).toBe('b'.repeat(30));
    expect((await reader.read(big))?.toString()).toBe('d'.repeat(250));
  });

  it('gives the offsets of a discarded transaction again, and appends after what a restart finds', () => {
    writer.append(text('a', 10));
    writer.discard();
    expect(writer.append(text('b', 10))).toEqual({ segment: 1, position: 0, length: 10 });
    writer.flush();
    writer.close();
    writer = openSegmentWriter(dir, 'full', 100);
    expect(writer.append(text('c', 10))).toEqual({ segment: 1, position: 10, length: 10 });
  });

  it('overwrites erased images with zeros, one appended but not yet written included, and reads them as no image', async () => {
    const kept = writer.append(text('k', 20));
    const erased = writer.append(text('x', 20));
    writer.flush();
    const pending = writer.append(text('y', 20));
    writer.zero([erased, pending]);
    writer.flush();
    const bytes = readFileSync(segmentPath(dir, 1));
    expect(bytes.includes('x')).toBe(false);
    expect(bytes.includes('y')).toBe(false);
    expect(bytes.subarray(20, 60).equals(Buffer.alloc(40))).toBe(true);
    expect(await reader.read(erased)).toBeUndefined();
    expect(await reader.read(pending)).toBeUndefined();
    expect((await reader.read(kept))?.toString()).toBe('k'.repeat(20));
  });

  it('unlinks the segments no row refers to, never the newest', () => {
    for (const fill of 'abcd') writer.append(text(fill, 80));
    writer.flush();
    expect(listSegments(dir)).toEqual([1, 2, 3, 4]);
    expect(writer.unlinkUnreferenced(new Set([2]))).toBe(2);
    expect(listSegments(dir)).toEqual([2, 4]);
    expect(writer.unlinkUnreferenced(new Set())).toBe(1);
    expect(listSegments(dir)).toEqual([4]);
  });
});

describe('the segment reader', () => {
  it('answers no image for a segment that is gone or shorter than the row says, and reads through more segments than it keeps open', async () => {
    const refs = Array.from({ length: 12 }, (_, i) => writer.append(text(String.fromCharCode(97 + i), 90)));
    writer.flush();
    for (const [i, ref] of refs.entries()) expect((await reader.read(ref))?.toString()).toBe(String.fromCharCode(97 + i).repeat(90));
    // Again, concurrently: the evicted handles are opened anew.
    const again = await Promise.all(refs.map((ref) => reader.read(ref)));
    expect(again.map((bytes) => bytes?.length)).toEqual(refs.map(() => 90));
    truncateSync(segmentPath(dir, 3), 89);
    expect(await reader.read(refs[2])).toBeUndefined();
    writer.unlinkUnreferenced(new Set(refs.slice(1).map((ref) => ref.segment)));
    expect(await reader.read(refs[0])).toBeUndefined();
    expect(await reader.read({ segment: 99, position: 0, length: 10 })).toBeUndefined();
    // The same of segments it holds open (the last eight read): their descriptors are stat'ed, not their paths.
    truncateSync(segmentPath(dir, 12), 89);
    expect(await reader.read(refs[11])).toBeUndefined();
    rmSync(segmentPath(dir, 11));
    expect(await reader.read(refs[10])).toBeUndefined();
    expect((await reader.read(refs[9]))?.toString()).toBe('j'.repeat(90));
  });

  it('reads the images after one with it, gives each its own bytes, and sees an erasure once told to forget what it read', async () => {
    writer.close();
    writer = openSegmentWriter(dir, 'full'); // the real bound: one segment
    const refs = Array.from({ length: 8 }, (_, i) => writer.append(text(String.fromCharCode(97 + i), 30 + i)));
    writer.flush();
    // As the webhooks read them: several at once, in order.
    const read = await Promise.all(refs.map((ref) => reader.read(ref)));
    expect(read.map((bytes) => bytes?.toString())).toEqual(refs.map((ref, i) => String.fromCharCode(97 + i).repeat(ref.length)));
    // Appended after the read that ended at the segment's end: read anew.
    const later = writer.append(text('z', 40));
    writer.flush();
    expect((await reader.read(later))?.toString()).toBe('z'.repeat(40));
    expect((await reader.read(refs[0]))?.toString()).toBe('a'.repeat(30));
    writer.zero([refs[3]]);
    writer.flush();
    reader.forget();
    expect(await reader.read(refs[3])).toBeUndefined();
    expect((await reader.read(refs[4]))?.toString()).toBe('e'.repeat(34));
  });

  it('reads ahead no further than the end of the segment: the newest image holds a buffer of its own size', async () => {
    writer.close();
    writer = openSegmentWriter(dir, 'full');
    // Each over half of Node's shared pool (8 KB on Node 20, 64 KB on 24), so that a read's buffer is its own and its size the read's.
    const size = Buffer.poolSize;
    const [a, b] = [writer.append(text('a', size)), writer.append(text('b', size + 1000))];
    writer.flush();
    const first = await reader.read(a);
    expect(first?.buffer.byteLength).toBe(2 * size + 1000); // both images, one read
    expect((await reader.read(b))?.buffer).toBe(first?.buffer);
    const newest = writer.append(text('c', size));
    writer.flush();
    const c = await reader.read(newest);
    expect(c?.toString()).toBe('c'.repeat(size));
    expect(c?.buffer.byteLength).toBe(size);
  });
});
