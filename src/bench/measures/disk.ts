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
