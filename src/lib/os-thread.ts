import { readlinkSync } from 'node:fs';

/**
 * The calling thread's id in the operating system (Linux: `/proc/thread-self`
 * links to `<pid>/task/<tid>`), or undefined elsewhere. Node.js gives a
 * worker's id among its own threads only; this one is what `top -H`,
 * `/proc/<pid>/task/<tid>` and the bench's CPU figures per thread name.
 */
export function osThreadId(): number | undefined {
  try {
    const tid = Number(/\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}
