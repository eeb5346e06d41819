import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { startWorker } from '../../src/lib/module-url.ts';
import { settleHeap } from '../../src/lib/settle-heap.ts';
import { runModuleScript } from '../support/module-script.ts';
import { youngCollectionsAskedDuring } from '../support/settling-thread.ts';

const MODULE = new URL('../../src/lib/settle-heap.ts', import.meta.url).href;
const THREAD = new URL('../support/settling-thread.ts', import.meta.url);

describe('settleHeap', () => {
  it('collects the calling thread’s young generation, and hands no other code a gc', async () => {
    expect(await youngCollectionsAskedDuring(settleHeap)).toBe(1);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    // The extension's flag is unset again: a context made after it has no gc either.
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });

  it('collects a worker thread’s own young generation, as the database writer’s', async () => {
    const worker = startWorker(THREAD, undefined);
    const [collections] = await new Promise<unknown[]>((resolve, reject) => {
      worker.once('message', (message) => resolve([message]));
      worker.once('error', reject);
    });
    await new Promise((resolve) => worker.once('exit', resolve));
    expect(collections).toBe(1);
  });

  it('leaves a process started with --expose-gc its gc, in its own context and in new ones', () => {
    const child = runModuleScript(
      `import { runInNewContext } from 'node:vm';
       import { settleHeap } from '${MODULE}';
       settleHeap();
       console.log(typeof globalThis.gc, runInNewContext('typeof gc'));`,
      ['--expose-gc'],
      30_000,
    );
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout).toBe('function function\n');
  });
});
