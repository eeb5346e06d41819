import { type Cluster, localCluster } from '../cluster/cluster.ts';
import type { Replied } from '../ingest/interpret.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Store } from '../store/store.ts';

/** Terminals read at a time when rows fall due (start, the timer, the broker back); a page's turns are written before the next is read. */
const DUE_BATCH = 1000;
/** Terminals' turns in one job at most. */
const MAX_TURNS = 1000;

export interface PeopleSyncDeps {
  store: Pick<Store, 'write' | 'duePersonSerials' | 'nextPersonDueAfter'>;
  /** Online as the dispatcher means it (README §Commands with replies, Details). */
  online: (sn: string) => boolean;
  /** The command queue's sender: a new command for this terminal. */
  dispatch: (sn: string) => void;
  metrics: Metrics;
  log: Logger;
  /** README §Running several replicas: which terminals' turns this replica takes, and how the others are told. */
  cluster?: Pick<Cluster, 'owns' | 'announce'>;
  /** Terminals read at a time when rows fall due; DUE_BATCH unless a test makes pages small. */
  dueBatch?: number;
}

/**
 * Keeps every terminal's people in step (README §People on the terminals),
 * through the durable command queue. A terminal's turn is written by the
 * writer (`person-send`): unless a person command is in flight for it, its
 * oldest due row becomes a queued command, which the dispatcher publishes;
 * the reply, or its absence, is recorded where it is stored and wakes the
 * terminal's next turn. The turns of the terminals woken in one turn of the
 * event loop are one job: 10,000 terminals coming online at once cost tens
 * of jobs, not 10,000. Woken by a change of a person, a terminal turning
 * online, a reply or an unanswered command, the start, and one timer set
 * for the next row due after a backoff: nothing polls, and nothing of the
 * roster or of a photo is held here.
 */
export function createPeopleSync({ store, online, dispatch, metrics, log, cluster = localCluster(), dueBatch = DUE_BATCH }: PeopleSyncDeps) {
  /** Terminals whose turn is being written; woken meanwhile, they take another after it. */
  const turning = new Set<string>();
  const again = new Set<string>();
  /** Terminals woken in this turn of the event loop, and when their turns are written. */
  let next: { serials: Set<string>; written: Promise<void> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  let stopped = false;

  /** Resolves once the terminal's turn is written (or it needs none now). */
  function turn(sn: string): Promise<void> {
    if (stopped || !online(sn)) return Promise.resolve();
    if (turning.has(sn)) {
      again.add(sn);
      return Promise.resolve();
    }
    if (!next || (next.serials.size >= MAX_TURNS && !next.serials.has(sn))) {
      const serials = new Set<string>();
      next = { serials, written: new Promise<void>((resolve) => setImmediate(resolve)).then(() => take(serials)) };
    }
    next.serials.add(sn);
    return next.written;
  }

  async function take(serials: Set<string>): Promise<void> {
    if (next?.serials === serials) next = undefined;
    if (stopped) return;
    const taking: string[] = [];
    for (const sn of serials) {
      // Also in a fuller job before this one, still being written: another turn after it.
      if (turning.has(sn)) again.add(sn);
      else {
        turning.add(sn);
        taking.push(sn);
      }
    }
    if (taking.length === 0) return;
    try {
      const { queued } = await store.write({ kind: 'person-send', serials: taking, at: Date.now() });
      if (queued.length > 0) metrics.personSync.inc({ outcome: 'queued' }, queued.length);
      for (const sn of queued) dispatch(sn);
    } catch (err) {
      log.error({ devices: taking.length, err: (err as Error).message }, 'person commands not made');
    } finally {
      for (const sn of taking) {
        turning.delete(sn);
        if (again.delete(sn)) void turn(sn);
      }
    }
  }

  /** A terminal's turn is taken by the replica holding its slot (README §Running several replicas); another one is told. */
  function wake(sn: string): void {
    if (cluster.owns(sn)) void turn(sn);
    else cluster.announce({ kind: 'command', sn });
  }

  /** Every terminal with a row due now, then the timer for the next one. */
  async function wakeDue(): Promise<void> {
    if (stopped) return;
    try {
      // Every page, to the last: each replica takes the terminals of its own slots among them.
      const now = Date.now();
      let after = '';
      for (;;) {
        const page = await store.duePersonSerials(now, dueBatch, after);
        await Promise.all(page.filter((sn) => cluster.owns(sn)).map(turn));
        if (stopped || page.length < dueBatch) break;
        after = page.at(-1)!;
      }
      await schedule();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'people due not read');
    }
  }

  /** One timer, for the earliest row that waits out a backoff. */
  async function schedule(): Promise<void> {
    const now = Date.now();
    const at = await store.nextPersonDueAfter(now);
    if (stopped || at === undefined || at >= timerAt) return;
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(
      () => {
        timerAt = Number.POSITIVE_INFINITY;
        void wakeDue();
      },
      Math.max(0, at - now),
    );
    timer.unref();
  }

  return {
    wake,
    /** Told by another replica: this terminal's turn, if this one holds its slot, never passed on. */
    turnHere(sn: string) {
      if (cluster.owns(sn)) void turn(sn);
    },
    /** After a change of a person: its terminals with a row pending. */
    wakeAll(serials: readonly string[]) {
      for (const sn of serials) wake(sn);
    },
    wakeDue,
    /** A reply stored: a person command's terminal takes its next turn. */
    replied(replied: Replied) {
      if (replied.person !== undefined) wake(replied.sn);
    },
    /** The sweep made person commands unanswered: their terminals go on with others, the rows wait out their backoff. */
    unanswered(serials: readonly string[]) {
      if (serials.length === 0) return;
      metrics.personSync.inc({ outcome: 'unanswered' }, serials.length);
      for (const sn of serials) wake(sn);
      schedule().catch((err: Error) => log.error({ err: err.message }, 'people due not read'));
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export type PeopleSync = ReturnType<typeof createPeopleSync>;
