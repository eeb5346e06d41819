import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import { splicePhoto, wantsPhoto } from '../people/person-commands.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import type { CommandError, QueuedCommand, Store } from '../store/store.ts';
import { BrokerUnavailable, type Transport } from '../transport/transport.ts';
import { budget, pace } from './pacing.ts';

/**
 * Steps of the queues' work begun a second, all terminals together (a read
 * of a terminal's queue is one, a publish another), and at most this many
 * at once after a long turn of the event loop. This bounds what a fan-out
 * adds to the main thread in any second, not how long its publishes wait:
 * with 10,000 terminals beating on the embedded broker a turn of the event
 * loop can last seconds, and a bound on publishes in flight made the
 * fan-out crawl at a few per turn (README §Performance).
 */
const STEPS_PER_SECOND = 2000;
/**
 * Bytes of command bodies handed to the broker and not acknowledged yet, all
 * terminals together: what they hold in memory. A terminal has one publish
 * in flight at most, so one that reads slowly holds its own; a body larger
 * than this goes once nothing else is in flight.
 */
const IN_FLIGHT_BYTES = 32 * 1024 * 1024;
/** Queued commands read at a time for one terminal. */
const READ_AHEAD = 16;
/** Queued commands without a ttl failed at a time once their terminal turned offline. */
const FAIL_BATCH = 1000;

/** What came of a command's first turn: it went out, it was refused, or it waits for its terminal (it has a ttl). */
export type Turn = { status: 'published' } | { status: 'failed'; error: CommandError } | { status: 'queued' };

export interface DispatcherDeps {
  transport: Transport;
  downlink: TopicTemplate;
  /** Online as /api/devices says (README §Commands with replies, Details). */
  isOnline: (sn: string) => boolean;
  /** When the terminal's last message came (wall clock), or null. */
  lastSeen: (sn: string) => number | null;
  store: Pick<Store, 'write' | 'queuedCommands' | 'queuedSerials' | 'personPhoto'>;
  /** Waits until COMMAND_RATE lets one more command out for this terminal. */
  token: (sn: string) => Promise<void>;
  metrics: Metrics;
  log: Logger;
  /** README §Running several replicas: this replica drains this terminal's queue (it holds its slot). */
  owns?: (sn: string) => boolean;
  /** Commands to these terminals are recorded published (committed): replies held for them pair now (held-replies.ts). */
  recorded?: (serials: string[]) => void;
}

/**
 * The durable queue's sender (README §Commands with replies). Every command
 * is a row first; this publishes each terminal's queued rows in acceptance
 * order (seq), one at a time per terminal (QoS 1, the broker's ack awaited),
 * COMMAND_RATE per terminal awaited rather than refused, and for all
 * terminals together STEPS_PER_SECOND reads and publishes begun and
 * IN_FLIGHT_BYTES of bodies the broker has not acknowledged: a publish
 * waiting for the broker holds nothing of the other terminals' turns. It is
 * woken by a new row, by a terminal turning online or (embedded) subscribing to its downLink, by the
 * broker connection coming back, and at start. A terminal that is not online
 * stops its turn: its commands with a ttl wait, those without fail.
 */
