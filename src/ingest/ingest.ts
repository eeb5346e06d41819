import type { HeldReplies } from '../commands/held-replies.ts';
import type { StoredEvent } from '../events/events.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import { heartD } from '../protocol/downlink.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import { cmdLabel, isHeartbeat, type RejectReason } from '../protocol/uplink.ts';
import { type RejectJob, SAMPLE_BYTES, type Store, Unprocessable, type UplinkJob } from '../store/store.ts';
import type { Admission, NotAdmitted } from '../terminals/admission.ts';
import type { Presence } from '../terminals/presence.ts';
import type { Message, Outcome, Replied } from './interpret.ts';

/** Called once the message may be acknowledged (it is durable, or worthless to keep); with an error, it must not be. */
export type Done = (err?: Error) => void;

export interface IngestDeps {
  uplink: TopicTemplate;
  downlink: TopicTemplate;
  maxPayload: number;
  /** DEVICES and DEFAULT_DEVICE: always taken in, known yet or not. */
  listed: ReadonlySet<string>;
  /** DISCOVERY: also learn serials neither known nor listed, as far as `admission` allows. */
  discovery: boolean;
  admission: Admission;
  /**
   * What becomes of a message from a serial not admitted. The embedded broker
   * refuses it: no PUBACK, aedes ends that client's connection, a terminal
   * sends it again later and an intruder pays a reconnect. The connection to
   * an external broker is the bridge's own and carries every terminal, so
   * there it is acknowledged and kept as a reject (README §Malformed messages).
   */
  refuse: boolean;
  presence: Presence;
  /** Only its writes: jobs committed durably. */
  store: Pick<Store, 'write'>;
  metrics: Metrics;
  log: Logger;
  /** Publishes at QoS 0 without waiting: a heartbeat answer must never queue behind anything. */
  reply: (topic: string, payload: string) => void;
  /** New events, after their commit. */
  stored: (events: StoredEvent[]) => void;
  /** A reply the store matched to its command, after its commit. */
  replied?: (replied: Replied) => void;
  /**
   * Resolves once the commands being published to this terminal are handed
   * to the writer, so that its reply is applied after them; undefined when
   * none is (a Map lookup: what every other message pays).
   */
  publishing?: (sn: string) => Promise<void> | undefined;
  /** Every message of a known terminal, after presence: commands with a ttl that waited for a word from it go out. */
  heard?: (sn: string) => void;
  /**
   * README §Running several replicas: replies the store gave back (a command
   * they could answer queued, its publish not recorded yet), held until it
   * is. Unset: every message is stored as it comes.
   */
  held?: Pick<HeldReplies, 'hold'>;
}

/** A heartbeat answered on the fast path: nothing to store. */
const HEARTBEAT: Outcome = { cmd: 'heartU', heartbeat: true, events: [], rejected: [], unkept: 0 };
/** Rejects not kept as rows are logged at most this often, with how many since the last line. */
const NOT_KEPT_LOG_MS = 60_000;

/**
 * One upLink message from either transport. The checks that need no parsing
 * are made here, on the main thread: the serial, its admission, the size,
 * and the heartbeat, answered here and now. Everything else goes to the
 * store, which interprets it where it commits (interpret.ts) and reports
 * back after the commit, and only then may the transport acknowledge it to
 * the terminal or broker. Whatever a message comes to, it is counted here
 * (settle), once.
 */
