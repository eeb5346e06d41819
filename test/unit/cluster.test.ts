import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { localCluster, slotOf } from '../../src/cluster/cluster.ts';
import { everySlot } from '../../src/cluster/leases.ts';
import { chunks, pgCluster } from '../../src/cluster/pg-cluster.ts';
import { createLogger } from '../../src/lib/log.ts';
import { MAX_SERIAL_LENGTH } from '../../src/protocol/serial.ts';

describe('cluster partitions and wake-ups', () => {
  it('puts a key in the same slot every time, and spreads serials over every slot', () => {
    expect(slotOf('SN0001', 4)).toBe(slotOf('SN0001', 4));
    const used = new Set(Array.from({ length: 200 }, (_, i) => slotOf(`SN${i}`, 8)));
    expect([...used].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const n of used) expect(n).toBeLessThan(8);
  });

  it('splits wake-ups so each notification stays within PostgreSQL’s 8000 bytes, losing no id', () => {
    const sn = 'S'.repeat(MAX_SERIAL_LENGTH);
    const events = Array.from({ length: 1000 }, (_, i) => ({
      seq: 1_000_000_000 + i,
      id: `evt_${'x'.repeat(22)}`,
      type: 'person.sync_failed' as const,
      deviceSn: sn,
      receivedAt: Date.now(),
    }));
    const parts = chunks({ kind: 'events', events });
    for (const part of parts) expect(Buffer.byteLength(JSON.stringify({ from: 'rep_xxxxxxxxxxxxxxxxxxxxxx', wake: part }))).toBeLessThan(8000);
    expect(parts.flatMap((p) => (p.kind === 'events' ? p.events.map((e) => e.seq) : []))).toEqual(events.map((e) => e.seq));
    const seen = chunks({ kind: 'seen', serials: Array.from({ length: 500 }, (_, i) => `${sn.slice(0, -4)}${i}`), at: 1 });
    for (const part of seen) expect(Buffer.byteLength(JSON.stringify({ from: 'rep_xxxxxxxxxxxxxxxxxxxxxx', wake: part }))).toBeLessThan(8000);
    expect(seen.flatMap((p) => (p.kind === 'seen' ? p.serials : []))).toHaveLength(500);
    const published = chunks({ kind: 'published', serials: Array.from({ length: 500 }, (_, i) => `${sn.slice(0, -4)}${i}`) });
    for (const part of published) expect(Buffer.byteLength(JSON.stringify({ from: '2147483647', wake: part }))).toBeLessThan(8000);
    expect(published.flatMap((p) => (p.kind === 'published' ? p.serials : []))).toHaveLength(500);
  });

  it('alone (SQLite), holds everything and leads', () => {
    const cluster = localCluster('7');
    expect(cluster.owns('anything')).toBe(true);
    expect(cluster.leads()).toBe(true);
    // Its queued commands are its own; every other process's are a stopped one's.
    expect(cluster.live).toEqual({ self: '7' });
  });

  it('counts each slot taken and let go: a lane reads again what it read ahead under another count', async () => {
    // Not started: no connection to PostgreSQL is made; the leases are one process's.
    const log = createLogger('fatal', new PassThrough());
    const cluster = pgCluster({ url: 'postgres://127.0.0.1:9/none', group: 'g', slots: 2, leases: everySlot(2), replica: '7', log });
    expect(cluster.slotChanges()).toBe(0);
    const seen: number[] = [];
    await cluster.leases.start({
      take: () => void seen.push(cluster.slotChanges()),
      // Counted as the slot starts to go, before its holder has closed its connection.
      release: async () => void seen.push(cluster.slotChanges()),
    });
    expect(cluster.slotChanges()).toBe(2);
    await cluster.leases.stop();
    expect(cluster.slotChanges()).toBe(4);
    // Taken: counted once the holder has connected it; let go: before the holder closes it.
    expect(seen).toEqual([0, 1, 3, 4]);
    await cluster.stop();
  });
});
