import { cpus, platform, release, totalmem } from 'node:os';
import type { BurstFigures } from './burst.ts';
import type { DeliveryBurstFigures, Images } from './delivery-burst.ts';
import type { DeliveryOutageFigures } from './delivery-outage.ts';
import type { DeliverySteadyFigures } from './delivery-steady.ts';
import type { HeartbeatFigures } from './heartbeats.ts';
import type { Scenario, TransportName } from './options.ts';
import type { StreamFigures } from './stream.ts';

/** What the bridge process (and the broker beside it) used during one scenario. */
export interface ProcessFigures {
  /** Peak resident memory of the bridge over its whole life (VmHWM). */
  bridgePeakRssBytes: number | undefined;
  /** Bridge CPU time while the load ran, all threads, as a share of one core. */
  bridgeCpuPercent: number | undefined;
  mosquittoPeakRssBytes: number | undefined;
  mosquittoCpuPercent: number | undefined;
  /** The webhook receiver of the delivery scenarios. */
  receiverCpuPercent: number | undefined;
  /** The stream scenario's clients, all in one process. */
  streamClientsCpuPercent: number | undefined;
  /** This process, the load generator. */
  benchCpuPercent: number | undefined;
}

interface Common {
  scenario: Scenario;
  transport: TransportName;
  sync: 'full' | 'normal';
  /** The bridge's IMAGES setting: delivery scenarios only. */
  images?: Images;
}

export type Result =
  | (Common & { scenario: 'heartbeats'; figures: HeartbeatFigures; process: ProcessFigures })
  | (Common & { scenario: 'burst'; figures: BurstFigures; process: ProcessFigures })
  | (Common & { scenario: 'delivery-burst'; figures: DeliveryBurstFigures; process: ProcessFigures })
  | (Common & { scenario: 'delivery-steady'; figures: DeliverySteadyFigures; process: ProcessFigures })
  | (Common & { scenario: 'delivery-outage'; figures: DeliveryOutageFigures; process: ProcessFigures })
  | (Common & { scenario: 'stream'; figures: StreamFigures; process: ProcessFigures })
  | (Common & { error: string });

const isDelivery = (result: Result) => result.scenario.startsWith('delivery-');
const isStream = (result: Result) => result.scenario === 'stream';

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
const DELIVERY_COLUMNS = ['scenario', 'transport', 'images', 'records', 'offered/s', 'acked/s', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'lost', 'dup', 'drain s', 'RSS outage MB', 'RSS after MB', 'CPU %', 'RSS MB'];
const STREAM_COLUMNS = ['scenario', 'transport', 'sync', 'clients', 'records', 'offered/s', 'p50 ms', 'p99 ms', 'max ms', 'median p50', 'median p99', '1 client p50', '1 client p99', 'lost', 'dup', 'reconnects', 'CPU %', 'RSS MB', 'clients CPU %'];
const TEXT_COLUMNS = 3;

/**
 * Aligned plain-text tables, figures that do not apply to a scenario shown
 * as "-": heartbeats and bursts in one, the delivery scenarios (whose figures
 * are another set) in a second, the live stream in a third; each only when
 * it has rows.
 */
export function formatTable(results: Result[], notes: { outageSchedule?: string } = {}): string {
  const stored = results.filter((r) => !isDelivery(r) && !isStream(r));
  const streamed = results.filter(isStream);
  const delivered = results.filter(isDelivery);
  const errors = results.flatMap((r) => ('error' in r ? [`${r.scenario} ${r.transport} ${r.images ?? r.sync} failed: ${r.error}`] : []));
  const deliveryLegend = [...DELIVERY_LEGEND, ...(notes.outageSchedule ? [`delivery-outage ran with DELIVERY_SCHEDULE=${notes.outageSchedule} (full jitter)`] : [])];
  return [
    ...(stored.length ? [table(COLUMNS, stored.map(row)), '', ...LEGEND] : []),
    ...(stored.length && delivered.length ? [''] : []),
    ...(delivered.length ? [table(DELIVERY_COLUMNS, delivered.map(deliveryRow)), '', ...deliveryLegend] : []),
    ...((stored.length || delivered.length) && streamed.length ? [''] : []),
    ...(streamed.length ? [table(STREAM_COLUMNS, streamed.map(streamRow)), '', ...STREAM_LEGEND] : []),
    ...(errors.length ? ['', ...errors] : []),
  ].join('\n');
}

function table(columns: string[], rows: string[][]): string {
  const widths = columns.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i < TEXT_COLUMNS ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [columns, ...rows].map(line).join('\n');
}

const LEGEND = [
  'p50/p99/max ms: heartU publish → heartD received; missing: heartbeats never answered',
  'acked/s: records / (first publish → last PUBACK); stored/s: records / (first publish → all of them in the database)',
  'MB/s: payload stored per second; lost: sent − stored; dup: records stored twice',
  "CPU %: the bridge's CPU time while the load ran, in % of one core; RSS MB: the bridge's peak resident memory",
];

