import { PassThrough } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { createEndpoints } from '../../src/delivery/endpoints.ts';
import { createDeliveryWorker } from '../../src/delivery/worker.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createMetrics } from '../../src/lib/metrics.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Job } from '../../src/store/store.ts';
import { startReceiver } from '../support/receiver.ts';

// A delivery lane whose slot goes to another replica and comes back
// (README §Running several replicas): what it fetched ahead before was
// delivered meanwhile by the other replica, and is not sent again.

const log = createLogger('fatal', new PassThrough());
const stops: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const record = (num: string, receivedAt: number) =>
  ({
    kind: 'uplink',
    sn: 'SN1',
    topic: 'fungxi_SN1_upLink',
    payload: Buffer.from(JSON.stringify(verifiedRecordU([verifiedRecord({ num })]))),
    receivedAt,
  }) satisfies Job;

it('does not send again what it fetched ahead before its slot went to another replica', async () => {
  const dir = makeTempDir('facegate-delivery-slots-');
  stops.push(() => removeTempDir(dir));
  const policy = { maxRecords: 10, forward: 'all', images: 'omit', replyWindowMs: 30_000, replyField: 'tag', replica: '101' } as const;
  const store = await openSqliteStore({ dataDir: dir, sync: 'normal', ...policy }, { log, onFatal: () => {} });
  stops.push(() => store.close());
  // The first requests are held open: the lane has two in flight and the rest fetched ahead.
  const receiver = await startReceiver(() => 'hang');
  stops.push(() => receiver.close());
  const endpoints = createEndpoints(store);
  await endpoints.add({ id: 'ep_a', url: receiver.url, secret: null, eventTypes: ['face.verified'] });
  const now = Date.now();
  const ids = new Map<number, string>();
  for (let i = 0; i < 20; i++) for (const event of (await store.write(record(String(1000 + i), now + i))).events) ids.set(event.seq, event.id);

  let owned = true;
  const worker = createDeliveryWorker({
    store,
    endpoints,
    metrics: createMetrics(),
    log,
    owns: () => owned,
    schedule: [60_000],
    timeoutMs: 60_000,
    concurrency: 2,
    images: 'omit',
    userAgent: 'facegate-test',
  });
  stops.push(() => worker.stop());
  await worker.start();
  const inFlight = (await receiver.received(2)).map((request) => request.json.id as string);

  // The slot goes to another replica, which delivers every other pending delivery.
  owned = false;
  const elsewhere = (await store.dueDeliveries('ep_a', Date.now(), 100)).filter((d) => !inFlight.includes(ids.get(d.eventSeq)!));
  expect(elsewhere).toHaveLength(18);
  for (const { seq } of elsewhere)
    await store.write({ kind: 'attempt', seq, at: Date.now(), status: 200, error: null, outcome: 'delivered', nextAttemptAt: Date.now() });
  // The held requests end (the receiver restarts): their attempts conclude here, not owned, and are retried in a minute.
  receiver.script(() => ({ status: 200 }));
  await receiver.down();
  await receiver.up();

  // The slot comes back (onMoved wakes every lane, lifecycle.ts), and a new
  // record comes: the lane sends it, and none of the eighteen.
  owned = true;
  worker.wakeAll();
  const { events } = await store.write(record('2000', Date.now()));
  worker.wake(events);
  await receiver.received(1, (request) => request.json?.id === events[0].id);
  const sent = receiver.requests.map((request) => request.json?.id as string);
  expect(sent.filter((id) => !inFlight.includes(id) && id !== events[0].id)).toEqual([]);
});
