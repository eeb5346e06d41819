import type { Logger } from '../log.ts';
import { moduleUrl, startWorker } from '../module-url.ts';
import type { Job, JobOutcome, JobResult } from './jobs.ts';
import type { FromWriter, ToWriter, WriterOptions } from './writer-thread.ts';

export interface Writer {
  /** Resolves once the job is committed to disk together with whatever else was waiting (group commit). */
  write(job: Job): Promise<JobResult>;
  /** Jobs waiting or being committed. */
  readonly backlog: number;
  /** The thread runs, its last commit succeeded, and the one in progress (if any) is not stuck. */
  readonly healthy: boolean;
  stop(): Promise<void>;
}

export interface WriterDeps {
  log: Logger;
  /** The writer cannot go on: every write fails from now on. */
  onFatal: (err: Error) => void;
  /** Rejects counted but not kept as rows, by the gate of README §Malformed messages. */
  rejectsNotKept: (count: number) => void;
}

interface Pending {
  job: Job;
  resolve: (result: JobResult) => void;
  reject: (err: Error) => void;
}

// One batch is committed at a time; everything that arrives meanwhile forms
// the next batch. Under load batches grow by themselves, so the commit rate
// (bounded by the disk's fsync rate) stops limiting the message rate. The
// byte cap keeps a batch of image-laden messages from holding tens of MB.
const MAX_BATCH = 1000;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** A commit taking longer than this is waiting for something (a lock held elsewhere, a hung disk): not ready. */
const STUCK_MS = 2000;
/**
 * The writer's young generation. What it allocates (decoded payloads,
 * statement parameters) dies within a batch; V8's default young generation
 * (up to 48 MB) only let that garbage occupy more memory between scavenges.
 */
const WRITER_YOUNG_MB = 8;
/** Rejects not kept are logged at most this often, with how many since the last line. */
const NOT_KEPT_LOG_MS = 60_000;

export async function startWriter(options: WriterOptions, { log, onFatal, rejectsNotKept }: WriterDeps): Promise<Writer> {
  const worker = startWorker(moduleUrl('./writer-thread', import.meta.url), options, { maxYoungGenerationSizeMb: WRITER_YOUNG_MB });
  let queue: Pending[] = [];
  let inFlight: { id: number; items: Pending[]; since: number } | undefined;
  let nextBatch = 1;
  let scheduled = false;
  let dead: Error | undefined;
  let drained: (() => void) | undefined;
  let lastFailed = false;
  let notKept = 0;
  let notKeptLoggedAt = -Infinity;

  await new Promise<void>((resolve, reject) => {
    const onMessage = (message: FromWriter) => {
      worker.off('message', onMessage);
      if ('ready' in message) resolve();
      else reject(new Error(`database: ${'fatal' in message ? message.fatal : 'unexpected message'}`));
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  });

  worker.on('message', (message: FromWriter) => {
    if (!('batch' in message) || !inFlight || message.batch !== inFlight.id) return;
    const { items } = inFlight;
    inFlight = undefined;
    const outcomes = 'results' in message ? message.results : items.map(() => ({ failed: message.error }));
    let failures = 0;
    outcomes.forEach((outcome, i) => {
      if ('failed' in outcome) {
        failures += 1;
        items[i].reject(new Error(`database write failed: ${outcome.failed}`));
      } else items[i].resolve(outcome);
    });
    // Not ready only when nothing could be written: one bad job says nothing of the database.
    lastFailed = failures === items.length;
    countNotKept(outcomes);
    flush();
  });
  const die = (err: Error) => {
    if (dead) return;
    dead = err;
    for (const item of [...(inFlight?.items ?? []), ...queue]) item.reject(err);
    queue = [];
    inFlight = undefined;
    drained?.();
    onFatal(err);
  };
  worker.on('error', die);
  worker.on('exit', (code) => die(new Error(`database writer exited with code ${code}`)));

  function countNotKept(outcomes: JobOutcome[]) {
    let count = 0;
    for (const outcome of outcomes) if ('events' in outcome) count += outcome.unkept ?? 0;
    if (count === 0) return;
    rejectsNotKept(count);
    notKept += count;
    const now = Date.now();
    if (now - notKeptLoggedAt < NOT_KEPT_LOG_MS) return;
    log.warn({ count: notKept }, 'rejects not kept as rows: a terminal sends malformed messages faster than the rejects table takes them (all are counted)');
    notKeptLoggedAt = now;
    notKept = 0;
  }

  function flush() {
    scheduled = false;
    if (inFlight || dead) return;
    if (queue.length === 0) {
      drained?.();
      return;
    }
    let take = 0;
    let bytes = 0;
    while (take < queue.length && take < MAX_BATCH && (take === 0 || bytes < MAX_BATCH_BYTES)) {
      const { job } = queue[take++];
      if ('payload' in job) bytes += job.payload.length;
    }
    const items = queue.slice(0, take);
    queue = queue.slice(take);
    inFlight = { id: nextBatch++, items, since: performance.now() };
    const transfer = items.flatMap(({ job }) => ('payload' in job ? [job.payload.buffer as ArrayBuffer] : []));
    worker.postMessage({ batch: inFlight.id, jobs: items.map((item) => item.job) } satisfies ToWriter, transfer);
  }

  return {
    write(job) {
      if (dead) return Promise.reject(dead);
      // Copy the payload out of the socket's buffer into one the writer thread can own.
      if ('payload' in job) job = { ...job, payload: new Uint8Array(job.payload) };
      return new Promise<JobResult>((resolve, reject) => {
        queue.push({ job, resolve, reject });
        if (!inFlight && !scheduled) {
          // Wait for the rest of this turn of the event loop: messages parsed
          // from the same socket read join the same commit.
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    get backlog() {
      return queue.length + (inFlight?.items.length ?? 0);
    },
    get healthy() {
      return !dead && !lastFailed && !(inFlight && performance.now() - inFlight.since > STUCK_MS);
    },
    async stop() {
      if (!dead && (queue.length > 0 || inFlight)) await new Promise<void>((resolve) => (drained = resolve));
      worker.removeAllListeners('exit');
      if (dead) return;
      dead = new Error('database writer stopped');
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage({ close: true } satisfies ToWriter);
      await exited;
    },
  };
}
