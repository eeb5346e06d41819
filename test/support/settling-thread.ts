import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { isMainThread, parentPort } from 'node:worker_threads';
import { settleHeap } from '../../src/lib/settle-heap.ts';

/** Allocates until the young generation has been collected once: a collection whose entry closes a count. */
function scavenge() {
  const used = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0;
  // Each allocation is kept on a chain, so that no compiler can leave it out and the loop go on for ever.
  let kept: unknown[] = [];
  for (let before = used(); ; ) {
    kept = [kept, new Array(64).fill(0)];
    const now = used();
    if (now < before) return;
    before = now;
  }
}

/**
 * How many collections of this thread's young generation were asked for
 * (V8's forced flag, which no collection V8 starts itself carries) while
 * `act` ran. A collection's entry reaches an observer a little after it:
 * counted once the observer has been given one begun after `act`'s end,
 * which `scavenge` makes.
 */
export async function youngCollectionsAskedDuring(act: () => void): Promise<number> {
  const from = performance.now();
  let to = Number.POSITIVE_INFINITY;
  let count = 0;
  let observer: PerformanceObserver | undefined;
  const done = new Promise<void>((resolve) => {
    observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.startTime >= to) return resolve();
        const { kind, flags = 0 } = (entry as { detail?: { kind?: number; flags?: number } }).detail ?? {};
        const asked = (flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR && asked && entry.startTime >= from) count += 1;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  });
  act();
  to = performance.now();
  scavenge();
  await done;
  observer?.disconnect();
  return count;
}

// As a worker thread (test/unit/settle-heap.test.ts): settles its heap as the database writer's does, says how many
// collections that asked for, and ends.
if (!isMainThread) parentPort?.postMessage(await youngCollectionsAskedDuring(settleHeap));
