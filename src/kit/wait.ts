import { setTimeout as delay } from 'node:timers/promises';

// Waits that end. A test's own timeout bounds its waits; the benchmark and
// the simulator must end by themselves whatever the bridge does, so theirs
// carry a limit, and running out of it is an error naming what was awaited.

export class TimedOut extends Error {}

/** How long a wait may take, and what it waits for (named in the TimedOut error). */
export interface Limit {
  ms: number;
  what: string;
}

/** The promise's result, or a TimedOut error naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut(`${what}: no result within ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits for a condition that no event announces (a reconnection seen from
 * outside, a row in another process's database), checking it every
 * `everyMs`, and resolves with its first truthy value. With a `limit` it
 * throws TimedOut once that has passed; without one, the caller's own limit
 * bounds it (a test's timeout).
 */
export async function until<T>(check: () => T | Promise<T>, everyMs = 25, limit?: Limit): Promise<NonNullable<T>> {
  const deadline = limit === undefined ? Infinity : performance.now() + limit.ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (performance.now() >= deadline) throw new TimedOut(`${limit!.what}: not within ${(limit!.ms / 1000).toFixed(0)} s`);
    await delay(everyMs);
  }
}
