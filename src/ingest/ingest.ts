import type { Logger } from 'pino';
import type { Admission, NotAdmitted } from '../terminals/admission.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Presence } from '../terminals/presence.ts';
import { heartD } from '../protocol/downlink.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import { cmdLabel, isHeartbeat } from '../protocol/uplink.ts';
import type { StoredEvent } from '../events/events.ts';
import type { Job } from '../store/sqlite/jobs.ts';
import type { Writer } from '../store/sqlite/writer.ts';

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
  writer: Writer;
  metrics: Metrics;
  log: Logger;
  /** Publishes at QoS 0 without waiting: a heartbeat answer must never queue behind anything. */
  reply: (topic: string, payload: string) => void;
  /** New events, after their commit. */
  stored: (events: StoredEvent[]) => void;
}

/**
 * One upLink message from either transport. Heartbeats are answered here and
 * now; everything else is handed to the writer thread, which decodes it,
 * stores its events and reports back after the commit, and only then may the
 * transport acknowledge it to the terminal or broker.
 */
export function createIngest(deps: IngestDeps) {
  const { uplink, downlink, presence, writer, metrics } = deps;

  /** A serial over MAX_TERMINALS or DISCOVERY_RATE: no presence, no row, no event (README §Topics). */
  function notLearned(sn: string, topic: string, payload: Uint8Array, receivedAt: number, why: NotAdmitted, done: Done) {
    if (deps.refuse) {
      metrics.rejected.inc({ reason: 'terminal_limit' });
      return done(new Error(`${sn} not learned: ${why.detail}`));
    }
    // Only the sample is kept: the writer copies what it is given.
    const detail = `${sn} not learned: ${why.detail}`;
    persist({ kind: 'reject', sn, topic, reason: 'terminal_limit', detail, payload: payload.subarray(0, 4096), size: payload.length, receivedAt }, done);
  }

  function persist(job: Job, done: Done) {
    // Only the serial outlives the hand-over: the closure below must not keep
    // the payload (the writer has its own copy) alive until the commit.
    const sn = job.kind === 'uplink' ? job.sn : undefined;
    metrics.uncommitted.inc();
    writer.write(job).then(
      (result) => {
        metrics.uncommitted.dec();
        if (result.cmd) metrics.messagesIn.inc({ cmd: cmdLabel(result.cmd) });
        // A heartbeat too large for the fast path is answered late rather than never.
        if (result.cmd === 'heartU' && sn !== undefined) deps.reply(downlink.topicOf(sn), heartD(new Date()));
        for (const reason of result.rejected ?? []) metrics.rejected.inc({ reason });
        try {
          if (result.events.length > 0) deps.stored(result.events);
        } catch (err) {
          // What listens (delivery lanes, the live stream) must not keep a
          // stored message from being acknowledged; the lanes find the events anyway.
          deps.log.error({ err: (err as Error).message }, 'new events not passed on');
        }
        done();
      },
      (err: Error) => {
        metrics.uncommitted.dec();
        deps.log.error({ err: err.message }, 'upLink message not stored; it stays unacknowledged');
        done(err);
      },
    );
  }

  return function ingest(topic: string, payload: Uint8Array, done: Done): void {
    const sn = uplink.serialOf(topic);
    if (sn === undefined) {
      metrics.ignored.inc();
      return done();
    }
    const receivedAt = Date.now();
    // A terminal the bridge knows costs one Map lookup here: the heartbeat fast path.
    if (!presence.knows(sn) && !deps.listed.has(sn)) {
      if (!deps.discovery) {
        return persist({ kind: 'reject', sn, topic, reason: 'unknown_device', detail: `${sn} is not in DEVICES and DISCOVERY is off`, payload, size: payload.length, receivedAt }, done);
      }
      const why = deps.admission.admit(sn);
      if (why) return notLearned(sn, topic, payload, receivedAt, why, done);
    }
    presence.touch(sn, receivedAt);
    if (payload.length > deps.maxPayload) {
      const detail = `${payload.length} bytes, over MAX_PAYLOAD (${deps.maxPayload})`;
      return persist({ kind: 'reject', sn, topic, reason: 'too_large', detail, payload: payload.subarray(0, 4096), size: payload.length, receivedAt }, done);
    }
    if (isHeartbeat(payload)) {
      deps.reply(downlink.topicOf(sn), heartD(new Date(receivedAt)));
      metrics.messagesIn.inc({ cmd: 'heartU' });
      return done();
    }
    persist({ kind: 'uplink', sn, topic, payload, receivedAt }, done);
  };
}

export type Ingest = ReturnType<typeof createIngest>;
