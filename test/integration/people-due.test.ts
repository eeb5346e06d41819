import { PassThrough } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { until } from '../../src/kit/wait.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createMetrics } from '../../src/lib/metrics.ts';
import { createPeopleSync } from '../../src/people/sync.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Job, Store } from '../../src/store/store.ts';

// README §People on the terminals: when rows fall due (the start, the timer,
// the broker back), every terminal with one takes its turn, however many
// pages of them there are; with several replicas, each takes those of its
// own slots. A page used to be read once, so terminals past it waited.

const log = createLogger('fatal', new PassThrough());
let store: Store | undefined;
let dir: string | undefined;

afterEach(async () => {
  await store?.close();
  if (dir) removeTempDir(dir);
  store = dir = undefined;
});

async function open(): Promise<Store> {
  dir = makeTempDir('facegate-people-due-');
  store = await openSqliteStore(
    { dataDir: dir, sync: 'normal', maxRecords: 10, forward: 'all', images: 'inline', replyWindowMs: 30_000, replyField: 'tag' },
    { log, onFatal: () => {} },
  );
  return store;
}

it('gives every due terminal its turn, page after page, and only those of its own slots', async () => {
  const store = await open();
  const serials = Array.from({ length: 7 }, (_, i) => `DUE${i}`);
  await store.write({ kind: 'register', serials });
  await store.write({ kind: 'person-put', num: '1', name: 'Ann', fields: '{}', photo: null, hash: 'h1', devices: 'all', at: Date.now(), actor: 'hr' });
  const dispatched: string[] = [];
  const sync = createPeopleSync({
    store,
    online: () => true,
    dispatch: (sn) => dispatched.push(sn),
    metrics: createMetrics(),
    log,
    // Another replica holds DUE3's slot: it is told nothing here, and takes its own turn.
    cluster: { owns: (sn) => sn !== 'DUE3', announce: () => {} },
    dueBatch: 2,
  });
  try {
    await sync.wakeDue();
    expect(dispatched.sort()).toEqual(serials.filter((sn) => sn !== 'DUE3'));
    // Each became a queued person command.
    expect((await store.queuedCommands('DUE6', 0, Date.now() + 1, 10)).map((c) => c.person)).toEqual(['1']);
  } finally {
    sync.stop();
  }
});

it('writes the turns of the terminals woken together as one job, and one woken during its turn takes another after it', async () => {
  const store = await open();
  const serials = Array.from({ length: 5 }, (_, i) => `ON${i}`);
  await store.write({ kind: 'register', serials });
  await store.write({ kind: 'person-put', num: '1', name: 'Ann', fields: '{}', photo: null, hash: 'h1', devices: 'all', at: Date.now(), actor: 'hr' });
  const sends: string[][] = [];
  const dispatched: string[] = [];
  const sync = createPeopleSync({
    store: {
      write: <J extends Job>(job: J) => {
        if (job.kind === 'person-send') sends.push(job.serials);
        return store.write(job);
      },
      duePersonSerials: (...args) => store.duePersonSerials(...args),
      nextPersonDueAfter: (...args) => store.nextPersonDueAfter(...args),
    },
    online: () => true,
    dispatch: (sn) => dispatched.push(sn),
    metrics: createMetrics(),
    log,
  });
  try {
    // As 5 terminals coming online in one turn of the event loop, one of them twice.
    for (const sn of [...serials, 'ON0']) sync.wake(sn);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sends).toEqual([serials]);
    // Woken while its turn is being written: another turn after it (which finds its command in flight).
    sync.wake('ON2');
    await until(() => sends.length === 2 && dispatched.length === 5);
    expect(sends[1]).toEqual(['ON2']);
    expect(dispatched.sort()).toEqual(serials);
  } finally {
    sync.stop();
  }
});
