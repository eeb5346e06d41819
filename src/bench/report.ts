import { cpus, platform, release, totalmem } from 'node:os';
import type { BurstFigures } from './burst.ts';
import type { Ceiling } from './ceilings.ts';
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

const CEILING_COLUMNS = ['ceiling', 'broker', 'load', 'messages', 'per s', 'p50 ms', 'p99 ms', 'max ms', 'missing', 'lost'];

const CEILING_LEGEND = [
  'relay: the burst\'s records at QoS 1 through a bare broker (aedes alone in a process for "embedded") to a subscriber doing no work; per s: first publish → last received',
  'echo: the heartbeat load answered by a bare client that sends a heartD for each heartU; p50/p99/max ms: heartU publish → heartD received',
  'post: the webhook bodies (IMAGES=inline) POSTed with undici to the same receiver, keep-alive, 8 in flight; per s: requests answered a second',
];

/** The ceilings as a table of their own, with its legend. */
export function formatCeilings(ceilings: Ceiling[]): string {
  const rows = ceilings.map((c): string[] => {
    const head = [c.ceiling, 'transport' in c && c.transport ? c.transport : '-'];
    if ('error' in c) return [...head, ...CEILING_COLUMNS.slice(3).map(() => '-'), 'failed'];
    switch (c.ceiling) {
      case 'relay': {
        const f = c.figures;
        return [...head, `${count(c.figures.records)} records`, count(f.received), rate(f.perSecond), '-', '-', '-', '-', f.timedOut ? `${count(f.lost)} (timeout)` : count(f.lost)];
      }
      case 'echo': {
        const f = c.figures;
        const rt = f.roundTrip;
        return [...head, `${count(f.terminals)} terminals`, count(f.sent), '-', ms(rt?.p50Ms), ms(rt?.p99Ms), ms(rt?.maxMs), count(f.missing), '-'];
      }
      case 'post': {
        const f = c.figures;
        return [...head, `${count(f.inFlight)} in flight`, count(f.requests), rate(f.perSecond), '-', '-', '-', '-', count(f.requests - f.received)];
      }
    }
  });
  const errors = ceilings.flatMap((c) => ('error' in c ? [`${c.ceiling} ${c.transport ?? ''} failed: ${c.error}`] : []));
  return [table(CEILING_COLUMNS.map((title, i) => (i === 0 ? 'ceilings' : title)), rows), '', ...CEILING_LEGEND, ...(errors.length ? ['', ...errors] : [])].join('\n');
}

/** A bridge figure beside the matching ceiling: the share of the ceiling it reaches (rates) or how many times it is (latencies). */
export interface AgainstCeiling {
  scenario: string;
  transport: TransportName;
  variant: string;
  figure: string;
  value: number;
  ceiling: string;
  ceilingValue: number;
  ratio: number;
}

/**
 * burst stored/s ÷ relay messages/s, heartbeat p99 ÷ echo p99 on the same
 * broker; delivered/s ÷ POST requests/s.
 */
export function againstCeilings(results: Result[], ceilings: Ceiling[]): AgainstCeiling[] {
  const out: AgainstCeiling[] = [];
  const post = measuredCeiling(ceilings, 'post');
  for (const r of results) {
    if ('error' in r) continue;
    if (r.scenario === 'burst') {
      const relay = measuredCeiling(ceilings, 'relay', r.transport);
      if (relay && relay.figures.perSecond > 0) {
        const [value, ceilingValue] = [r.figures.storedPerSecond, relay.figures.perSecond];
        out.push({ scenario: r.scenario, transport: r.transport, variant: r.sync, figure: 'stored/s', value, ceiling: 'relay msgs/s', ceilingValue, ratio: value / ceilingValue });
      }
    } else if (r.scenario === 'heartbeats') {
      const echo = measuredCeiling(ceilings, 'echo', r.transport);
      const [value, ceilingValue] = [r.figures.roundTrip?.p99Ms, echo?.figures.roundTrip?.p99Ms];
      if (value !== undefined && ceilingValue) out.push({ scenario: r.scenario, transport: r.transport, variant: r.sync, figure: 'p99 ms', value, ceiling: 'echo p99 ms', ceilingValue, ratio: value / ceilingValue });
    } else if (r.scenario === 'delivery-burst' && post && post.figures.perSecond > 0) {
      const [value, ceilingValue] = [r.figures.deliveredPerSecond, post.figures.perSecond];
      out.push({ scenario: r.scenario, transport: r.transport, variant: r.images ?? '-', figure: 'delivered/s', value, ceiling: 'POST/s', ceilingValue, ratio: value / ceilingValue });
    }
  }
  return out;
}

type Measured<K extends Ceiling['ceiling']> = Extract<Ceiling, { ceiling: K; figures: unknown }>;

/** The ceiling of that kind that was measured (on that broker, when given). */
function measuredCeiling<K extends Ceiling['ceiling']>(ceilings: Ceiling[], kind: K, transport?: TransportName): Measured<K> | undefined {
  return ceilings.find(
    (c): c is Measured<K> => c.ceiling === kind && 'figures' in c && (transport === undefined || ('transport' in c && c.transport === transport)),
  );
}

/** The ratios as a short list under the tables. */
export function formatAgainstCeilings(rows: AgainstCeiling[]): string {
  if (rows.length === 0) return '';
  const shown = (row: AgainstCeiling, n: number) => (row.figure.endsWith('ms') ? ms(n) : rate(n));
  const lines = rows.map((row) => {
    const ratio = row.figure.endsWith('ms') ? `${row.ratio.toFixed(1)}× the ceiling` : `${(row.ratio * 100).toFixed(0)}% of the ceiling`;
    return `  ${row.scenario} ${row.transport} ${row.variant}: ${row.figure} ${shown(row, row.value)} vs ${row.ceiling} ${shown(row, row.ceilingValue)}: ${ratio}`;
  });
  return ['against the ceilings:', ...lines].join('\n');
}

const count = (n: number) => n.toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '-' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const rate = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(0));
const megabytes = (n: number | undefined) => (n === undefined ? '-' : (n / 1024 / 1024).toFixed(0));