const DELIVERY_LEGEND = [
  'images: the bridge\'s IMAGES (inline: every webhook carries the ~27 KB image, base64); records: sent at QoS 1, each with its own image',
  'offered/s: the even pace records were sent at; acked/s: records / (first publish → last PUBACK)',
  'delivered/s: records / (first publish → the receiver has every one of them, by distinct webhook-id)',
  'p50/p99/max ms: terminal publish → its webhook arrived whole at the receiver',
  'lost: sent − records the receiver got; dup: requests − distinct webhook-ids',
  'drain s: receiver back → every record sent before that has arrived',
  'RSS outage/after MB: the bridge\'s peak resident memory while the receiver was down / from its return until all was delivered',
  "CPU %: the bridge's CPU time while the load ran, in % of one core; RSS MB: the bridge's peak resident memory over its life",
];

const STREAM_LEGEND = [
  'clients: GET /api/stream?type=face.verified readers in one process of their own; records: sent at QoS 1 at the even pace offered/s',
  'p50/p99/max ms: terminal publish → the event\'s first arrival at any client; median: → half of the clients have it; 1 client: → client 0 has it',
  'lost: records a client never received, all clients together; dup: events a client received twice',
  'reconnects: streams the bridge dropped (client too far behind), each reopened with Last-Event-ID',
  "CPU %: the bridge's CPU time while the load ran, in % of one core; RSS MB: its peak resident memory; clients CPU %: the stream readers'",
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
  if (result.scenario !== 'burst') throw new Error(`${result.scenario} is not a storage scenario`);
  const f = result.figures;
  const lost = f.timedOut ? `${count(f.lost)} (timeout)` : count(f.lost);
  return [...head, count(f.terminals), count(f.records), '-', '-', '-', '-', rate(f.ackedPerSecond), rate(f.storedPerSecond), f.storedMBPerSecond.toFixed(1), lost, count(f.duplicates), cpu, rss];
}

function deliveryRow(result: Result): string[] {
  const head = [result.scenario, result.transport, result.images ?? '-'];
  if ('error' in result) return [...head, ...DELIVERY_COLUMNS.slice(TEXT_COLUMNS + 1).map(() => '-'), 'failed'];
  const [cpu, rss] = [percent(result.process.bridgeCpuPercent), megabytes(result.process.bridgePeakRssBytes)];
  if (result.scenario === 'heartbeats' || result.scenario === 'burst' || result.scenario === 'stream') throw new Error(`${result.scenario} is not a delivery scenario`);
  const lost = result.figures.timedOut ? `${count(result.figures.lost)} (timeout)` : count(result.figures.lost);
  const dup = count(result.figures.duplicates);
  switch (result.scenario) {
    case 'delivery-burst': {
      const f = result.figures;
      return [...head, count(f.sent), '-', rate(f.ackedPerSecond), rate(f.deliveredPerSecond), '-', '-', '-', lost, dup, '-', '-', '-', cpu, rss];
    }
    case 'delivery-steady': {
      const f = result.figures;
      const l = f.latency;
      return [...head, count(f.sent), count(f.rate), '-', '-', ms(l?.p50Ms), ms(l?.p99Ms), ms(l?.maxMs), lost, dup, '-', '-', '-', cpu, rss];
    }
    case 'delivery-outage': {
      const f = result.figures;
      const drain = f.drainSeconds === undefined ? 'never' : f.drainSeconds.toFixed(1);
      return [...head, count(f.sent), count(f.rate), '-', '-', '-', '-', '-', lost, dup, drain, megabytes(f.rssOutageBytes), megabytes(f.rssAfterBytes), cpu, rss];
    }
  }
}

function streamRow(result: Result): string[] {
  const head = [result.scenario, result.transport, result.sync];
  if ('error' in result) return [...head, ...STREAM_COLUMNS.slice(TEXT_COLUMNS + 1).map(() => '-'), 'failed'];
  if (result.scenario !== 'stream') throw new Error(`${result.scenario} is not the stream scenario`);
  const f = result.figures;
  const p = result.process;
  const [l, m, one] = [f.latency, f.medianClient, f.oneClient];
  const lost = f.timedOut ? `${count(f.lost)} (timeout)` : count(f.lost);
  return [
    ...head,
    count(f.clients),
    count(f.sent),
    count(f.rate),
    ms(l?.p50Ms),
    ms(l?.p99Ms),
    ms(l?.maxMs),
    ms(m?.p50Ms),
    ms(m?.p99Ms),
    ms(one?.p50Ms),
    ms(one?.p99Ms),
    lost,
    count(f.duplicates),
    count(f.reconnects),
    percent(p.bridgeCpuPercent),
    megabytes(p.bridgePeakRssBytes),
    percent(p.streamClientsCpuPercent),
  ];
}

const count = (n: number) => n.toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '-' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const rate = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(0));
const megabytes = (n: number | undefined) => (n === undefined ? '-' : (n / 1024 / 1024).toFixed(0));
