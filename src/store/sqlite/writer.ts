import type { Worker } from 'node:worker_threads';
import type { Logger } from '../../lib/log.ts';
import { moduleUrl, startWorker } from '../../lib/module-url.ts';
import { type Job, type JobResult, SAMPLE_BYTES, Unprocessable } from '../store.ts';
import { payloadRing } from './payload-ring.ts';
import type { FromWriter, ToWriter, WriterOptions } from './writer-thread.ts';

export interface Writer {
  /** Resolves once the job is committed to disk together with whatever else was waiting (group commit), with what its kind gives. */
  write<J extends Job>(job: J): Promise<JobResult<J>>;
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
  /** The thread's old-generation heap limit in MB (tests lower it). */
  heapMb?: number;
  /** A batch was answered (committed, or failed as a whole): seconds from its sending. */
  onCommit?: (seconds: number) => void;
}

interface Pending {
  job: Job;
  resolve: (result: JobResult) => void;
  reject: (err: Error) => void;
  /** Sent in a batch of its own: it was in a batch whose thread died. */
  alone?: boolean;
  /** Its payload's room in the ring, given back with its answer. */
  claim?: number;
}

// One batch is committed at a time; everything that arrives meanwhile forms
// the next batch. Under load batches grow by themselves, so the commit rate
// (bounded by the disk's fsync rate) stops limiting the message rate. The
// byte cap keeps a batch of image-laden messages from holding tens of MB.
const MAX_BATCH = 1000;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/**
 * The payloads kept until their batch is answered are in shared memory
 * (payload-ring.ts), which the thread reads them from: the batch in flight
 * and the next one gathering. The thread is done with a batch's payloads
 * once it answers or dies. A buffer of its own for each, transferred, was
 * ~37 KB a record of memory outside the thread's heap, which V8 counts
 * towards a full collection: the thread made one every ~100 ms in a burst
 * (README §Performance, CPU per record). A payload that finds no room keeps
 * a buffer of its own, and the thread gets a copy of it, transferred.
 */
const RING_BYTES = 2 * MAX_BATCH_BYTES;
/** Past this, the ring starts again at its beginning when it can: in the bench's bursts with images no batch passed 2.4 MB. */
const RING_SOFT_BYTES = 4 * 1024 * 1024;
/** A commit taking longer than this is waiting for something (a lock held elsewhere, a hung disk): not ready. */
const STUCK_MS = 2000;
/**
 * The writer's young generation. What it allocates (decoded payloads,
 * statement parameters) dies within a batch; V8's default young generation
 * (up to 48 MB) only let that garbage occupy more memory between scavenges.
 */
const WRITER_YOUNG_MB = 8;
/**
 * The writer's heap limit: past it the thread ends, not the process. Decoding
 * the worst 8 MB message (millions of empty objects) takes ~200 MB.
 */
const WRITER_HEAP_MB = 512;
/**
 * More deaths than this within DEATHS_WINDOW_MS, with no batch answered in
 * between, is no message's doing but a broken database or disk: the writer
 * gives up, and the bridge with it, rather than hide it.
 */
const MAX_DEATHS = 10;
const DEATHS_WINDOW_MS = 60_000;

/**
 * The main thread's half of the writer. It keeps every job until its batch
 * is answered, so when the thread dies (out of memory, an uncaught error) it
 * starts a new one and sends that batch's jobs again, one per batch: the one
 * that ends the thread on its own again fails as Unprocessable, never to be
 * tried again, and ingest keeps it as an `unprocessable` reject and
 * acknowledges it, so it cannot end the thread after every restart (README
 * §What survives what). The transports hold their acknowledgements meanwhile.
 */
