import type pg from 'pg';
import type { Logger } from '../../lib/log.ts';
import { type Job, type JobResult, SAMPLE_BYTES, Unprocessable } from '../store.ts';
import { JobFailed, SEQ_LOCK, takesSeqs } from './jobs.ts';
import { type Sql, sqlOf } from './open.ts';

// Group commit on PostgreSQL, on the main thread: the jobs that arrive
// within a few milliseconds (or while a batch commits) are applied in order
// in ONE transaction on one pooled connection, and each resolves only after
// its COMMIT (SPEC: nothing is acknowledged that is not committed, no local
// buffering). The connection's round trips are waits, not work: the event
// loop answers heartbeats meanwhile.

/** How long the first job of a batch waits for others to join it. */
const WINDOW_MS = 2;
const MAX_BATCH = 500;
/** As in SQLite's writer: a batch of image-laden messages stays a few MB. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** A commit taking longer than this is waiting for something (a lock held elsewhere, a hung server): not healthy. */
const STUCK_MS = 2000;
/** The probe's period and patience: /readyz says 503 within 10 s of losing PostgreSQL (SPEC). */
const PROBE_MS = 2000;
const PROBE_TIMEOUT_MS = 3000;

/**
 * Errors of the database or the connection rather than of one job's data:
 * every job of the batch would meet them again, so the batch fails as a
 * whole. SQLSTATE classes: 08 connection, 25 transaction state, 40
 * serialization or deadlock, 53 resources, 55 object state, 57 operator
 * intervention (a shutdown), 58 system, XX internal; and Node's own errors
 * of the socket (ECONNREFUSED…) and pg's of a lost or timed-out connection.
 */
const DATABASE_STATE = /^(08|25|40|53|55|57|58|XX)/;
const CONNECTION_MESSAGE = /connection|terminated|timeout|not queryable/i;
export function isDatabaseError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code.length === 5 ? DATABASE_STATE.test(code) : true;
  return err instanceof Error && !(err instanceof TypeError || err instanceof SyntaxError) && CONNECTION_MESSAGE.test(err.message);
}

interface Pending {
  job: Job;
  bytes: number;
  resolve: (result: JobResult) => void;
  reject: (err: Error) => void;
}

export interface Committer {
  write<J extends Job>(job: J): Promise<JobResult<J>>;
  readonly backlog: number;
  readonly healthy: boolean;
  /** Commits what waits, then stops probing. */
  stop(): Promise<void>;
}

