import { parentPort, workerData } from 'node:worker_threads';
import type { EventPolicy } from '../events.ts';
import { createJobRunner, type Job } from './jobs.ts';
import { migrateDatabase, openDatabase, type Sync } from './open.ts';

// The only writer of the database. It runs on its own thread because
// better-sqlite3 is synchronous: a commit that waits for the disk (fsync) must
// never stall heartbeat answers or the API on the main thread.

export interface WriterOptions extends EventPolicy {
  dataDir: string;
  sync: Sync;
}

export type ToWriter = { batch: number; jobs: Job[] } | { close: true };
export type FromWriter =
  | { ready: true }
  | { batch: number; results: import('./jobs.ts').JobResult[] }
  | { batch: number; error: string }
  | { fatal: string };

const options = workerData as WriterOptions;
const port = parentPort!;

try {
  const { sqlite, db } = openDatabase(options.dataDir, options.sync);
  migrateDatabase(db);
  const runner = createJobRunner(db, options);
  port.on('message', (message: ToWriter) => {
    if ('close' in message) {
      sqlite.close();
      port.close();
      return;
    }
    try {
      port.postMessage({ batch: message.batch, results: runner.applyBatch(message.jobs) } satisfies FromWriter);
    } catch (err) {
      port.postMessage({ batch: message.batch, error: (err as Error).message } satisfies FromWriter);
    }
  });
  port.postMessage({ ready: true } satisfies FromWriter);
} catch (err) {
  port.postMessage({ fatal: (err as Error).message } satisfies FromWriter);
}
