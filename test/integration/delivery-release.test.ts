import { PassThrough } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import { createEndpoints } from '../../src/delivery/endpoints.ts';
import { createDeliveryWorker } from '../../src/delivery/worker.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { until } from '../../src/kit/wait.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createMetrics } from '../../src/lib/metrics.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { startReceiver } from '../support/receiver.ts';

// A delivery's image is read, put in the webhook body and posted; the
// outcome then waits for its commit, behind the records a burst queued
// (~1 s through Mosquitto). Held that long, every image reached V8's old
// generation, which frees it only at a full collection (README §Performance,
// "The views' hidden classes"). Here the outcomes wait until the test lets
// them commit, and a full collection meanwhile must free every image read.

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const log = createLogger('fatal', new PassThrough());
const stops: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

it("lets go of each image it posted while the delivery's outcome waits for its commit", async () => {
  const dir = makeTempDir('facegate-delivery-release-');
  stops.push(() => removeTempDir(dir));
  const policy = { maxRecords: 10, forward: 'all', images: 'inline', replyWindowMs: 30_000, replyField: 'tag', replica: '101' } as const;
  const store = await openSqliteStore({ dataDir: dir, sync: 'normal', ...policy }, { log, onFatal: () => {} });
  stops.push(() => store.close());
  const receiver = await startReceiver();
  stops.push(() => receiver.close());
  const endpoints = createEndpoints(store);
  await endpoints.add({ id: 'ep_a', url: receiver.url, secret: null, eventTypes: ['face.verified'] });
  const image = 'A'.repeat(36_000);
  for (let i = 0; i < 4; i++) {
    const payload = Buffer.from(JSON.stringify(verifiedRecordU([verifiedRecord({ num: String(1000 + i), liveImageBase64: image })])));
    await store.write({ kind: 'uplink', sn: 'SN1', topic: 'fungxi_SN1_upLink', payload, receivedAt: Date.now() - 1000 + i });
  }

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
  const worker = createDeliveryWorker({
    store: watched,
    endpoints,
    metrics: createMetrics(),
    log,
    schedule: [60_000],
    timeoutMs: 60_000,
    concurrency: 4,
    images: 'inline',
    userAgent: 'facegate-test',
  });
  stops.push(() => worker.stop());
  stops.push(commitAll);
  await worker.start();

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
