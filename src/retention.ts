import type { Logger } from './log.ts';
import type { Writer } from './store/writer.ts';

export interface RetentionOptions {
  days: number;
  writer: Writer;
  log: Logger;
  now?: () => number;
  everyMs?: number;
}

// Small batches, each a job in the writer's queue like any message: ingest
// waits at most for one of them, never for the whole purge.
const BATCH = 200;

/** RETENTION_DAYS: face images are biometric data; what is older goes, in small batches, at start and every few minutes. */
export function startRetention({ days, writer, log, now = Date.now, everyMs = 5 * 60_000 }: RetentionOptions) {
  let stopped = false;
  let running: Promise<void> | undefined;

  async function purge(): Promise<void> {
    const before = now() - days * 86_400_000;
    let removed = 0;
    for (;;) {
      if (stopped) break;
      const { changes = 0 } = await writer.write({ kind: 'purge', before, limit: BATCH });
      removed += changes;
      if (changes < BATCH) break;
    }
    if (removed > 0) log.info({ removed, before: new Date(before).toISOString() }, 'retention purge');
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
