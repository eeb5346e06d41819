import { readdirSync, readFileSync } from 'node:fs';
import type { Span } from './span.ts';

export type Meter = () => number | undefined;

// Linux reports CPU time in clock ticks of 1/100 s on every platform Node supports.
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, all threads) the process has used so far; undefined where /proc is not there. */
export function cpuSeconds(pid: number): number | undefined {
  return statSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds one thread of the process has used so far (its task's line); undefined when it is gone or /proc is not there. */
export function threadCpuSeconds(pid: number, tid: number): number | undefined {
  return statSeconds(`/proc/${pid}/task/${tid}/stat`);
}

function statSeconds(path: string): number | undefined {
  try {
    const stat = parseStat(readFileSync(path, 'utf8'));
    return (stat.utime + stat.stime) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** What the CPU figures need of a /proc/<pid>/stat line: times in clock ticks. */
export interface ProcStat {
  pid: number;
  ppid: number;
  utime: number;
  stime: number;
  /** Of its children that have exited and that it has waited for (a server that reaps its connections' processes). */
  cutime: number;
  cstime: number;
}

/** One /proc/<pid>/stat line (proc(5)); throws on a line that is not one. */
export function parseStat(line: string): ProcStat {
  // The command name (field 2) may hold spaces and parentheses: count fields from after its last closing parenthesis.
  const close = line.lastIndexOf(')');
  const fields = line.slice(close + 2).split(' ');
  const stat = {
    pid: Number(line.slice(0, line.indexOf(' '))),
    ppid: Number(fields[1]),
    utime: Number(fields[11]),
    stime: Number(fields[12]),
    cutime: Number(fields[13]),
    cstime: Number(fields[14]),
  };
  if (close < 0 || !Object.values(stat).every(Number.isInteger)) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 80)}`);
  return stat;
}

/**
 * CPU ticks of the process `root` and every process under it: each one's own
 * time and what its exited children had (cutime, cstime), so that a child
 * that has come and gone (a PostgreSQL backend of a closed connection) still
 * counts once. Grandchildren are counted through their parents' lines.
 */
export function treeTicks(stats: ProcStat[], root: number): number {
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  let ticks = 0;
  const seen = new Set<number>();
  const add = (s: ProcStat) => {
    if (seen.has(s.pid)) return;
    seen.add(s.pid);
    ticks += s.utime + s.stime + s.cutime + s.cstime;
    for (const child of children.get(s.pid) ?? []) add(child);
  };
  const top = stats.find((s) => s.pid === root);
  if (top) add(top);
  return ticks;
}

/**
 * CPU seconds of a process and all its descendants so far (a PostgreSQL
 * server: the postmaster, its background processes, a backend for each
 * connection); undefined when the process is gone or /proc is not there.
 */
export function treeCpuSeconds(pid: number): number | undefined {
  const stats: ProcStat[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      stats.push(parseStat(readFileSync(`/proc/${name}/stat`, 'utf8')));
    } catch {
      // gone since the listing
    }
  }
  return stats.some((s) => s.pid === pid) ? treeTicks(stats, pid) / TICKS_PER_SECOND : undefined;
}

/** CPU seconds this process has used so far. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * CPU time over the span as a share of one core: the bridge's (its writer
 * thread can add a second core), the broker's, the webhook receiver's, and
 * this process's (the load generator: near 100 % it, not the bridge, would be
 * the limit).
 */
export function measureCpu<Name extends string>(meters: Record<Name, Meter>) {
  type Reading = { at: number; cpu: Record<Name, number | undefined> };
  const names = Object.keys(meters) as Name[];
  const read = (): Reading => ({
    at: performance.now(),
    cpu: Object.fromEntries(names.map((name) => [name, meters[name]()])) as Record<Name, number | undefined>,
  });
  let from: Reading | undefined;
  let to: Reading | undefined;
  /** CPU seconds used over the span. */
  const seconds = (name: Name) => {
    const [a, b] = [from?.cpu[name], to?.cpu[name]];
    return a === undefined || b === undefined ? undefined : b - a;
  };
  const percent = (name: Name) => {
    const used = seconds(name);
    if (used === undefined || !from || !to || to.at <= from.at) return undefined;
    return (used / ((to.at - from.at) / 1000)) * 100;
  };
  const span: Span = { start: () => (from = read()), end: () => (to = read()) };
  return { span, percent, seconds };
}

/**
 * CPU microseconds per record (or request): what halving the bridge's work
 * per record shows as half, whatever the machine's load does to the rates.
 * Undefined when the time is unknown or nothing was handled.
 */
export function microsPerRecord(cpuSeconds: number | undefined, records: number): number | undefined {
  return cpuSeconds === undefined || records <= 0 ? undefined : (cpuSeconds / records) * 1e6;
}

/** The sum of CPU seconds, or undefined when any is unknown. */
export function sumKnown(values: (number | undefined)[]): number | undefined {
  return values.reduce<number | undefined>((sum, n) => (sum === undefined || n === undefined ? undefined : sum + n), 0);
}
