import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir, removeTempDir } from '../../kit/temp-dir.ts';
import { monotonicMs } from './clock.ts';
import { type Distribution, distribution } from './stats.ts';

export interface DiskFigures {
  appends: number;
  bytes: number;
  /** Appends a second asked for; undefined: one after the other, as fast as the disk takes them. */
  pace: number | undefined;
  /** One append + fdatasync, as a commit with SQLITE_SYNC=full does to the WAL. */
  sync: Distribution | undefined;
  perSecond: number;
}

/**
 * The floor under every durable acknowledgement: a record's worth appended to
 * a file in the same temp dir the bridge's data goes to, then synced, one at a
 * time. A commit cannot be faster than this, and its worst case is the disk's.
 * Back to back it says how many synced commits a second the disk allows; at
 * the steady scenario's pace, for long enough to meet the disk's occasional
 * stalls, it is the floor under that scenario's p99.
 */
export async function measureDisk(options: { appends: number; bytes: number; pace?: number }): Promise<DiskFigures> {
  const { appends, bytes, pace } = options;
  const dir = makeTempDir('facegate-bench-disk-');
  const fd = openSync(join(dir, 'wal'), 'w');
  const chunk = Buffer.alloc(bytes, 1);
  const samples: number[] = [];
  const started = monotonicMs();
  try {
    for (let i = 0; i < appends; i++) {
      if (pace !== undefined) {
        const due = started + (i * 1000) / pace;
        // A timer may fire up to a millisecond early on this clock (Node keeps whole milliseconds): wait again until due.
        while (due > monotonicMs()) await sleep(due - monotonicMs());
      }
      const t = monotonicMs();
      writeSync(fd, chunk);
      fdatasyncSync(fd);
      samples.push(monotonicMs() - t);
    }
  } finally {
    closeSync(fd);
    removeTempDir(dir);
  }
  return { appends, bytes, pace, sync: distribution(samples), perSecond: appends / ((monotonicMs() - started) / 1000) };
}

export interface WriteFigures {
  /** 'new': into a new file, every page a new one of the page cache; 'cached': the same bytes over that file again, its pages cached. */
  pages: 'new' | 'cached';
  images: number;
  imageBytes: number;
  /** The most one write takes: a batch of the writer's. */
  writeBytes: number;
  /** Time in the writes alone, per image: what the copy into the page cache costs (the syncs are not in it). */
  microsPerImage: number;
  /** Images a second, syncs included. */
  perSecond: number;
}

/**
 * What a burst's images cost the writer thread before any work of its own:
 * their bytes appended to a file in the bridge's temp dir, in writes of a
 * batch's size, each synced, as the segment writer does (store/sqlite/
 * segment-writer.ts); then the same bytes over the same file again. The two
 * differ where the machine is slow to give the page cache a page it has not
 * had before (README §Performance, Where the writer's time goes): a bridge
 * writes every image to new pages, the relay and the POSTs write none.
 */
export function measureImageWrites(options: { images: number; imageBytes: number; writeBytes: number }): WriteFigures[] {
  const { images, imageBytes, writeBytes } = options;
  const total = images * imageBytes;
  const chunk = Buffer.alloc(writeBytes, 0x41);
  const dir = makeTempDir('facegate-bench-writes-');
  const fd = openSync(join(dir, 'segment'), 'w');
  try {
    return (['new', 'cached'] as const).map((pages) => {
      let writing = 0;
      const started = monotonicMs();
      for (let at = 0; at < total; ) {
        const t = monotonicMs();
        const written = writeSync(fd, chunk, 0, Math.min(writeBytes, total - at), at);
        writing += monotonicMs() - t;
        if (written === 0) throw new Error('disk: nothing written');
        at += written;
        fdatasyncSync(fd);
      }
      const seconds = (monotonicMs() - started) / 1000;
      return { pages, images, imageBytes, writeBytes, microsPerImage: (writing * 1000) / images, perSecond: images / seconds };
    });
  } finally {
    closeSync(fd);
    removeTempDir(dir);
  }
}
