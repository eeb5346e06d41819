import type { Logger } from './log.ts';
import type { PurgeCursor } from './store/outbox.ts';
import type { Writer } from './store/writer.ts';

export interface RetentionOptions {
  days: number;
  writer: Writer;
  log: Logger;
  now?: () => number;
  everyMs?: number;
}

// Small steps, each a job in the writer's queue like any message: ingest
// waits at most for one of them, never for the whole purge. A step deletes at
// most BATCH of each kind and looks at a bounded number of old events
// (PURGE_CANDIDATES); the cursor it returns is where the next one goes on.
const BATCH = 200;

/** RETENTION_DAYS: face images are biometric data; what is older goes, in small steps, at start and every few minutes. */
export function startRetention({ days, writer, log, now = Date.now, everyMs = 5 * 60_000 }: RetentionOptions) {
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
      const { changes = 0, purge: step } = await writer.write({ kind: 'purge', before, limit: BATCH, after });
      removed += changes;
      steps += 1;
      longestStepMs = Math.max(longestStepMs, step?.ms ?? 0);
      if (!step?.more) break;
      after = step.after;
    }
    // The longest step is how long it held the writer (and so every message waiting for a commit) at once.
    if (removed > 0) log.info({ removed, steps, longest_step_ms: Math.round(longestStepMs * 10) / 10, before: new Date(before).toISOString() }, 'retention purge');
  }

  const run = () => {
    running ??= purge()
      .catch((err: Error) => log.error({ err: err.message }, 'retention purge failed'))
      .finally(() => (running = undefined));
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
