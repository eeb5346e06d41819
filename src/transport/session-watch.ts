import type { Logger } from '../lib/log.ts';

/** A connection the broker ends sooner than this after it began counts as short-lived. */
const SHORT_MS = 10_000;
/** Short-lived connections in a row that mean another client takes the session each time. */
const SUSPECT = 3;
const WARN_EVERY_MS = 60_000;
/** MQTT 5 DISCONNECT reason code: Session taken over [MQTT-3.14.2.1]. */
const SESSION_TAKEN_OVER = 0x8e;

/**
 * Notices when the bridge's session is taken from it: two bridges with one
 * MQTT_CLIENT_ID take it from each other at every reconnect, each receiving
 * part of the messages. An MQTT 5 broker may say so (reason 0x8E; EMQX does,
 * Mosquitto 2.0 just closes the socket), so connections that the broker ends
 * within seconds of their start, several in a row, count as the same sign.
 * `closed` answers how many took place in a row once it is that sign (0
 * otherwise), so the caller can back off longer than for an unreachable broker.
 */
export function createSessionWatch({ clientId, log, now = () => performance.now() }: { clientId: string; log: Logger; now?: () => number }) {
  let connectedAt: number | undefined;
  let shortLived = 0;
  let takenOver = false;
  let warnedAt = -Infinity;
  return {
    connected(): void {
      connectedAt = now();
    },
    disconnected(reasonCode: number | undefined): void {
      if (reasonCode === SESSION_TAKEN_OVER) takenOver = true;
    },
    closed(): number {
      if (connectedAt !== undefined) {
        shortLived = takenOver || now() - connectedAt < SHORT_MS ? shortLived + 1 : 0;
        if (takenOver) shortLived = Math.max(shortLived, SUSPECT);
      }
      connectedAt = undefined;
      takenOver = false;
      if (shortLived < SUSPECT) return 0;
      if (now() - warnedAt >= WARN_EVERY_MS) {
        warnedAt = now();
        log.error(
          { clientId, times: shortLived },
          `the broker keeps ending the connection at once: another client uses MQTT_CLIENT_ID=${clientId} (each running bridge needs its own id); reconnecting more slowly`,
        );
      }
      return shortLived;
    },
  };
}
