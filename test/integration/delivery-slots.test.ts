import { PassThrough } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { createEndpoints, type Endpoints } from '../../src/delivery/endpoints.ts';
import { createDeliveryWorker, type DeliveryOptions } from '../../src/delivery/worker.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createMetrics } from '../../src/lib/metrics.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Job, Store } from '../../src/store/store.ts';
import { type Script, startReceiver } from '../support/receiver.ts';

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

/** A store with `count` records due, one endpoint on a receiver answering as `script` says. */
async function storeWithRecords(count: number, script?: Script) {
  const dir = makeTempDir('facegate-delivery-slots-');
  stops.push(() => removeTempDir(dir));
  const policy = { maxRecords: 10, forward: 'all', images: 'omit', replyWindowMs: 30_000, replyField: 'tag', replica: '101' } as const;
  const store = await openSqliteStore({ dataDir: dir, sync: 'normal', ...policy }, { log, onFatal: () => {} });
  stops.push(() => store.close());
  const receiver = await startReceiver(script);
  stops.push(() => receiver.close());
  const endpoints = createEndpoints(store);
  await endpoints.add({ id: 'ep_a', url: receiver.url, secret: null, eventTypes: ['face.verified'] });
  // Received a second ago: every one is due at once, however fast the rest goes.
  const now = Date.now() - 1000;
  const ids = new Map<number, string>();
  for (let i = 0; i < count; i++) for (const event of (await store.write(record(String(1000 + i), now + i))).events) ids.set(event.seq, event.id);
  return { store, receiver, endpoints, ids };
}

/** A started worker, two requests in flight at most, told of the slots by `cluster`. */
async function startWorker(store: Store, endpoints: Endpoints, cluster: Pick<DeliveryOptions, 'owns' | 'slotChanges'>) {
  const worker = createDeliveryWorker({
    store,
    endpoints,
    metrics: createMetrics(),
    log,
    ...cluster,
    schedule: [60_000],
    timeoutMs: 60_000,
    concurrency: 2,
    images: 'omit',
    userAgent: 'facegate-test',
  });
  stops.push(() => worker.stop());
  await worker.start();
  return worker;
}

/**
 * A lane with two requests held open at the receiver and the other eighteen
 * of twenty deliveries fetched ahead; `slot` is what the cluster tells it.
 */
async function laneWithTwoInFlight(slot: { owned: boolean; changes: number }) {
  const { store, receiver, endpoints, ids } = await storeWithRecords(20, () => 'hang');
  const worker = await startWorker(store, endpoints, { owns: () => slot.owned, slotChanges: () => slot.changes });
  const inFlight = (await receiver.received(2)).map((request) => request.json.id as string);

  /** Another replica, holding the slot, delivers every other pending delivery. */
  async function deliveredElsewhere() {
    const elsewhere = (await store.dueDeliveries('ep_a', Date.now(), 100)).filter((d) => !inFlight.includes(ids.get(d.eventSeq)!));
    expect(elsewhere).toHaveLength(18);
    for (const { seq } of elsewhere)
      await store.write({ kind: 'attempt', seq, at: Date.now(), status: 200, error: null, outcome: 'delivered', nextAttemptAt: Date.now() });
  }
  /** The held requests end (the receiver restarts): their attempts conclude, and are retried in a minute. */
  async function restartReceiver() {
    receiver.script(() => ({ status: 200 }));
    await receiver.down();
    await receiver.up();
  }
  /** A new record comes: once its webhook has arrived, what else the lane sent besides the two held. */
  async function sentBesidesNew() {
    const { events } = await store.write(record('2000', Date.now()));
    worker.wake(events);
    await receiver.received(1, (request) => request.json?.id === events[0].id);
    return receiver.requests.map((request) => request.json?.id as string).filter((id) => !inFlight.includes(id) && id !== events[0].id);
  }
  return { worker, deliveredElsewhere, restartReceiver, sentBesidesNew };
}

it('does not send again what it fetched ahead before its slot went to another replica', async () => {
  const slot = { owned: true, changes: 1 };
  const lane = await laneWithTwoInFlight(slot);
  slot.owned = false;
  slot.changes += 1;
  await lane.deliveredElsewhere();
  // The held requests' attempts conclude here while the slot is elsewhere.
  await lane.restartReceiver();
  // The slot comes back (onMoved wakes every lane, lifecycle.ts): the lane sends the new record, and none of the eighteen.
  slot.owned = true;
  slot.changes += 1;
  lane.worker.wakeAll();
  expect(await lane.sentBesidesNew()).toEqual([]);
});

it('does not send them again when the slot left and came back between two looks at the lane', async () => {
  const slot = { owned: true, changes: 1 };
  const lane = await laneWithTwoInFlight(slot);
  // Gone and back while the two requests are in flight: every look at the lane finds its slot here.
  slot.changes += 2;
  await lane.deliveredElsewhere();
  // The held requests conclude and the lane fills its room, before the cluster's wake-up of the slot taken.
  await lane.restartReceiver();
  expect(await lane.sentBesidesNew()).toEqual([]);
});

it('goes on when a slot comes or goes during its read of what is due', async () => {
  const { store, receiver, endpoints } = await storeWithRecords(3);
  // Another slot leaves this replica while the lane's first read is under way; the lane's own stays.
  const slot = { changes: 1 };
  const dueDeliveries: typeof store.dueDeliveries = async (...args) => {
    const rows = await store.dueDeliveries(...args);
    if (slot.changes === 1) slot.changes += 1;
    return rows;
  };
  const reading = new Proxy(store, { get: (target, key) => (key === 'dueDeliveries' ? dueDeliveries : Reflect.get(target, key)) });
  await startWorker(reading, endpoints, { slotChanges: () => slot.changes });
  // Nothing else wakes the lane: it reads again by itself, under the new count.
  expect(await receiver.received(3)).toHaveLength(3);
  expect(slot.changes).toBe(2);
});
