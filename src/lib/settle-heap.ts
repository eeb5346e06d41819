import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc` extension, asked for a collection of the young generation alone. */
type Collect = (options: { type: 'minor' }) => void;

/**
 * One collection of this thread's young generation once the thread's start
 * is done (README §Performance, Node 24 and drizzle's exports). Node 24's V8
 * grows each thread's young generation to its largest while the bridge
 * starts, and its memory reducer shrinks it only when its watchdog fires,
 * ~100 s after the last collection: until then an idle bridge held ~20 MB
 * more. A collection of the young generation gives it back.
 *
 * Not a full collection: the old generation's next limit is set from what a
 * full one leaves, and after one at the start the PostgreSQL store's burst
 * made two to three times the full collections of the main thread, at ~40 %
 * more CPU a record (README §Performance, Leads measured and set aside).
 * On Node 24 a request that finds the start's incremental marking nearly
 * done finishes it as a full collection: the one V8 makes there anyway.
 *
 * V8's `gc` extension is installed only in contexts made while its flag is
 * set: the flag is set for one new context and unset again, so no other
 * code of the process is handed a `gc` it did not ask for (a process
 * started with `--expose-gc` already has one, and keeps it).
 *
 * Never throws: where the extension cannot be had (another thread unset the
 * flag between the two steps) the heap stays as it is, for V8 to shrink later.
 */
export function settleHeap(): void {
  try {
    let collect = (globalThis as { gc?: unknown }).gc;
    if (typeof collect !== 'function') {
      setFlagsFromString('--expose-gc');
      try {
        collect = runInNewContext('typeof gc === "function" ? gc : undefined');
      } finally {
        setFlagsFromString('--no-expose-gc');
      }
    }
    if (typeof collect === 'function') (collect as Collect)({ type: 'minor' });
  } catch {
    // The heap stays as it is.
  }
}