export async function startWriter(options: WriterOptions, { log, onFatal, heapMb = WRITER_HEAP_MB, onCommit }: WriterDeps): Promise<Writer> {
  /** The thread that runs; none while a new one starts. */
  let thread: Worker | undefined;
  let queue: Pending[] = [];
  let inFlight: { id: number; items: Pending[]; since: number } | undefined;
  let nextBatch = 1;
  let scheduled = false;
  let dead: Error | undefined;
  let stopping = false;
  let drained: (() => void) | undefined;
  let lastFailed = false;
  /** When the thread died since a batch was last answered. */
  let deaths: number[] = [];
  const ring = payloadRing(RING_BYTES, RING_SOFT_BYTES);

  /** A new thread, the writer's from the moment it has opened and migrated the database; its OS thread id, where there is one. */
  function spawn(): Promise<number | undefined> {
    const worker = startWorker(moduleUrl('./writer-thread', import.meta.url), options, {
      maxYoungGenerationSizeMb: WRITER_YOUNG_MB,
      maxOldGenerationSizeMb: heapMb,
    });
    return new Promise<number | undefined>((resolve, reject) => {
      let started = false;
      let cause: Error | undefined;
      worker.on('message', (message: FromWriter) => {
        if (started) return answered(worker, message);
        if ('ready' in message) {
          started = true;
          thread = worker;
          resolve(message.thread);
          return;
        }
        cause = new Error(`database: ${'fatal' in message ? message.fatal : 'unexpected message'}`);
        void worker.terminate();
      });
      // Out of memory, an uncaught error: 'exit' follows.
      worker.on('error', (err) => (cause ??= err));
      worker.on('exit', (code) => {
        const why = cause ?? new Error(`exited with code ${code}`);
        if (started) died(worker, why);
        else reject(why);
      });
    });
  }

  // Its OS thread id: what `top -H -p <pid>` lists it by, and how the bench tells its CPU time from the main thread's.
  log.info({ thread: await spawn() }, 'database writer thread started');

  function answered(worker: Worker, message: FromWriter) {
    if (worker !== thread || !('batch' in message) || !inFlight || message.batch !== inFlight.id) return;
    const { items, since } = inFlight;
    inFlight = undefined;
    deaths = [];
    onCommit?.((performance.now() - since) / 1000);
    const outcomes = 'results' in message ? message.results : items.map(() => ({ failed: message.error }));
    for (const item of items) if (item.claim) ring.giveBack(item.claim);
    let failures = 0;
    outcomes.forEach((outcome, i) => {
      if ('failed' in outcome) {
        failures += 1;
        items[i].reject(new Error(`database write failed: ${outcome.failed}`));
      } else items[i].resolve(outcome.ok);
    });
    // Not ready only when nothing could be written: one bad job says nothing of the database.
    lastFailed = failures === items.length;
    flush();
  }

  function died(worker: Worker, cause: Error) {
    if (worker !== thread || stopping) return;
    thread = undefined;
    const items = inFlight?.items ?? [];
    inFlight = undefined;
    const bytes = items.reduce((sum, { job }) => sum + ('payload' in job ? job.payload.length : 0), 0);
    log.error({ cause: causeOf(cause), jobs: items.length, bytes }, 'database writer thread died; starting a new one');
    if (items.length === 1) {
      keepPoison(items[0], cause);
      if (items[0].claim) ring.giveBack(items[0].claim);
    }
    // Each alone, in the order they came: the one at fault then ends a thread on its own.
    else queue = [...items.map((item) => ({ ...item, alone: true })), ...queue];
    restart(cause);
  }

  /** A job that ended the thread on its own. */
  function keepPoison(item: Pending, cause: Error) {
    const { job } = item;
    const outOfMemory = (cause as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY';
    const detail = outOfMemory
      ? `applying it ran the database writer thread out of memory (heap limit ${heapMb} MB)`
      : `applying it ended the database writer thread (${causeOf(cause)})`;
    if (job.kind !== 'uplink') {
      // Nothing can stand for it: its write fails, as any failing write does.
      log.error({ job: job.kind, cause: causeOf(cause) }, 'a write that ends the database writer thread failed');
      item.reject(new Error(`database write failed: ${detail}`));
      return;
    }
    // Serial, size and reason; never the payload.
    log.warn(
      { sn: job.sn, topic: job.topic, bytes: job.payload.length, reason: 'unprocessable', cause: causeOf(cause) },
      'message unprocessable: applying it ended the database writer thread; it is not tried again',
    );
    item.reject(new Unprocessable(detail, job.payload.slice(0, SAMPLE_BYTES), job.payload.length));
  }

  function restart(cause: Error) {
    const now = Date.now();
    deaths = [...deaths.filter((at) => now - at < DEATHS_WINDOW_MS), now];
    if (deaths.length > MAX_DEATHS) {
      die(new Error(`database writer thread died ${deaths.length} times within a minute without writing anything: ${causeOf(cause)}`));
      return;
    }
    spawn().then(
      (tid) => {
        log.info({ thread: tid }, 'database writer thread started again');
        flush();
      },
      (err: Error) => {
        log.error({ cause: causeOf(err) }, 'database writer thread did not start');
        restart(err);
      },
    );
  }

  function die(err: Error) {
    if (dead) return;
    dead = err;
    for (const item of [...(inFlight?.items ?? []), ...queue]) item.reject(err);
    ring.clear();
    queue = [];
    inFlight = undefined;
    drained?.();
    onFatal(err);
  }

  function flush() {
    scheduled = false;
    if (inFlight || dead || !thread) return;
    if (queue.length === 0) {
      drained?.();
      return;
    }
    let take = 0;
    let bytes = 0;
    if (queue[0].alone) take = 1;
    else {
      while (take < queue.length && take < MAX_BATCH && (take === 0 || bytes < MAX_BATCH_BYTES) && !queue[take].alone) {
        const { job } = queue[take++];
        if ('payload' in job) bytes += job.payload.length;
      }
    }
    const items = queue.slice(0, take);
    queue = queue.slice(take);
    inFlight = { id: nextBatch++, items, since: performance.now() };
    // A payload in the ring goes as it is (the thread reads the same memory);
    // one with a buffer of its own, as a copy: this side keeps its own until the answer.
    const jobs: Job[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const { job, claim } of items) {
      if (!('payload' in job) || claim) {
        jobs.push(job);
        continue;
      }
      const payload = new Uint8Array(job.payload);
      jobs.push({ ...job, payload });
      transfer.push(payload.buffer);
    }
    thread.postMessage({ batch: inFlight.id, jobs } satisfies ToWriter, transfer);
  }

  return {
    write(job) {
      if (dead) return Promise.reject(dead);
      // The writer keeps each payload until its batch is answered, to send it
      // again should the thread die with it: a copy in the ring, or else a
      // buffer of its own. A view into a larger buffer (a socket read holding
      // more) is copied, so as not to keep the rest alive.
      let claim: number | undefined;
      if ('payload' in job) {
        const taken = ring.take(job.payload);
        if (taken) {
          job = { ...job, payload: taken.view };
          claim = taken.claim;
        } else if (job.payload.byteLength * 2 < job.payload.buffer.byteLength) job = { ...job, payload: new Uint8Array(job.payload) };
      }
      return new Promise<JobResult<typeof job>>((resolve, reject) => {
        queue.push({ job, resolve: resolve as (result: JobResult) => void, reject, claim });
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
      return !dead && thread !== undefined && !lastFailed && !(inFlight && performance.now() - inFlight.since > STUCK_MS);
    },
    async stop() {
      if (!dead && (queue.length > 0 || inFlight || !thread)) await new Promise<void>((resolve) => (drained = resolve));
      stopping = true;
      if (dead || !thread) return;
      dead = new Error('database writer stopped');
      const worker = thread;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage({ close: true } satisfies ToWriter);
      await exited;
    },
  };
}

/** Why a thread ended, for the log: an error's code or first 200 characters, never a payload. */
function causeOf(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_') ? code : err.message.slice(0, 200);
}
