import { setTimeout as delay } from 'node:timers/promises';

// The benchmark must end by itself whatever the bridge does: every wait below
// has a limit, and running out of it is an error naming what was awaited.

export class TimedOut extends Error {}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut(`${what}: no result within ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Checks `check` every `everyMs` until it returns a value, or throws TimedOut after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | Promise<T | undefined>, everyMs: number, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() >= deadline) throw new TimedOut(`${what}: not within ${(timeoutMs / 1000).toFixed(0)} s`);
    await delay(everyMs);
  }
}
