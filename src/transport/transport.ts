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
  stop(): Promise<void>;
}

/** A downLink publish that did not reach the broker; never retried later (a door command must not fire late). */
export class BrokerUnavailable extends Error {}

/** SPEC §HTTP API: a command the broker has not acknowledged within this time is reported as failed. */
export const PUBLISH_ACK_TIMEOUT_MS = 5000;

/**
 * How long an external broker may keep a command for a terminal that is
 * offline (MQTT 5 Message Expiry): a door must not open minutes after the
 * request was answered.
 */
export const COMMAND_EXPIRY_S = 10;

/** How long a stop waits for the commits under way, so their PUBACKs go out before the connections close. */
export const STOP_SETTLE_MS = 5000;

/** `settled`, or the time limit, whichever comes first. */
export function settleWithin(settled: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void settled.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
