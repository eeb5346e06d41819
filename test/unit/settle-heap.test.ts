import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Each check runs in a process of its own: a session that leaves its thread's
// loop stuck would stop this one's timers too, and the test could not end.

const MODULE = new URL('../../src/lib/settle-heap.ts', import.meta.url).href;
const WORKERS = new URL('../../src/lib/module-url.ts', import.meta.url).href;
const THREAD = new URL('../support/settling-thread.ts', import.meta.url).href;

/** The script's output, run as an ES module from source; it must end by itself within 30 s. */
function run(script: string): string {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  expect(child.signal, 'ended by itself').toBeNull();
  expect(child.status, child.stderr).toBe(0);
  return child.stdout;
}

describe('settleHeap', () => {
  it('makes a full collection of the calling thread’s heap while it is asked for', () => {
    // A collection's entry reaches an observer a little after it: awaited, not read at once.
    const output = run(`
      import { constants, PerformanceObserver } from 'node:perf_hooks';
      import { settleHeap } from '${MODULE}';
      const from = performance.now();
      let to = Infinity;
      let observer;
      const collected = new Promise((resolve) => {
        observer = new PerformanceObserver((list) => {
          const major = list.getEntries().find((entry) => entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
          if (major && major.startTime >= from && major.startTime <= to) resolve();
        });
        observer.observe({ entryTypes: ['gc'] });
      });
      await settleHeap();
      to = performance.now();
      await collected;
      observer.disconnect();
      console.log('collected');
    `);
    expect(output).toBe('collected\n');
  });

  it('leaves nothing that keeps a thread alive: the main thread and a worker that settle end by themselves', () => {
    const output = run(`
      import { settleHeap } from '${MODULE}';
      import { startWorker } from '${WORKERS}';
      await settleHeap();
      startWorker(new URL('${THREAD}'), undefined).on('exit', (code) => console.log('worker ended', code));
    `);
    expect(output).toBe('worker settled\nworker ended 0\n');
  });
});
