import { fstatSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { intact, type SegmentRef, segmentPath } from './segment-files.ts';

// The main thread's half of the image segments (segment-files.ts): a
// positioned read of an image, asynchronous so that a slow disk holds the
// webhook or the request that waits for it, never the event loop.

/**
 * Segments kept open at once. Reads go mostly to the newest (webhooks follow
 * ingest) and now and then to an older one (GET /api/events/{id}/image): a
 * few handles, not one per segment ever read.
 */
const OPEN_SEGMENTS = 8;
/**
 * What a read takes at least: the image asked for and those after it.
 * Webhooks go out in the order the records came, so their images lie back
 * to back in the newest segment, and a few requests are in flight at once:
 * one read serves ~7 images of ~36 KB. Each read is a round trip through
 * libuv's thread pool, and in a burst those round trips held the main thread
 * longer than anything else a webhook costs (README §Performance).
 */
const READ_AHEAD = 256 * 1024;

interface Opened {
  handle: Promise<FileHandle>;
  /** Its descriptor, once open: what sizeOf stats. */
  fd?: number;
  /** Reads in progress on it: an evicted handle is closed once they are done. */
  reading: number;
  evicted: boolean;
}

export interface SegmentReader {
  /**
   * The image's bytes, or undefined when they are not there (README §What
   * survives what): a segment unlinked or shorter than the row says (a torn
   * disk), or bytes overwritten by an erasure. The stored text never holds a
   * NUL (it is JSON string content), so one in it means zeros, not an image.
   */
  read(ref: SegmentRef): Promise<Buffer | undefined>;
  /** Forgets the bytes read ahead: images were overwritten with zeros (an erasure), which a read from now on must see. */
  forget(): void;
  close(): Promise<void>;
}

/** The bytes of the last read, from `start` on: a view of them is an image that lies within. */
interface Ahead {
  segment: number;
  start: number;
  bytes: Promise<Buffer | undefined>;
}

export function openSegmentReader(dataDir: string): SegmentReader {
  /** In order of use, least recent first. */
  const opened = new Map<number, Opened>();
  let ahead: Ahead | undefined;
  let closed = false;

  function release(entry: Opened) {
    entry.reading -= 1;
    if (entry.evicted && entry.reading === 0) void entry.handle.then((h) => h.close()).catch(() => {});
  }

  function acquire(segment: number): Opened {
    let entry = opened.get(segment);
    if (entry) opened.delete(segment);
    else {
      const made: Opened = { handle: open(segmentPath(dataDir, segment), 'r'), reading: 0, evicted: false };
      made.handle.then(
        (handle) => (made.fd = handle.fd),
        // A failed open is not kept: the next read tries again.
        () => opened.get(segment) === made && opened.delete(segment),
      );
      entry = made;
    }
    opened.set(segment, entry);
    entry.reading += 1;
    while (opened.size > OPEN_SEGMENTS) {
      const [oldest, victim] = opened.entries().next().value as [number, Opened];
      opened.delete(oldest);
      victim.evicted = true;
      if (victim.reading === 0) void victim.handle.then((h) => h.close()).catch(() => {});
    }
    return entry;
  }

  /**
   * The segment's size; undefined when it is gone. An open segment's
   * descriptor is stat'ed, one not open its path: while a backlog of
   * webhooks drained, the path's stat took ~14 µs a read, 4 % of the main
   * thread with the path's making, and the descriptor's ~6 (README
   * §Performance, The burst through Mosquitto). A segment unlinked while
   * open has no link left. A handle in `opened` is not closed before it
   * leaves it (evicted), so its descriptor is its segment's.
   */
  function sizeOf(segment: number): number | undefined {
    const fd = opened.get(segment)?.fd;
    if (fd === undefined) return statSync(segmentPath(dataDir, segment), { throwIfNoEntry: false })?.size;
    const stat = fstatSync(fd);
    return stat.nlink === 0 ? undefined : stat.size;
  }

  /** The `length` bytes at `from` of what a read gave, when they are all there. */
  const within = (bytes: Buffer | undefined, from: number, length: number) =>
    bytes && from + length <= bytes.length ? bytes.subarray(from, from + length) : undefined;

  /** Up to `length` bytes from `position`: fewer at the end of the segment; undefined when it is gone. */
  async function readAt(segment: number, position: number, length: number): Promise<Buffer | undefined> {
    const entry = acquire(segment);
    try {
      let handle: FileHandle;
      try {
        handle = await entry.handle;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      const bytes = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(bytes, filled, length - filled, position + filled);
        if (bytesRead === 0) break; // the end of the segment
        filled += bytesRead;
      }
      return bytes.subarray(0, filled);
    } finally {
      release(entry);
    }
  }

  return {
    async read({ segment, position, length }) {
      if (closed) throw new Error('image segments closed');
      // Bytes of a segment never change once written, but for an erasure's
      // zeros (forget()) and a segment cut short or unlinked, which its size
      // tells (a stat, no read, where a read through the pool is ~20 µs).
      // One stat a read, whether the bytes were read ahead or are read now.
      const size = sizeOf(segment);
      if (size === undefined || position + length > size) return undefined;
      const last = ahead;
      if (last && last.segment === segment && position >= last.start && position + length <= last.start + READ_AHEAD) {
        const image = within(await last.bytes, position - last.start, length);
        if (image) return intact(image);
      }
      // No further than the segment's end. At an even pace the image asked
      // for is the newest, and a buffer of READ_AHEAD for its ~36 KB counted
      // seven times its size against V8's heap limit (external memory) until
      // the next collection: enough to start a full one every ~150 ms
      // (README §Performance, Steady).
      const read = readAt(segment, position, Math.max(length, Math.min(READ_AHEAD, size - position)));
      ahead = { segment, start: position, bytes: read.catch(() => undefined) };
      // Still shorter than the row says (the segment was cut meanwhile): no image.
      const image = within(await read, 0, length);
      return image && intact(image);
    },
    forget() {
      ahead = undefined;
    },
    async close() {
      closed = true;
      const entries = [...opened.values()];
      opened.clear();
      for (const entry of entries) entry.evicted = true;
      await Promise.all(entries.filter((e) => e.reading === 0).map((e) => e.handle.then((h) => h.close()).catch(() => {})));
    },
  };
}
