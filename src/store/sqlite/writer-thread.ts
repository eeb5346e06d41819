import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { IngestPolicy } from '../../ingest/interpret.ts';
import { osThreadId } from '../../lib/os-thread.ts';
import { settleHeap } from '../../lib/settle-heap.ts';
import type { Accepting } from '../command-text.ts';
import type { Job } from '../store.ts';
import { createJobRunner, type JobOutcome } from './jobs.ts';
import { migrateDatabase, openDatabase, type Sync } from './open.ts';
import { openSegmentWriter, type SegmentWriter } from './segment-writer.ts';

// The only writer of the database. It runs on its own thread because
// better-sqlite3 is synchronous: a commit that waits for the disk (fsync) must
// never stall heartbeat answers or the API on the main thread.

export interface WriterOptions extends IngestPolicy, Accepting {
  dataDir: string;
  sync: Sync;
}

export type ToWriter = { batch: number; jobs: Job[] } | { close: true };
export type FromWriter =
  /** `thread`: its thread id in the operating system (osThreadId), for `top -H` and the bench. */
  | { ready: true; thread?: number }
  /** Each job's result, or its failure: one bad job fails alone. */
  | { batch: number; results: JobOutcome[] }
  | { batch: number; error: string }
  | { fatal: string };

/** Roughly what a batch adds to the WAL: a page per job at least, plus its payload. */
const PAGE_BYTES = 4096;
/**
 * After about this much WAL, a checkpoint once the writer has been idle for
 * IDLE_MS (a millisecond or so of copying that no batch waits for) ...
 */
const CHECKPOINT_IDLE_BYTES = 512 * 1024;
const IDLE_MS = 1;
/** ... or at once after this much, when batches keep coming: the WAL stays bounded under any load. */
const CHECKPOINT_BUSY_BYTES = 4 * 1024 * 1024;

function checkpoint(sqlite: Database.Database, segments: SegmentWriter, sync: Sync) {
  try {
    // SQLITE_SYNC=normal syncs the WAL only here: the images of the commits it makes durable are synced first.
    if (sync === 'normal') segments.sync();
    // PASSIVE waits for no reader; what a reader still needs is copied next time.
    sqlite.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // A failing disk fails the next commit too, which is where it is reported.
  }
}

function truncate(sqlite: Database.Database) {
  try {
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    // As for any checkpoint: a failing disk fails the next commit, where it is reported.
  }
}

/** The writer's page cache, in KiB: a batch's pages and the indexes' upper levels. */
const WRITER_CACHE_KB = 2000;

const options = workerData as WriterOptions;
const port = parentPort!;

try {
  const { sqlite, db } = openDatabase(options.dataDir, options.sync);
  // SQLite's automatic checkpoint runs inside a commit: every ~1,000 pages one
  // commit also copied ~4 MB back into the database file and synced it, ~9 ms
  // where a commit takes well under one. Here the checkpoint comes after the
  // results are on their way to the main thread: small ones in the writer's
  // idle moments, larger ones only while batches keep coming.
  sqlite.pragma('wal_autocheckpoint = 0');
  // better-sqlite3's default page cache is 16 MB a connection. The writer
  // reads little of what it wrote (the API and the deliveries read through
  // their own connection), and a burst filled its cache with pages it did not
  // read again: the bridge's memory grew with the store up to those 16 MB
  // (README §Performance, Where the burst's peak is).
  sqlite.pragma(`cache_size = -${WRITER_CACHE_KB}`);
  migrateDatabase(db);
  const segments = openSegmentWriter(options.dataDir, options.sync);
  const runner = createJobRunner(db, segments, options);
  let walBytes = 0;
  let idle: NodeJS.Timeout | undefined;
  const checkpointNow = () => {
    clearTimeout(idle);
    walBytes = 0;
    checkpoint(sqlite, segments, options.sync);
  };
  port.on('message', (message: ToWriter) => {
    clearTimeout(idle);
    /** A payload's images went to their segment, not to the WAL. */
    let imageBytes = 0;
    if ('close' in message) {
      segments.close();
      sqlite.close();
      port.close();
      return;
    }
    try {
      const applied = runner.applyBatch(message.jobs);
      // A person erased (README §People on the terminals): the WAL, which still holds what was deleted, is copied back
      // (overwriting the old pages) and emptied before anyone hears of it.
      if (applied.truncate) truncate(sqlite);
      port.postMessage({ batch: message.batch, results: applied.outcomes } satisfies FromWriter);
      // A retention step's deletions write far more than a page.
      walBytes += applied.walBytes;
      imageBytes = applied.imageBytes;
    } catch (err) {
      port.postMessage({ batch: message.batch, error: (err as Error).message } satisfies FromWriter);
    }
    walBytes += Math.max(0, message.jobs.reduce((sum, job) => sum + PAGE_BYTES + ('payload' in job ? job.payload.length : 0), 0) - imageBytes);
    if (walBytes >= CHECKPOINT_BUSY_BYTES) checkpointNow();
    else if (walBytes >= CHECKPOINT_IDLE_BYTES) idle = setTimeout(checkpointNow, IDLE_MS);
  });
  port.postMessage({ ready: true, thread: osThreadId() } satisfies FromWriter);
  // This thread's start grew its heap as the main thread's did (src/lib/settle-heap.ts).
  setImmediate(settleHeap);
} catch (err) {
  port.postMessage({ fatal: (err as Error).message } satisfies FromWriter);
}
