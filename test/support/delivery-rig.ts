import { PassThrough } from 'node:stream';
import { createEndpoints } from '../../src/delivery/endpoints.ts';
import { createDeliveryWorker, type DeliveryOptions } from '../../src/delivery/worker.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createMetrics } from '../../src/lib/metrics.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { UplinkJob } from '../../src/store/store.ts';
import { type Script, startReceiver } from './receiver.ts';

/**
 * A delivery worker's parts without a bridge around them: a real SQLite
 * store holding verified records of SN1, one endpoint (`ep_a`, every
 * face.verified) on a real receiver. For the tests that drive the worker
 * itself (delivery-slots, delivery-release).
 */

const log = createLogger('fatal', new PassThrough());

export interface RigOptions {
  /** Adds a step for the test's cleanup (cleanupAfterEach). */
  cleanup: (step: () => unknown) => void;
  images: 'inline' | 'omit';
  /** How the receiver answers (support/receiver.ts). */
  script?: Script;
  /** Each record's live image (base64), when it has one. */
  image?: string;
}

/** A verified record of SN1, num `num`, as the transport hands it to the store. */
export function verifiedJob(num: string, receivedAt: number, liveImageBase64?: string): UplinkJob {
  return {
    kind: 'uplink',
    sn: 'SN1',
    topic: 'fungxi_SN1_upLink',
    payload: Buffer.from(JSON.stringify(verifiedRecordU([verifiedRecord({ num, ...(liveImageBase64 ? { liveImageBase64 } : {}) })]))),
    receivedAt,
  };
}

/**
 * A store with `count` records (nums 1000 on), received a second ago so
 * every one is due at once; the events' ids by seq.
 */
export async function storeWithRecords(count: number, { cleanup, images, script, image }: RigOptions) {
  const dir = makeTempDir('facegate-delivery-rig-');
  cleanup(() => removeTempDir(dir));
  const policy = { maxRecords: 10, forward: 'all', images, replyWindowMs: 30_000, replyField: 'tag', replica: '101' } as const;
  const store = await openSqliteStore({ dataDir: dir, sync: 'normal', ...policy }, { log, onFatal: () => {} });
  cleanup(() => store.close());
  const receiver = await startReceiver(script);
  cleanup(() => receiver.close());
  const endpoints = createEndpoints(store);
  await endpoints.add({ id: 'ep_a', url: receiver.url, secret: null, eventTypes: ['face.verified'] });
  const now = Date.now() - 1000;
  const ids = new Map<number, string>();
  for (let i = 0; i < count; i++) for (const event of (await store.write(verifiedJob(String(1000 + i), now + i, image))).events) ids.set(event.seq, event.id);
  return { store, receiver, endpoints, ids };
}

type WorkerParts = Pick<DeliveryOptions, 'store' | 'endpoints' | 'images' | 'concurrency'> & Partial<Pick<DeliveryOptions, 'owns' | 'slotChanges'>>;

/** A started worker: no retry within a test (the first retry a minute on) and no timeout that a test would meet. */
export async function startWorker(parts: WorkerParts, cleanup: RigOptions['cleanup']) {
  const worker = createDeliveryWorker({
    metrics: createMetrics(),
    log,
    schedule: [60_000],
    timeoutMs: 60_000,
    userAgent: 'facegate-test',
    ...parts,
  });
  cleanup(() => worker.stop());
  await worker.start();
  return worker;
}
