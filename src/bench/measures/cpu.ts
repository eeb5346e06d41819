import { readFileSync } from 'node:fs';
import type { Span } from './span.ts';

export type Meter = () => number | undefined;

// Linux reports CPU time in clock ticks of 1/100 s on every platform Node supports.
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, all threads) the process has used so far; undefined where /proc is not there. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
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
  const percent = (name: Name) => {
    const [a, b] = [from?.cpu[name], to?.cpu[name]];
    if (a === undefined || b === undefined || !from || !to || to.at <= from.at) return undefined;
    return ((b - a) / ((to.at - from.at) / 1000)) * 100;
  };
  const span: Span = { start: () => (from = read()), end: () => (to = read()) };
  return { span, percent };
}
