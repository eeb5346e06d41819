import { cpus, platform, release, totalmem } from 'node:os';
import type { BurstFigures } from './burst.ts';
import type { HeartbeatFigures } from './heartbeats.ts';
import type { Scenario, TransportName } from './options.ts';

/** What the bridge process (and the broker beside it) used during one scenario. */
export interface ProcessFigures {
  /** Peak resident memory of the bridge over its whole life (VmHWM). */
  bridgePeakRssBytes: number | undefined;
  /** Bridge CPU time while the load ran, all threads, as a share of one core. */
  bridgeCpuPercent: number | undefined;
  mosquittoPeakRssBytes: number | undefined;
  mosquittoCpuPercent: number | undefined;
  /** This process, the load generator. */
  benchCpuPercent: number | undefined;
}

interface Common {
  scenario: Scenario;
  transport: TransportName;
  sync: 'full' | 'normal';
}

export type Result =
  | (Common & { scenario: 'heartbeats'; figures: HeartbeatFigures; process: ProcessFigures })
  | (Common & { scenario: 'burst'; figures: BurstFigures; process: ProcessFigures })
  | (Common & { error: string });

export function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryBytes: totalmem(),
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

const COLUMNS = ['scenario', 'transport', 'sync', 'terminals', 'messages', 'p50 ms', 'p99 ms', 'max ms', 'missing', 'acked/s', 'stored/s', 'MB/s', 'lost', 'dup', 'CPU %', 'RSS MB'];
const TEXT_COLUMNS = 3;

/** One aligned plain-text table: figures that do not apply to a scenario are "-". */
export function formatTable(results: Result[]): string {
  const rows = results.map(row);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i < TEXT_COLUMNS ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const errors = results.flatMap((r) => ('error' in r ? [`${r.scenario} ${r.transport} ${r.sync} failed: ${r.error}`] : []));
  return [line(COLUMNS), ...rows.map(line), '', ...LEGEND, ...(errors.length ? ['', ...errors] : [])].join('\n');
}

const LEGEND = [
  'p50/p99/max ms: heartU publish → heartD received; missing: heartbeats never answered',
  'acked/s: records / (first publish → last PUBACK); stored/s: records / (first publish → all of them in the database)',
  'MB/s: payload stored per second; lost: sent − stored; dup: records stored twice',
  "CPU %: the bridge's CPU time while the load ran, in % of one core; RSS MB: the bridge's peak resident memory",
];

function row(result: Result): string[] {
  const head = [result.scenario, result.transport, result.sync];
  const none = COLUMNS.slice(TEXT_COLUMNS).map(() => '-');
  if ('error' in result) return [...head, ...none.slice(0, -1), 'failed'];
  const [cpu, rss] = [percent(result.process.bridgeCpuPercent), megabytes(result.process.bridgePeakRssBytes)];
  if (result.scenario === 'heartbeats') {
    const f = result.figures;
    const rt = f.roundTrip;
    return [...head, count(f.terminals), count(f.sent), ms(rt?.p50Ms), ms(rt?.p99Ms), ms(rt?.maxMs), count(f.missing), '-', '-', '-', '-', '-', cpu, rss];
  }
  const f = result.figures;
  const lost = f.timedOut ? `${count(f.lost)} (timeout)` : count(f.lost);
  return [...head, count(f.terminals), count(f.records), '-', '-', '-', '-', rate(f.ackedPerSecond), rate(f.storedPerSecond), f.storedMBPerSecond.toFixed(1), lost, count(f.duplicates), cpu, rss];
}

const count = (n: number) => n.toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '-' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const rate = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(0));
const megabytes = (n: number | undefined) => (n === undefined ? '-' : (n / 1024 / 1024).toFixed(0));