export function createIngest(deps: IngestDeps) {
  const { uplink, downlink, presence, store, metrics, log } = deps;
  let notKept = 0;
  let notKeptLoggedAt = -Infinity;
  // The heartbeat path, ten thousand times a second at a large site (README
  // §Performance): its answer is written once per second of the clock (it
  // names the second), its counter looked up once.
  let answerSecond = Number.NaN;
  let answer = '';
  const heartbeats = metrics.messagesIn.labels({ cmd: 'heartU' });
  function heartbeatAnswer(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== answerSecond) {
      answerSecond = second;
      answer = heartD(new Date(now));
    }
    return answer;
  }

  /** What a message came to: its answer, its counts, its events passed on. */
  function settle(sn: string, outcome: Outcome): void {
    if (outcome === HEARTBEAT) {
      deps.reply(downlink.topicOf(sn), heartbeatAnswer());
      heartbeats.inc();
      return;
    }
    if (outcome.heartbeat) deps.reply(downlink.topicOf(sn), heartbeatAnswer());
    if (outcome.cmd !== undefined) metrics.messagesIn.inc({ cmd: cmdLabel(outcome.cmd) });
    for (const reason of outcome.rejected) metrics.rejected.inc({ reason });
    if (outcome.unkept > 0) rejectsNotKept(outcome.unkept);
    if (outcome.events.length === 0) return;
    try {
      if (outcome.replied) deps.replied?.(outcome.replied);
      deps.stored(outcome.events);
    } catch (err) {
      // What listens (delivery lanes, the live stream) must not keep a
      // stored message from being acknowledged; the lanes find the events anyway.
      log.error({ err: (err as Error).message }, 'new events not passed on');
    }
  }

  /** README §Malformed messages: every reject is counted; those past the store's bound on rows are counted apart, and said so in the log once a minute. */
  function rejectsNotKept(count: number): void {
    metrics.rejectsNotKept.inc(count);
    notKept += count;
    const now = Date.now();
    if (now - notKeptLoggedAt < NOT_KEPT_LOG_MS) return;
    log.warn({ count: notKept }, 'rejects not kept as rows: a terminal sends malformed messages faster than the rejects table takes them (all are counted)');
    notKeptLoggedAt = now;
    notKept = 0;
  }

  /** A reject found before the store: the job keeps the start of the payload, all a reject row holds. */
  function reject({ sn, topic, payload, receivedAt }: Message, reason: RejectReason, detail: string, size = payload.length): RejectJob {
    // A copy: a view would carry the whole payload's buffer to the writer thread.
    return { kind: 'reject', sn, topic, receivedAt, reject: { reason, detail, payload: payload.slice(0, SAMPLE_BYTES), size } };
  }

  /** A serial over MAX_TERMINALS or DISCOVERY_RATE: no presence, no row, no event (README §Topics). */
  function notLearned(message: Message, why: NotAdmitted, done: Done) {
    const detail = `${message.sn} not learned: ${why.detail}`;
    if (!deps.refuse) {
      persist(reject(message, 'terminal_limit', detail), done);
      return;
    }
    settle(message.sn, { heartbeat: false, events: [], rejected: ['terminal_limit'], unkept: 0 });
    done(new Error(detail));
  }

  function persist(job: UplinkJob | RejectJob, done: Done, heldSince?: number) {
    // Only these outlive the hand-over: the closures below must not keep the
    // payload (the writer has its own copy) alive until the commit. A reply
    // given back comes with its payload (Outcome.held).
    const { sn, topic, receivedAt } = job;
    const sent = Date.now();
    metrics.uncommitted.inc();
    store.write(job).then(
      (result) => {
        metrics.uncommitted.dec();
        if (result.held) {
          holdBack({ sn, topic, receivedAt, payload: result.held }, done, heldSince ?? sent, sent);
          return;
        }
        settle(sn, result);
        done();
      },
      (err: Error) => {
        metrics.uncommitted.dec();
        // README §What survives what: a message that ends the writer on its own is kept as a reject and acknowledged, never tried again.
        if (err instanceof Unprocessable) {
          persist(reject({ sn, topic, receivedAt, payload: err.sample }, 'unprocessable', err.detail, err.size), done);
          return;
        }
        log.error({ err: err.message }, 'upLink message not stored; it stays unacknowledged');
        done(err);
      },
    );
  }

  /**
   * A reply the store gave back: held until a command of its terminal is
   * recorded published, then stored again (held again while its time
   * lasts); with no room or no time left, stored as ever. Unacknowledged
   * meanwhile: released, the broker sends it again.
   */
  function holdBack(message: Message, done: Done, since: number, sent: number): void {
    const held = deps.held?.hold(message.sn, since, sent, {
      again: (last) => persist({ kind: 'uplink', ...message, hold: !last }, done, since),
      release: (err) => done(err),
    });
    if (held) metrics.repliesHeld.inc();
    else persist({ kind: 'uplink', ...message }, done);
  }

  return function ingest(topic: string, payload: Uint8Array, done: Done): void {
    const sn = uplink.serialOf(topic);
    if (sn === undefined) {
      metrics.ignored.inc();
      done();
      return;
    }
    const message: Message = { sn, topic, payload, receivedAt: Date.now() };
    // A terminal the bridge knows costs one Map lookup here: the heartbeat fast path.
    if (!presence.knows(sn) && !deps.listed.has(sn)) {
      if (!deps.discovery) {
        persist(reject(message, 'unknown_device', `${sn} is not in DEVICES and DISCOVERY is off`), done);
        return;
      }
      const why = deps.admission.admit(sn);
      if (why) {
        notLearned(message, why, done);
        return;
      }
    }
    if (payload.length <= deps.maxPayload && isHeartbeat(payload)) {
      // README §Performance: the answer first, the bookkeeping after it (a
      // new terminal's presence row and event, what waited for it).
      settle(sn, HEARTBEAT);
      presence.touch(sn, message.receivedAt);
      deps.heard?.(sn);
      done();
      return;
    }
    presence.touch(sn, message.receivedAt);
    // Its device.online, if it just came online, is stored before what the message gives.
    presence.flush();
    deps.heard?.(sn);
    if (payload.length > deps.maxPayload) {
      persist(reject(message, 'too_large', `${payload.length} bytes, over MAX_PAYLOAD (${deps.maxPayload})`), done);
      return;
    }
    // A reply faster than the record of its command's publish may be given back to hold (holdBack); a record never is.
    const job: UplinkJob = deps.held ? { kind: 'uplink', ...message, hold: true } : { kind: 'uplink', ...message };
    const publishing = deps.publishing?.(sn);
    if (publishing) publishing.then(() => persist(job, done));
    else persist(job, done);
  };
}

export type Ingest = ReturnType<typeof createIngest>;
