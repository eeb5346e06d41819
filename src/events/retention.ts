import type { Logger } from '../lib/log.ts';
import type { PurgeCursor, Store } from '../store/store.ts';

export interface RetentionOptions {
  days: number;
  /** FORGET_AFTER: terminals learned from traffic, offline and silent this long, are forgotten. */
  forgetAfterMs: number;
  /** Told which serials' rows went, and since when they had to be silent: presence drops them. */
  forgotten: (serials: string[], before: number) => void;
  /** Only its writes: jobs committed durably. */
  store: Pick<Store, 'write'>;
  log: Logger;
  now?: () => number;
  everyMs?: number;
  /** README §Running several replicas: the holder of slot 0 purges and forgets; the others skip their turn. */
  leads?: () => boolean;
}

// Small steps, each a job in the writer's queue like any message: ingest
// waits at most for one of them, never for the whole purge. A step deletes at
// most BATCH of each kind and looks at a bounded number of old events
// (PURGE_CANDIDATES); the cursor it returns is where the next one goes on.
const BATCH = 200;

/**
 * RETENTION_DAYS: face images are biometric data; what is older goes, in
 * small batches, at start and every few minutes. Silent terminals
 * (FORGET_AFTER) go on the same timer.
 */
export function startRetention({ days, forgetAfterMs, forgotten, store, log, now = Date.now, everyMs = 5 * 60_000, leads = () => true }: RetentionOptions) {
  let stopped = false;
  let running: Promise<void> | undefined;

  async function purge(): Promise<void> {
    const before = now() - days * 86_400_000;
    let removed = 0;
    let steps = 0;
    let longestStepMs = 0;
    let after: PurgeCursor | undefined;
    for (;;) {
      if (stopped) break;
      const step = await store.write({ kind: 'purge', before, limit: BATCH, after });
      removed += step.removed;
      steps += 1;
      longestStepMs = Math.max(longestStepMs, step.ms);
      if (!step.more) break;
      after = step.after;
    }
    // The longest step is how long it held the writer (and so every message waiting for a commit) at once.
    if (removed > 0)
      log.info({ removed, steps, longest_step_ms: Math.round(longestStepMs * 10) / 10, before: new Date(before).toISOString() }, 'retention purge');
  }

  /**
   * FORGET_AFTER (README §Topics): terminals a flood of made-up serials (or
   * a terminal taken away) left behind go, in batches like the purge; their
   * events stay until the purge takes them. DEVICES are never forgotten.
   */
  async function forget(): Promise<void> {
    const before = now() - forgetAfterMs;
    let count = 0;
    for (;;) {
      if (stopped) break;
      const { forgotten: serials } = await store.write({ kind: 'forget-silent', before, limit: BATCH });
      if (serials.length > 0) forgotten(serials, before);
      count += serials.length;
      if (serials.length < BATCH) break;
    }
    if (count > 0) log.info({ forgotten: count, silentSince: new Date(before).toISOString() }, 'terminals forgotten');
  }

  const run = () => {
    if (!leads()) return;
    // Side by side: the first step of each goes into the same commit, so a
    // run waits for the writer no longer than the purge alone did.
    running ??= Promise.all([
      purge().catch((err: Error) => log.error({ err: err.message }, 'retention purge failed')),
      forget().catch((err: Error) => log.error({ err: err.message }, 'forgetting silent terminals failed')),
    ])
      .then(() => {})
      .finally(() => (running = undefined));
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();

  return {
    /**
     * No step starts after this. One under way is not waited for: it is a job
     * in the writer's queue, which the writer commits before it closes (the
     * last stop), and waiting here, before the HTTP server and the MQTT side
     * close, held the whole stop behind a database lock held elsewhere.
     */
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
