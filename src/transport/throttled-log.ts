import type { Logger } from '../lib/log.ts';

/** At most one line a minute about a thing an attacker can repeat at will. */
export const THROTTLE_MS = 60_000;

/**
 * A warning that may come thousands of times a second (refused connections,
 * refused subscriptions, failed accepts): the first is logged at once, the
 * rest at most once every `everyMs`, each line with `count`, the occurrences
 * since the line before, so the journal does not amplify an attack.
 */
export function throttledWarn(log: Logger, msg: string, everyMs = THROTTLE_MS, now = Date.now) {
  let last = -Infinity;
  let count = 0;
  return (fields: Record<string, unknown> = {}): void => {
    count += 1;
    const t = now();
    if (t - last < everyMs) return;
    log.warn({ ...fields, count }, msg);
    last = t;
    count = 0;
  };
}
