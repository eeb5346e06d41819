import { expect, it } from 'vitest';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { startWorker, storeWithRecords, verifiedJob } from '../support/delivery-rig.ts';

// A delivery lane whose slot goes to another replica and comes back
// (README §Running several replicas): what it fetched ahead before was
// delivered meanwhile by the other replica, and is not sent again.

const cleanup = cleanupAfterEach();
/** Records without images. */
const rig = { cleanup, images: 'omit' } as const;
/** The worker: no images either, two requests in flight at most. */
const workerParts = { images: 'omit', concurrency: 2 } as const;

/**
 * A lane with two requests held open at the receiver and the other eighteen
 * of twenty deliveries fetched ahead; `slot` is what the cluster tells it.
 */
async function laneWithTwoInFlight(slot: { owned: boolean; changes: number }) {
  const { store, receiver, endpoints, ids } = await storeWithRecords(20, { ...rig, script: () => 'hang' });
  const worker = await startWorker({ store, endpoints, ...workerParts, owns: () => slot.owned, slotChanges: () => slot.changes }, cleanup);
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
    const { events } = await store.write(verifiedJob('2000', Date.now()));
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
  const { store, receiver, endpoints } = await storeWithRecords(3, rig);
  // Another slot leaves this replica while the lane's first read is under way; the lane's own stays.
  const slot = { changes: 1 };
  const dueDeliveries: typeof store.dueDeliveries = async (...args) => {
    const rows = await store.dueDeliveries(...args);
    if (slot.changes === 1) slot.changes += 1;
    return rows;
  };
  const reading = new Proxy(store, { get: (target, key) => (key === 'dueDeliveries' ? dueDeliveries : Reflect.get(target, key)) });
  await startWorker({ store: reading, endpoints, ...workerParts, slotChanges: () => slot.changes }, cleanup);
  // Nothing else wakes the lane: it reads again by itself, under the new count.
  expect(await receiver.received(3)).toHaveLength(3);
  expect(slot.changes).toBe(2);
});