export function createDispatcher({ transport, downlink, isOnline, lastSeen, store, token, metrics, log, owns = () => true, recorded: told }: DispatcherDeps) {
  const inFlight = budget(IN_FLIGHT_BYTES);
  const steps = pace(STEPS_PER_SECOND);
  /** Terminals being drained; `again`: woken meanwhile, read once more before stopping. */
  const draining = new Map<string, { again: boolean }>();
  /**
   * Terminals that may have queued rows: every accepted row marks its
   * terminal (wake, or `queued` for one kept for later), and wakeAll those the
   * store lists. Only these are read when a terminal turns online or
   * subscribes: ten thousand terminals connecting cost no read each
   * (README §Performance). A drain that finds none left unmarks it.
   */
  const pending = new Set<string>();
  /** Per terminal, the last seq this process took care of: rows whose outcome is not committed yet are not read again. */
  const done = new Map<string, number>();
  /** First turns someone waits for (a single POST), by command id. */
  const turns = new Map<string, { sn: string; resolve: (turn: Turn) => void }>();
  /** Commands published whose state is not written yet: one writer job for all of a turn of the event loop. */
  let published: { id: string; sn: string; at: number; after: () => void }[] = [];
  /**
   * Terminals with a publish under way whose state is not handed to the
   * writer yet. Their messages wait for it (ingest): the writer applies jobs
   * in order, and a reply must find its command published. Through an
   * external broker the PUBACK and the reply can arrive in one read, the
   * reply handed to the writer before the PUBACK's continuation runs.
   */
  const unrecorded = new Map<string, { count: number; recorded: Promise<void>; resolve: () => void }>();

  function publishing(sn: string) {
    const entry = unrecorded.get(sn);
    if (entry) {
      entry.count += 1;
      return;
    }
    let resolve = () => {};
    const recorded = new Promise<void>((r) => (resolve = r));
    unrecorded.set(sn, { count: 1, recorded, resolve });
  }

  function recorded(sn: string) {
    const entry = unrecorded.get(sn);
    if (!entry || --entry.count > 0) return;
    unrecorded.delete(sn);
    entry.resolve();
  }
  let stopped = false;
  /** Commands already charged against COMMAND_RATE when they were accepted (a single POST answers 429 instead of waiting). */
  const charged = new Set<string>();

  const online = (sn: string) => isOnline(sn) && transport.listening(downlink.topicOf(sn)) !== false;
  /**
   * Terminals whose commands with a ttl wait for a word from them: against an
   * external broker, after the bridge's connection came back, a terminal
   * heard from before may still be reconnecting, and a command published
   * before it subscribes again would reach no one.
   */
  const awaitingWord = new Set<string>();
  const backSince = (sn: string) => transport.listening(downlink.topicOf(sn)) === true || (lastSeen(sn) ?? -1) >= transport.connectedAt();

  function settle(id: string, turn: Turn) {
    charged.delete(id);
    const waiter = turns.get(id);
    if (!waiter) return;
    turns.delete(id);
    waiter.resolve(turn);
  }

  /** Records publishes in one job per turn of the event loop; each waiter hears of its command once it is written. */
  function recordPublished(id: string, sn: string, at: number, after: () => void) {
    published.push({ id, sn, at, after });
    if (published.length > 1) return;
    // A microtask, not a timer: the state is queued for the writer before the terminal's reply can be (correlation needs it).
    queueMicrotask(() => {
      const batch = published;
      published = [];
      const written = store.write({ kind: 'commands-published', published: batch.map(({ id, at }) => ({ id, at })) });
      for (const { sn } of batch) recorded(sn);
      written
        .then(() => told?.([...new Set(batch.map(({ sn }) => sn))]))
        .catch((err: Error) => log.error({ err: err.message, commands: batch.length }, 'published commands not recorded'))
        .finally(() => {
          for (const { after } of batch) after();
        });
    });
  }

  async function fail(sn: string, failed: { id: string; error: CommandError }[]) {
    if (failed.length === 0) return;
    metrics.commands.inc({ outcome: 'failed' }, failed.length);
    await store.write({ kind: 'commands-failed', failed }).catch((err: Error) => log.error({ err: err.message, device: sn }, 'failed commands not recorded'));
    for (const { id, error } of failed) settle(id, { status: 'failed', error });
  }

  /**
   * The terminal is not reachable now: its commands without a ttl fail (a
   * door is never opened later by surprise), those with one wait for it.
   */
  async function halt(sn: string, error: CommandError) {
    let after = 0;
    for (;;) {
      const rows = await store.queuedCommands(sn, after, Date.now(), FAIL_BATCH);
      await fail(
        sn,
        rows.filter((row) => row.expiresAt === null).map((row) => ({ id: row.id, error })),
      );
      for (const row of rows) if (row.expiresAt !== null) settle(row.id, { status: 'queued' });
      if (rows.length < FAIL_BATCH) break;
      after = rows[rows.length - 1].seq;
    }
    // Waiters whose rows were not read (expired meanwhile, or failed elsewhere) hear it too.
    for (const [id, waiter] of turns) if (waiter.sn === sn) settle(id, { status: 'queued' });
  }

  /** Publishes one row; false when the broker could not be reached (the turn stops). */
  async function publish(sn: string, row: QueuedCommand, charged: boolean): Promise<boolean> {
    if (!charged) await token(sn);
    // An enrolment's photo is stored once and spliced in here, read for this one publish (README §People on the terminals).
    const body =
      row.person !== null && wantsPhoto(row.body) ? splicePhoto(row.body, (await store.personPhoto(row.person))?.toString('base64') ?? '') : row.body;
    await steps.take();
    // Waiting for the broker holds these bytes and this terminal's turn, nothing of the others'.
    const bytes = Buffer.byteLength(body);
    await inFlight.acquire(bytes);
    publishing(sn);
    try {
      await transport.publish(downlink.topicOf(sn), body, 1);
    } catch (err) {
      recorded(sn);
      if (!(err instanceof BrokerUnavailable)) throw err;
      log.warn({ command: row.id, device: sn, err: err.message }, 'command not published: broker unavailable');
      return false;
    } finally {
      inFlight.release(bytes);
    }
    done.set(sn, row.seq);
    metrics.commands.inc({ outcome: 'published' });
    log.info({ command: row.id, device: sn, status: 'published' }, 'command');
    recordPublished(row.id, sn, Date.now(), () => settle(row.id, { status: 'published' }));
    return true;
  }

  async function turn(sn: string, state: { again: boolean }) {
    for (;;) {
      // One terminal's reads and publishes after another's: many woken at once (a fan-out, a reconnect) share the loop.
      await nextTurn();
      if (stopped) return;
      if (!online(sn)) return halt(sn, 'device_offline');
      // A fan-out wakes thousands at once: their reads are paced with the publishes (README §Performance).
      await steps.take();
      if (stopped) return;
      // A row accepted from here on wakes the terminal again (`again`): this read holds every row accepted before.
      state.again = false;
      const rows = await store.queuedCommands(sn, done.get(sn) ?? 0, Date.now(), READ_AHEAD);
      if (rows.length === 0 && state.again) continue;
      if (rows.length === 0) {
        // Nothing is awaited between the read and here: a row accepted meanwhile set `again`.
        pending.delete(sn);
        return;
      }
      for (const row of rows) {
        if (stopped) return;
        if (!online(sn)) return halt(sn, 'device_offline');
        // Its ttl ran out since it was read: the sweep makes it expired.
        if (row.expiresAt !== null && row.expiresAt <= Date.now()) {
          done.set(sn, row.seq);
          settle(row.id, { status: 'queued' });
          continue;
        }
        if (row.expiresAt !== null && !backSince(sn)) {
          awaitingWord.add(sn);
          return halt(sn, 'device_offline');
        }
        if (!(await publish(sn, row, charged.delete(row.id)))) {
          // Broker unreachable: this row and those after it wait (ttl) or fail; the reconnect wakes the terminal again.
          return halt(sn, 'broker_unavailable');
        }
      }
      // Fewer than asked for, and none accepted since: the queue is empty, no second read (a fan-out's one command each).
      if (rows.length < READ_AHEAD && !state.again) {
        pending.delete(sn);
        return;
      }
    }
  }

  function wake(sn: string) {
    // Another replica's terminal: its holder drains it, in order (told by the one that queued it).
    if (stopped || !owns(sn)) return;
    pending.add(sn);
    const running = draining.get(sn);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    draining.set(sn, state);
    turn(sn, state)
      .catch((err: Error) => log.error({ device: sn, err: err.message }, 'command queue not drained'))
      .finally(() => {
        draining.delete(sn);
        // Woken after its last read: go on.
        if (state.again) wake(sn);
      });
  }

  /** Every terminal with queued commands: at start, and when the broker connection is back. */
  async function wakeAll() {
    for (const sn of await store.queuedSerials()) wake(sn);
  }

  transport.onListening((topic) => {
    if (topic === undefined) {
      wakeAll().catch((err: Error) => log.error({ err: err.message }, 'queued commands not read'));
      return;
    }
    const sn = downlink.serialOf(topic);
    if (sn !== undefined) reachable(sn);
  });

  /** A terminal turned online or subscribed: its turn, if it may have rows queued. */
  function reachable(sn: string) {
    if (pending.has(sn)) wake(sn);
  }

  return {
    online,
    wake,
    reachable,
    /** A row accepted for a terminal not reachable now (it has a ttl): it goes out once the terminal is. */
    queued(sn: string) {
      pending.add(sn);
      // It turned reachable while the row was being written.
      if (online(sn)) wake(sn);
    },
    /** A message from this terminal: commands that waited for a word from it go out. */
    heard(sn: string) {
      if (awaitingWord.size > 0 && awaitingWord.delete(sn)) wake(sn);
    },
    /** Resolves once this terminal's publishes under way are handed to the writer; undefined when none is (the usual case). */
    unrecorded: (sn: string) => unrecorded.get(sn)?.recorded,
    wakeAll,
    /**
     * A command just accepted for an online terminal: resolves with its first
     * turn. `charged`: it took its COMMAND_RATE token already.
     */
    dispatch(sn: string, id: string, alreadyCharged: boolean): Promise<Turn> {
      const turn = new Promise<Turn>((resolve) => turns.set(id, { sn, resolve }));
      if (alreadyCharged) charged.add(id);
      wake(sn);
      return turn;
    },
    async stop() {
      stopped = true;
      for (const [id] of turns) settle(id, { status: 'queued' });
      // Let the last turns see `stopped`.
      await sleep(0);
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
