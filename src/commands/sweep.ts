import type { StoredEvent } from '../events/events.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Store } from '../store/store.ts';

/** How often the sweep runs: a command is unanswered or expired within about this much of its time. */
const SWEEP_EVERY_MS = 1000;

/**
 * README §Commands with replies: once a second, published commands past
 * REPLY_WINDOW become `unanswered` and queued ones past their ttl `expired`,
 * each with its event, in one writer job (through partial indexes, at most
 * SWEEP_LIMIT of each; again at once while more are left).
 */
export function startCommandSweep({
  store,
  metrics,
  log,
  stored,
  unansweredPeople = () => {},
  everyMs = SWEEP_EVERY_MS,
  leads = () => true,
}: {
  store: Pick<Store, 'write'>;
  metrics: Metrics;
  log: Logger;
  /** Their events, after the commit: the live stream and the delivery lanes. */
  stored: (events: StoredEvent[]) => void;
  /** Terminals whose person command went unanswered (README §People on the terminals): their turn goes on. */
  unansweredPeople?: (serials: string[]) => void;
  everyMs?: number;
  /** README §Running several replicas: the holder of slot 0 sweeps; the others skip their turn. */
  leads?: () => boolean;
}) {
  let running = false;
  let stopped = false;
  async function sweep() {
    if (running || stopped || !leads()) return;
    running = true;
    try {
      for (let more = true; more && !stopped; ) {
        const result = await store.write({ kind: 'command-sweep', now: Date.now() });
        if (result.unanswered > 0) metrics.commands.inc({ outcome: 'unanswered' }, result.unanswered);
        if (result.expired > 0) metrics.commands.inc({ outcome: 'expired' }, result.expired);
        if (result.events.length > 0) stored(result.events);
        if (result.people.length > 0) unansweredPeople(result.people);
        more = result.more;
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'command sweep failed');
    } finally {
      running = false;
    }
  }
  const timer = setInterval(() => void sweep(), everyMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
