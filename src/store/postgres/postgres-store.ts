import type { IngestPolicy } from '../../ingest/interpret.ts';
import type { Logger } from '../../lib/log.ts';
import type { Accepting } from '../command-text.ts';
import type { Store } from '../store.ts';
import { startCommitter } from './committer.ts';
import { createJobRunner } from './jobs.ts';
import { migratePostgres, openPool } from './open.ts';
import { createReads } from './reads.ts';

/**
 * The store on PostgreSQL (DATABASE_URL): migrated at start (under a lock,
 * replicas starting together migrate once), jobs committed in batches by
 * the committer on one pooled connection at a time, reads on the others.
 */
export async function openPostgresStore(
  url: string,
  policy: IngestPolicy & Accepting,
  { log, onCommit }: { log: Logger; onCommit?: (seconds: number) => void },
): Promise<Store> {
  await migratePostgres(url);
  const pool = openPool(url);
  const runner = createJobRunner(policy);
  const committer = startCommitter(pool, runner.applyJobs, { log, onCommit });
  return {
    ...createReads(pool),
    write: (job) => committer.write(job),
    get backlog() {
      return committer.backlog;
    },
    get healthy() {
      return committer.healthy;
    },
    async close() {
      await committer.stop();
      await pool.end();
    },
  };
}
