import { describe, expect, it } from 'vitest';
import { cpuSeconds, measureCpu, microsPerRecord, parseStat, sumKnown, treeCpuSeconds, treeTicks } from '../../src/bench/measures/cpu.ts';

// A /proc/<pid>/stat line (proc(5)): pid, (comm), state, ppid, … utime stime cutime cstime at fields 14–17.
const line = (pid: number, comm: string, ppid: number, [utime, stime, cutime, cstime]: number[]) =>
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 1 0 500 1000 200 18446744073709551615`;

describe('parseStat', () => {
  it('reads the parent and the four times, whatever the command name holds', () => {
    expect(parseStat(line(41, 'postgres: walwriter ', 40, [7, 3, 0, 0]))).toEqual({ pid: 41, ppid: 40, utime: 7, stime: 3, cutime: 0, cstime: 0 });
    // Spaces and parentheses in the name: the fields are counted from its last ")".
    expect(parseStat(line(42, 'a) b (c) 9 9', 40, [1, 2, 3, 4]))).toMatchObject({ pid: 42, ppid: 40, utime: 1, stime: 2, cutime: 3, cstime: 4 });
  });

  it('refuses what is not a stat line', () => {
    expect(() => parseStat('')).toThrow(/not a \/proc/);
    expect(() => parseStat('12 (node) S x y')).toThrow(/not a \/proc/);
  });
});

describe('treeTicks', () => {
  const stats = [
    // The server: its own time, and 40 + 10 ticks of backends that have exited and that it reaped.
    parseStat(line(40, 'postgres', 1, [100, 20, 40, 10])),
    parseStat(line(41, 'postgres: checkpointer ', 40, [5, 5, 0, 0])),
    parseStat(line(42, 'postgres: postgres facegate', 40, [30, 6, 0, 0])),
    // A grandchild is counted through its parent.
    parseStat(line(43, 'postgres: parallel worker', 42, [2, 1, 0, 0])),
    // Not under the server.
    parseStat(line(50, 'node', 1, [999, 999, 0, 0])),
  ];

  it('adds the process, its exited children and every live descendant, once each', () => {
    expect(treeTicks(stats, 40)).toBe(100 + 20 + 40 + 10 + 10 + 36 + 3);
    expect(treeTicks([...stats, stats[2]], 40)).toBe(219);
  });

  it('is zero for a process that is not there', () => {
    expect(treeTicks(stats, 77)).toBe(0);
  });

  it('reads this very process from /proc, at least its own time', () => {
    // Its own time first: CPU time only grows, so the tree read after it has at least as much.
    const own = cpuSeconds(process.pid)!;
    expect(treeCpuSeconds(process.pid)).toBeGreaterThanOrEqual(own);
    expect(treeCpuSeconds(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('CPU per record', () => {
  it('gives CPU microseconds per record, nothing for nothing handled', () => {
    expect(microsPerRecord(3, 2000)).toBe(1500);
    expect(microsPerRecord(3, 0)).toBeUndefined();
    expect(microsPerRecord(undefined, 2000)).toBeUndefined();
  });

  it('adds up CPU seconds only when each is known', () => {
    expect(sumKnown([1, 2.5])).toBe(3.5);
    expect(sumKnown([1, undefined])).toBeUndefined();
  });

  it('measures the seconds each meter moved over the span, and nothing for a meter that does not read', () => {
    let used = 10;
    const { span, seconds, percent } = measureCpu({ bridge: () => used, gone: () => undefined });
    expect(seconds('bridge')).toBeUndefined();
    span.start();
    used = 12.5;
    span.end();
    expect(seconds('bridge')).toBe(2.5);
    expect(seconds('gone')).toBeUndefined();
    expect(percent('bridge')).toBeGreaterThan(0);
  });
});
