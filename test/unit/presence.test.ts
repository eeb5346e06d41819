import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../src/store/store.ts';
import { createPresence, type StoredPresence } from '../../src/terminals/presence.ts';

const TIMEOUT = 90_000;
const SWEEP = 1000;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] }));
afterEach(() => vi.useRealTimers());

/** Presence on clocks the test moves: the wall clock (which may jump) and the elapsed one (which does not). */
function setup(initial: StoredPresence[] = [], written: () => Promise<void> = () => Promise.resolve()) {
  const clock = { wall: T0, elapsed: 5_000 };
  const jobs: Job[] = [];
  const presence = createPresence({
    timeoutMs: TIMEOUT,
    initial,
    write: (job) => {
      jobs.push(job);
      return written();
    },
    now: () => clock.wall,
    elapsed: () => clock.elapsed,
    sweepMs: SWEEP,
  });
  const pass = (ms: number) => {
    clock.wall += ms;
    clock.elapsed += ms;
    vi.advanceTimersByTime(SWEEP);
  };
  const presenceJobs = () => jobs.filter((job) => job.kind === 'presence');
  return { clock, jobs, presence, pass, presenceJobs };
}

describe('presence', () => {
  it('takes a terminal offline after the timeout of silence, with the wall-clock times', () => {
    const { presence, pass, presenceJobs } = setup();
    presence.touch('A1');
    pass(TIMEOUT);
    expect(presence.isOnline('A1')).toBe(true);
    pass(SWEEP);
    expect(presence.isOnline('A1')).toBe(false);
    expect(presenceJobs()).toEqual([
      { kind: 'presence', flips: [{ sn: 'A1', online: true, at: T0, lastSeenAt: T0 }] },
      { kind: 'presence', flips: [{ sn: 'A1', online: false, at: T0 + TIMEOUT + SWEEP, lastSeenAt: T0 }] },
    ]);
  });

  it('writes the flips of one turn of the event loop as one job, in their order, at most a thousand', async () => {
    const { clock, presence, presenceJobs } = setup();
    presence.touch('A1');
    clock.wall += 5;
    presence.touch('B2');
    presence.touch('A1');
    expect(presenceJobs()).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(presenceJobs()).toEqual([
      {
        kind: 'presence',
        flips: [
          { sn: 'A1', online: true, at: T0, lastSeenAt: T0 },
          { sn: 'B2', online: true, at: T0 + 5, lastSeenAt: T0 + 5 },
        ],
      },
    ]);
    for (let i = 0; i < 1001; i++) presence.touch(`N${i}`);
    // The thousandth is written at once; the last waits for the end of the turn, or a flush (a record's terminal).
    expect(presenceJobs().map((job) => job.kind === 'presence' && job.flips.length)).toEqual([2, 1000]);
    presence.flush();
    expect(presenceJobs().map((job) => job.kind === 'presence' && job.flips.length)).toEqual([2, 1000, 1]);
  });

  it('keeps terminals online when the wall clock jumps forward', () => {
    const { clock, presence, pass, presenceJobs } = setup();
    presence.touch('A1');
    presence.touch('B2');
    clock.wall += 10 * 60_000; // an NTP step on a box without a real-time clock
    pass(SWEEP);
    expect([presence.isOnline('A1'), presence.isOnline('B2')]).toEqual([true, true]);
    expect(presenceJobs().filter((job) => job.kind === 'presence' && job.flips.some((flip) => !flip.online))).toEqual([]);
  });

  it('counts silence from before a restart from the stored last-seen times', () => {
    const { presence, pass } = setup([
      { sn: 'OLD', online: true, lastSeenAt: T0 - TIMEOUT - 1 },
      { sn: 'NEW', online: true, lastSeenAt: T0 - 1000 },
    ]);
    pass(SWEEP);
    expect([presence.isOnline('OLD'), presence.isOnline('NEW')]).toEqual([false, true]);
  });

  it('forgets silent terminals the store let go, but not one heard from since, nor one online', () => {
    const { presence, pass } = setup([
      { sn: 'GONE', online: false, lastSeenAt: T0 - 2 * TIMEOUT },
      { sn: 'BACK', online: false, lastSeenAt: T0 - 2 * TIMEOUT },
      { sn: 'ON', online: true, lastSeenAt: T0 - 1000 },
    ]);
    presence.touch('BACK'); // a message between the store's deletion and this call
    pass(SWEEP);
    expect(presence.size()).toBe(3);
    presence.forgetSilent(['GONE', 'BACK', 'ON', 'NEVER'], T0 - TIMEOUT);
    expect(['GONE', 'BACK', 'ON'].map(presence.knows)).toEqual([false, true, true]);
    expect(presence.size()).toBe(2);
  });

  it('counts the terminals online through every change: stored, heard, learned, silent, forgotten', () => {
    const { presence, pass } = setup([
      { sn: 'ON', online: true, lastSeenAt: T0 - 1000 },
      { sn: 'OFF', online: false, lastSeenAt: T0 - 2 * TIMEOUT },
    ]);
    expect(presence.onlineCount()).toBe(1);
    presence.touch('OFF');
    presence.touch('NEW');
    presence.touch('NEW');
    expect(presence.onlineCount()).toBe(3);
    presence.learn('ELSE', true, T0);
    presence.learn('ELSE', true, T0);
    expect(presence.onlineCount()).toBe(4);
    presence.learn('ELSE', false, T0);
    presence.forget('NEW');
    presence.forget('NEVER');
    expect(presence.onlineCount()).toBe(2);
    pass(TIMEOUT + SWEEP);
    expect(presence.onlineCount()).toBe(0);
    presence.touch('ON');
    expect(presence.onlineCount()).toBe(1);
  });

  it('forgets a terminal on request, online or not, without an event', () => {
    const { presence, presenceJobs } = setup();
    presence.touch('A1');
    presence.forget('A1');
    expect(presence.knows('A1')).toBe(false);
    expect(presence.onlineCount()).toBe(0);
    expect(presenceJobs()).toHaveLength(1); // its online, written before it was forgotten, nothing more
    presence.touch('A1'); // back: a new terminal, online again
    presence.flush();
    expect(presenceJobs()).toHaveLength(2);
  });

  it('reads the states stored elsewhere again, but for a flip being written here, one made or a terminal forgotten after the read began', async () => {
    const writes: (() => void)[] = [];
    const { presence, clock, pass, presenceJobs } = setup(
      [
        { sn: 'WENT', online: true, lastSeenAt: T0 },
        { sn: 'HERE', online: false, lastSeenAt: null },
        { sn: 'DEL', online: false, lastSeenAt: T0 },
        { sn: 'OLD', online: false, lastSeenAt: T0 - 3 * TIMEOUT },
      ],
      () => new Promise<void>((resolve) => writes.push(resolve)),
    );
    presence.touch('HERE'); // its flip's write is under way: the table does not say it yet
    presence.flush();
    let answer: (rows: StoredPresence[]) => void = () => {};
    const reread = presence.reread(() => new Promise((resolve) => (answer = resolve)));
    presence.touch('LATE'); // heard while the table is read
    presence.forget('DEL'); // deleted while the table is read: its row was still there
    presence.forgetSilent(['OLD'], T0 - TIMEOUT); // FORGET_AFTER, the same
    answer([
      { sn: 'DEL', online: true, lastSeenAt: T0 },
      { sn: 'OLD', online: false, lastSeenAt: T0 - 3 * TIMEOUT },
      { sn: 'WENT', online: false, lastSeenAt: T0 },
      { sn: 'HERE', online: false, lastSeenAt: null },
      { sn: 'LATE', online: false, lastSeenAt: null },
      { sn: 'NEW', online: true, lastSeenAt: T0 + 7 },
      { sn: 'GONE', online: false, lastSeenAt: T0 - 1 },
    ]);
    await reread;
    expect(['WENT', 'HERE', 'LATE', 'NEW', 'GONE'].map(presence.isOnline)).toEqual([false, true, true, true, false]);
    expect(presence.lastSeen('NEW')).toBe(T0 + 7);
    expect(presence.onlineCount()).toBe(3);
    expect(presence.size()).toBe(5);
    expect(['DEL', 'OLD'].map(presence.knows)).toEqual([false, false]);
    expect(presenceJobs()).toHaveLength(2); // HERE's, and LATE's (written first by the forget); reading writes nothing
    // Once the writes are done, the table is taken for HERE too; NEW counts its silence from the read.
    for (const done of writes) done();
    await new Promise((resolve) => setImmediate(resolve));
    clock.elapsed += 1;
    await presence.reread(async () => [{ sn: 'HERE', online: false, lastSeenAt: null }]);
    expect(presence.isOnline('HERE')).toBe(false);
    pass(TIMEOUT - 1000);
    expect(presence.isOnline('NEW')).toBe(true);
    pass(2 * SWEEP);
    expect(presence.isOnline('NEW')).toBe(false);
    // A read that fails leaves nothing behind: a terminal forgotten during it is taken from the next read.
    const failed = presence.reread(() => Promise.reject(new Error('unreachable')));
    presence.forget('WENT');
    await expect(failed).rejects.toThrow('unreachable');
    await presence.reread(async () => [{ sn: 'WENT', online: true, lastSeenAt: T0 + 9 }]);
    expect(presence.isOnline('WENT')).toBe(true);
  });
});
