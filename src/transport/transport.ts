/** What the rest of the bridge needs from either transport; nothing above it knows which one runs. */
export interface Transport {
  /** QoS 1 resolves on the broker's acknowledgement; rejects with BrokerUnavailable when it cannot be had. */
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
  /** Connected to the broker (external), or listening (embedded). */
  connected(): boolean;
  /**
   * Whether a connected client subscribes to this topic right now, or
   * undefined when the transport cannot know (an external broker).
   */
  listening(topic: string): boolean | undefined;
  /**
   * Calls `listener` when a topic may have become reachable: with the topic
   * when a client subscribes to it (embedded), with undefined when the broker
   * connection is (re)established (external). Queued commands go out then.
   */
  onListening(listener: (topic: string | undefined) => void): void;
  /**
   * When the connection to the broker was last established (wall clock, ms);
   * 0 for the embedded broker, which knows who listens. Against an external
   * broker a terminal heard from before it may not be back yet.
   */
  connectedAt(): number;
  /** README §Running several replicas: the slots of the shared subscription this replica holds; absent without slots. */
  slots?(): number[];
  stop(): Promise<void>;
}

/** A downLink publish that did not reach the broker; never retried later (a door command must not fire late). */
export class BrokerUnavailable extends Error {}

/** README §HTTP API: a command the broker has not acknowledged within this time is reported as failed. */
export const PUBLISH_ACK_TIMEOUT_MS = 5000;

/**
 * How long an external broker may keep a command for a terminal that is
 * offline (MQTT 5 Message Expiry): a door must not open minutes after the
 * request was answered.
 */
export const COMMAND_EXPIRY_S = 10;

/** How long a stop waits for the commits under way, so their PUBACKs go out before the connections close. */
const STOP_SETTLE_MS = 5000;

/**
 * Messages handed to ingest and not answered yet. A stop waits for them (at
 * most STOP_SETTLE_MS): their PUBACKs go out before the connections close, or
 * the broker or terminal would send them again to the next run, and a device
 * message (whose id is not its content) would be stored twice.
 */
export function createInFlight() {
  let count = 0;
  let settled: (() => void) | undefined;
  return {
    get count() {
      return count;
    },
    add() {
      count += 1;
    },
    done() {
      if (--count === 0) settled?.();
    },
    /** Resolves once none is left, or after STOP_SETTLE_MS. */
    settle(): Promise<void> {
      if (count === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, STOP_SETTLE_MS);
        timer.unref();
        settled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
