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

interface Opened {
  handle: Promise<FileHandle>;
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
  close(): Promise<void>;
}

export function openSegmentReader(dataDir: string): SegmentReader {
  /** In order of use, least recent first. */
  const opened = new Map<number, Opened>();
  let closed = false;

  function release(entry: Opened) {
    entry.reading -= 1;
    if (entry.evicted && entry.reading === 0) void entry.handle.then((h) => h.close()).catch(() => {});
  }

  function acquire(segment: number): Opened {
    let entry = opened.get(segment);
    if (entry) opened.delete(segment);
    else {
      entry = { handle: open(segmentPath(dataDir, segment), 'r'), reading: 0, evicted: false };
      // A failed open is not kept: the next read tries again.
      entry.handle.catch(() => opened.get(segment) === entry && opened.delete(segment));
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

  return {
    async read({ segment, position, length }) {
      if (closed) throw new Error('image segments closed');
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
          if (bytesRead === 0) return undefined; // past the end: torn
          filled += bytesRead;
        }
        return intact(bytes);
      } finally {
        release(entry);
      }
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
