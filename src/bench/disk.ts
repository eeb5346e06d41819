import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { monotonicMs } from './clock.ts';
import { makeTempDir, removeTempDir } from './proc.ts';
import { distribution, type Distribution } from './stats.ts';

export interface DiskFigures {
  appends: number;
  bytes: number;
  /** One append + fdatasync, as a commit with SQLITE_SYNC=full does to the WAL. */
  sync: Distribution | undefined;
  perSecond: number;
}

/**
 * The floor under every durable acknowledgement: a record's worth appended to
 * a file in the same temp dir the bridge's data goes to, then synced, one at a
 * time. A commit cannot be faster than this, and its worst case is the disk's.
 */
export function measureDisk(appends: number, bytes: number): DiskFigures {
  const dir = makeTempDir('facegate-bench-disk-');
  const fd = openSync(join(dir, 'wal'), 'w');
  const chunk = Buffer.alloc(bytes, 1);
  const samples: number[] = [];
  const started = monotonicMs();
  try {
    for (let i = 0; i < appends; i++) {
      const t = monotonicMs();
      writeSync(fd, chunk);
      fdatasyncSync(fd);
      samples.push(monotonicMs() - t);
    }
  } finally {
    closeSync(fd);
    removeTempDir(dir);
  }
  return { appends, bytes, sync: distribution(samples), perSecond: appends / ((monotonicMs() - started) / 1000) };
}
