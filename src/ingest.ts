import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';
import type { Presence } from './presence.ts';
import { heartD } from './protocol/downlink.ts';
import type { TopicTemplate } from './protocol/topics.ts';
import { isHeartbeat } from './protocol/uplink.ts';
import type { Job, StoredEvent } from './store/jobs.ts';
import type { Writer } from './store/writer.ts';

/** Called once the message may be acknowledged (it is durable, or worthless to keep); with an error, it must not be. */
export type Done = (err?: Error) => void;

export interface IngestDeps {
  uplink: TopicTemplate;
  downlink: TopicTemplate;
  maxPayload: number;
  discovery: boolean;
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

  function persist(job: Job, done: Done) {
    writer.write(job).then(
      (result) => {
        if (result.cmd) metrics.messagesIn.inc({ cmd: result.cmd });
        if (result.rejected) metrics.rejected.inc({ reason: result.rejected });
        if (result.events.length > 0) {
          for (const event of result.events) metrics.events.inc({ type: event.type });
          deps.stored(result.events);
        }
        done();
      },
      (err: Error) => {
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
    if (!deps.discovery && !presence.knows(sn)) {
      return persist({ kind: 'reject', sn, topic, reason: 'unknown_device', detail: `${sn} is not in DEVICES and DISCOVERY is off`, payload, size: payload.length, receivedAt }, done);
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
