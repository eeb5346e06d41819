import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { until } from '../../src/kit/wait.ts';
import type { Store } from '../../src/store/store.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { startWorker, storeWithRecords } from '../support/delivery-rig.ts';

// A delivery's image is read, put in the webhook body and posted; the
// outcome then waits for its commit, behind the records a burst queued
// (~1 s through Mosquitto). Held that long, every image reached V8's old
// generation, which frees it only at a full collection (README §Performance,
// "The views' hidden classes"). Here the outcomes wait until the test lets
// them commit, and a full collection meanwhile must free every image read.

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const cleanup = cleanupAfterEach();

it("lets go of each image it posted while the delivery's outcome waits for its commit", async () => {
  const image = 'A'.repeat(36_000);
  const { store, receiver, endpoints } = await storeWithRecords(4, { cleanup, images: 'inline', image });

  // The real store, but the images it reads are watched and the attempts' outcomes wait for `commit`.
  const read: WeakRef<Buffer>[] = [];
  const held: (() => void)[] = [];
  let committing = false;
  const commitAll = () => {
    committing = true;
    for (const commit of held) commit();
  };
  const watched: Store = {
    ...store,
    async eventWithImage(seq, withImage) {
      const found = await store.eventWithImage(seq, withImage);
      if (found?.image) read.push(new WeakRef(found.image));
      return found;
    },
    async write(job) {
      if (job.kind === 'attempt' && !committing) await new Promise<void>((commit) => held.push(commit));
      return store.write(job);
    },
  };
  await startWorker({ store: watched, endpoints, images: 'inline', concurrency: 4 }, cleanup);
  // Undone before the worker's stop, which waits for the outcomes held.
  cleanup(commitAll);

  const posted = await receiver.received(4);
  expect(posted.map((request) => request.json.img)).toEqual([image, image, image, image]);
  await until(() => held.length === 4);
  expect(read).toHaveLength(4);
  // Twice, a turn apart: what a collection finds unreachable may be freed by the next.
  collect();
  await new Promise((turn) => setImmediate(turn));
  collect();
  expect(read.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);

  commitAll();
  await until(async () => (await store.dueDeliveries('ep_a', Date.now() + 120_000, 10)).length === 0);
});