export function startCommitter(
  pool: pg.Pool,
  applyJobs: (on: Sql, jobs: readonly Job[], together: boolean) => Promise<JobResult[]>,
  { log, onCommit }: { log: Logger; onCommit?: (seconds: number) => void },
): Committer {
  let queue: Pending[] = [];
  let inFlight: { items: Pending[]; since: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastFailed = false;
  let reachable = true;
  let stopped = false;
  let drained: (() => void) | undefined;

  const failure = (err: unknown) => new Error(`database write failed: ${err instanceof Error ? err.message : String(err)}`);

  function schedule() {
    if (inFlight || timer || queue.length === 0) return;
    timer = setTimeout(flush, queue.length >= MAX_BATCH ? 0 : WINDOW_MS);
  }

  function flush() {
    timer = undefined;
    if (inFlight) return;
    if (queue.length === 0) {
      drained?.();
      return;
    }
    let n = 0;
    let bytes = 0;
    while (n < queue.length && n < MAX_BATCH && (n === 0 || bytes + queue[n].bytes <= MAX_BATCH_BYTES)) bytes += queue[n++].bytes;
    const items = queue.slice(0, n);
    queue = queue.slice(n);
    const since = performance.now();
    inFlight = { items, since };
    void commit(items).finally(() => {
      inFlight = undefined;
      onCommit?.((performance.now() - since) / 1000);
      // What arrived meanwhile has waited already: it goes now.
      if (queue.length > 0) flush();
      else drained?.();
    });
  }

  /**
   * The batch in one transaction. A job whose data fails (a constraint, a
   * value out of range, an error of its own code) fails alone: the
   * transaction is rolled back and the batch applied again without it,
   * rather than a savepoint per job (hundreds of subtransactions per
   * commit slow every other session's snapshots). Jobs applied together in
   * one statement (jobs.ts, applyJobs) that fail cannot say which of them
   * it was: the batch is applied again one job at a time, which finds it.
   * Any other error fails the whole batch: nothing is acknowledged that was
   * not committed.
   */
  async function commit(items: Pending[]): Promise<void> {
    let left = items;
    let together = true;
    while (left.length > 0) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        return failAll(left, err);
      }
      let broken: unknown;
      try {
        const sql = sqlOf(client);
        const jobs = left.map((item) => item.job);
        await client.query('begin');
        if (takesSeqs(jobs)) await client.query('select pg_advisory_xact_lock($1)', [SEQ_LOCK]);
        let results: JobResult[];
        try {
          results = await applyJobs(sql, jobs, together);
        } catch (err) {
          if (!(err instanceof JobFailed)) throw err;
          if (isDatabaseError(err.reason)) throw err.reason;
          await client.query('rollback');
          if (err.jobs.length > 1) together = false;
          else {
            const [bad] = err.jobs;
            left[bad].reject(refused(left[bad].job, err.reason));
            left = left.filter((_, i) => i !== bad);
          }
          continue;
        }
        await client.query('commit');
        lastFailed = false;
        for (const [i, item] of left.entries()) item.resolve(results[i]);
        return;
      } catch (err) {
        broken = err;
        await client.query('rollback').catch(() => {});
        return failAll(left, err);
      } finally {
        // A connection that met an error of its own is closed, not given back.
        client.release(broken !== undefined && isDatabaseError(broken) ? (broken as Error) : undefined);
      }
    }
  }

  /**
   * A job the server refuses for its own data. A terminal's message would be
   * refused again at every redelivery, holding its place in the broker's
   * window for ever: it is Unprocessable, which ingest keeps as a reject and
   * acknowledges (README §What survives what), as SQLite's writer does with
   * a message that ends its thread.
   */
  function refused(job: Job, err: unknown): Error {
    if (job.kind !== 'uplink') return failure(err);
    const cause = err instanceof Error ? err.message : String(err);
    log.warn(
      { sn: job.sn, topic: job.topic, bytes: job.payload.length, reason: 'unprocessable', cause },
      'message unprocessable: the database refused its data; it is not tried again',
    );
    return new Unprocessable(`the database refused its data (${cause})`, job.payload.slice(0, SAMPLE_BYTES), job.payload.length);
  }

  function failAll(items: Pending[], err: unknown) {
    lastFailed = true;
    log.error({ err: err instanceof Error ? err.message : String(err), jobs: items.length }, 'database commit failed');
    for (const item of items) item.reject(failure(err));
  }

  let probing = false;
  const probe = setInterval(() => {
    if (probing) return;
    probing = true;
    let timeout: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timeout = setTimeout(() => reject(new Error('probe timed out')), PROBE_TIMEOUT_MS)));
    Promise.race([pool.query('select 1'), late])
      .then(
        () => {
          // Back: the next commit is expected to succeed, as the probe's did.
          if (!reachable || lastFailed) log.info('database reachable again');
          reachable = true;
          lastFailed = false;
        },
        (err: Error) => {
          if (reachable) log.error({ err: err.message }, 'database unreachable');
          reachable = false;
        },
      )
      .finally(() => {
        clearTimeout(timeout);
        probing = false;
      });
  }, PROBE_MS);
  probe.unref();

  return {
    write<J extends Job>(job: J): Promise<JobResult<J>> {
      if (stopped) return Promise.reject(new Error('database writer stopped'));
      const bytes = 'payload' in job ? job.payload.byteLength : 'photo' in job && job.photo ? job.photo.byteLength : 0;
      return new Promise<JobResult<J>>((resolve, reject) => {
        queue.push({ job, bytes, resolve: resolve as (result: JobResult) => void, reject });
        if (queue.length >= MAX_BATCH && timer && !inFlight) {
          clearTimeout(timer);
          timer = undefined;
        }
        schedule();
      });
    },
    get backlog() {
      return queue.length + (inFlight?.items.length ?? 0);
    },
    get healthy() {
      return reachable && !lastFailed && !(inFlight && performance.now() - inFlight.since > STUCK_MS);
    },
    async stop() {
      if (queue.length > 0 || inFlight) await new Promise<void>((resolve) => (drained = resolve));
      stopped = true;
      clearInterval(probe);
    },
  };
}
