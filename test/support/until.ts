import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits for a condition that no event announces (a reconnection seen from
 * outside, a row in another process's database), checking it every few
 * milliseconds; the test's own timeout bounds it.
 */
export async function until<T>(check: () => T | Promise<T>, everyMs = 25): Promise<NonNullable<T>> {
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    await delay(everyMs);
  }
}
