import { cpus, platform, release, totalmem } from 'node:os';
import { microsPerRecord, sumKnown } from '../measures/cpu.ts';
import type { Scenario, StoreName, TransportName } from '../options.ts';
import type { BurstFigures } from '../scenarios/burst.ts';
import type { Ceiling } from '../scenarios/ceilings.ts';
import type { ClusterFigures, ClusterSetup } from '../scenarios/cluster.ts';
import type { CommandFigures } from '../scenarios/commands.ts';
import { type DeliveryBurstFigures, type Images, type RecordKind, recordKind } from '../scenarios/delivery-burst.ts';
import type { DeliveryOutageFigures } from '../scenarios/delivery-outage.ts';
import type { DeliverySteadyFigures } from '../scenarios/delivery-steady.ts';
import type { HeartbeatFigures } from '../scenarios/heartbeats.ts';
import type { PeopleFigures } from '../scenarios/people.ts';
import type { StoreScaleFigures } from '../scenarios/store-scale.ts';
import type { StreamFigures } from '../scenarios/stream.ts';

/** What the bridge process (and the broker beside it) used during one scenario. */
export interface ProcessFigures {
  /** Resident memory of the bridge started and answering a heartbeat, before any load (VmRSS). */
  bridgeIdleRssBytes: number | undefined;
  /** Peak resident memory of the bridge over its whole life (VmHWM). */
  bridgePeakRssBytes: number | undefined;
  /** Bridge CPU time while the load ran, all threads, as a share of one core, and in seconds. */
  bridgeCpuPercent: number | undefined;
  bridgeCpuSeconds: number | undefined;
  /** Of those seconds, its main thread's and its database writer thread's (SQLite); V8's and libuv's threads have the rest. */
  bridgeMainCpuSeconds: number | undefined;
  bridgeWriterCpuSeconds: number | undefined;
  mosquittoPeakRssBytes: number | undefined;
  mosquittoCpuPercent: number | undefined;
  mosquittoCpuSeconds: number | undefined;
  /** With --store postgres: the server and all its processes, CPU seconds while the load ran. */
  postgresCpuSeconds: number | undefined;
  /** The webhook receiver of the delivery scenarios. */
  receiverCpuPercent: number | undefined;
  receiverCpuSeconds: number | undefined;
  /** The stream scenario's clients, all in one process. */
  streamClientsCpuPercent: number | undefined;
  /** This process, the load generator. */
  benchCpuPercent: number | undefined;
}

interface Common {
  scenario: Scenario;
  transport: TransportName;
  sync: 'full' | 'normal';
  /** burst and delivery-burst: the bridge's store (--store); undefined: SQLite. */
  store?: StoreName;
  /** What the records and the webhooks carry: delivery scenarios only. */
  images?: Images;
  /** Heartbeats and commands. */
  terminals?: number;
  /** Commands only: one by one with ?wait, or one fan-out. */
  part?: 'round-trip' | 'fan-out';
  /** slots only: MQTT_SLOTS of the bridge. */
  slots?: number;
  /** cluster only: the store, the replicas, whether one is killed. */
  setup?: ClusterSetup;
}

export type Result =
  | (Common & { scenario: 'heartbeats'; figures: HeartbeatFigures; process: ProcessFigures })
  | (Common & { scenario: 'burst' | 'slots'; figures: BurstFigures; process: ProcessFigures })
  | (Common & { scenario: 'delivery-burst'; figures: DeliveryBurstFigures; process: ProcessFigures })
  | (Common & { scenario: 'delivery-steady'; figures: DeliverySteadyFigures; process: ProcessFigures })
  | (Common & { scenario: 'delivery-outage'; figures: DeliveryOutageFigures; process: ProcessFigures })
  | (Common & { scenario: 'stream'; figures: StreamFigures; process: ProcessFigures })
  | (Common & { scenario: 'store-scale'; figures: StoreScaleFigures; process: ProcessFigures })
  | (Common & { scenario: 'commands'; figures: CommandFigures; process: ProcessFigures })
  | (Common & { scenario: 'people'; figures: PeopleFigures; process: ProcessFigures })
  | (Common & { scenario: 'cluster'; figures: ClusterFigures; process: ProcessFigures })
  | (Common & { error: string });

const isHeartbeats = (result: Result) => result.scenario === 'heartbeats';
const isStored = (result: Result) => result.scenario === 'burst' || result.scenario === 'slots';
const isDelivery = (result: Result) => result.scenario.startsWith('delivery-');
const isStream = (result: Result) => result.scenario === 'stream';
const isStoreScale = (result: Result) => result.scenario === 'store-scale';
const isRoundTrip = (result: Result) => result.scenario === 'commands' && result.part === 'round-trip';
const isFanOut = (result: Result) => result.scenario === 'commands' && result.part === 'fan-out';
const isPeople = (result: Result) => result.scenario === 'people';
const isCluster = (result: Result) => result.scenario === 'cluster';

/** CPU microseconds per record of a burst, each process apart. */
export interface CpuPerRecord {
  /** The bridge, all its threads. */
  bridge: number | undefined;
  /** Of which its main thread, and its database writer thread (SQLite): the rest is V8's threads (GC, compiler) and libuv's pool. */
  main: number | undefined;
  writer: number | undefined;
  /** With --store postgres: its server and all its processes. */
  postgres: number | undefined;
  /** Through Mosquitto: the broker, which the embedded case has inside the bridge. */
  mosquitto: number | undefined;
}

/**
 * A burst's CPU time over its span ÷ its records: those stored (burst) or
 * delivered (delivery-burst). Undefined for the other scenarios.
 */
export function cpuPerRecord(result: Result): CpuPerRecord | undefined {
  if ('error' in result) return undefined;
  const records = result.scenario === 'burst' ? result.figures.stored : result.scenario === 'delivery-burst' ? result.figures.delivered : undefined;
  if (records === undefined) return undefined;
  const p = result.process;
  return {
    bridge: microsPerRecord(p.bridgeCpuSeconds, records),
    main: microsPerRecord(p.bridgeMainCpuSeconds, records),
    writer: microsPerRecord(p.bridgeWriterCpuSeconds, records),
    postgres: microsPerRecord(p.postgresCpuSeconds, records),
    mosquitto: microsPerRecord(p.mosquittoCpuSeconds, records),
  };
}

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

const HEARTBEAT_COLUMNS = [
  'scenario',
  'transport',
  'terminals',
  'connect s',
  'messages',
  'p50 ms',
  'p99 ms',
  'max ms',
  '1st p99',
  'later p99',
  'missing',
  'lag ms',
  'load CPU %',
  'CPU %',
  'RSS MB',
];
const STORED_COLUMNS = [
  'scenario',
  'transport',
  'store',
  'sync',
  'terminals',
  'records',
  'acked/s',
  'stored/s',
  'MB/s',
  'lost',
  'dup',
  'CPU %',
  'CPU µs/rec',
  'PG µs/rec',
  'idle MB',
  'RSS MB',
];
const DELIVERY_COLUMNS = [
  'scenario',
  'transport',
  'images',
  'store',
  'records',
  'offered/s',
  'acked/s',
  'delivered/s',
  'p50 ms',
  'p99 ms',
  'max ms',
  'lost',
  'dup',
  'drain s',
  'RSS outage MB',
  'RSS after MB',
  'CPU %',
  'CPU µs/rec',
  'main µs/rec',
  'writer µs/rec',
  'PG µs/rec',
  'idle MB',
  'RSS burst MB',
  'RSS MB',
] as const;
type DeliveryCells = Partial<Record<(typeof DELIVERY_COLUMNS)[number], string>>;
/** A row of the delivery table: each cell under its column's title, '-' under those a scenario does not measure. */
const deliveryCells = (cells: DeliveryCells): string[] => DELIVERY_COLUMNS.map((column) => cells[column] ?? '-');
const STREAM_COLUMNS = [
  'scenario',
  'transport',
  'sync',
  'clients',
  'records',
  'offered/s',
  'p50 ms',
  'p99 ms',
  'max ms',
  'median p50',
  'median p99',
  '1 client p50',
  '1 client p99',
  'lost',
  'dup',
  'reconnects',
  'CPU %',
  'RSS MB',
  'clients CPU %',
];
const ROUND_TRIP_COLUMNS = [
  'commands',
  'transport',
  'terminals',
  'sent',
  'per s',
  'replied',
  'published',
  'refused',
  'p50 ms',
  'p99 ms',
  'max ms',
  'answered',
  'hb p50',
  'hb p99',
  'hb missing',
  'CPU %',
  'RSS MB',
];
const FAN_OUT_COLUMNS = [
  'commands',
  'transport',
  'terminals',
  'connect s',
  'queued',
  'accepted s',
  'published s',
  'replied s',
  'last reply s',
  'replied',
  'answered',
  'hb p50 before',
  'hb p99 before',
  'hb p50 during',
  'hb p99 during',
  'hb missing',
  'CPU %',
  'RSS MB',
];
const PEOPLE_COLUMNS = [
  'people',
  'transport',
  'terminals',
  'put',
  'rows',
  'put s',
  'applied s',
  'enrol/s',
  'pace/s',
  'applied',
  'failed',
  'hb p50 before',
  'hb p99 before',
  'hb p50 during',
  'hb p99 during',
  'hb missing',
  'rec/s before',
  'rec/s during',
  'rec p99 before',
  'rec p99 during',
  'CPU %',
  'RSS MB',
];
const CLUSTER_COLUMNS = [
  'cluster',
  'store',
  'replicas',
  'records',
  'acked/s',
  'stored/s',
  'delivered/s',
  'lost',
  'dup',
  'hb p50',
  'hb p99',
  'hb missing',
  'bridge CPU s/1k',
  'PG CPU s/1k',
  'commit ms',
  'CPU %',
  'RSS MB',
  'takeover s',
];
const TEXT_COLUMNS = 3;

/**
 * Aligned plain-text tables, figures that do not apply to a scenario shown
 * as "-", one for each set of figures: heartbeats, stored bursts, the
 * delivery scenarios, the live stream; each only when it has rows, each with
 * its legend.
 */
export function formatTable(results: Result[], notes: { outageSchedule?: string } = {}): string {
  const deliveryLegend = [
    ...DELIVERY_LEGEND,
    ...(notes.outageSchedule ? [`delivery-outage ran with DELIVERY_SCHEDULE=${notes.outageSchedule} (full jitter)`] : []),
  ];
  const sections: [rows: Result[], columns: readonly string[], row: (r: Result) => string[], legend: string[], textColumns?: number][] = [
    [results.filter(isHeartbeats), HEARTBEAT_COLUMNS, heartbeatRow, HEARTBEAT_LEGEND, 2],
    [results.filter(isStored), STORED_COLUMNS, storedRow, STORED_LEGEND, 4],
    [results.filter(isDelivery), DELIVERY_COLUMNS, deliveryRow, deliveryLegend, 4],
    [results.filter(isStream), STREAM_COLUMNS, streamRow, STREAM_LEGEND],
    [results.filter(isRoundTrip), ROUND_TRIP_COLUMNS, roundTripRow, ROUND_TRIP_LEGEND, 2],
    [results.filter(isFanOut), FAN_OUT_COLUMNS, fanOutRow, FAN_OUT_LEGEND, 2],
    [results.filter(isPeople), PEOPLE_COLUMNS, peopleRow, PEOPLE_LEGEND, 2],
    [results.filter(isCluster), CLUSTER_COLUMNS, clusterRow, CLUSTER_LEGEND, 2],
  ];
  const tables = sections
    .filter(([rows]) => rows.length > 0)
    .map(([rows, columns, row, legend, textColumns]) => [table(columns, rows.map(row), textColumns), '', ...legend].join('\n'));
  const scale = results.filter(isStoreScale).flatMap((r) => (r.scenario === 'store-scale' && 'figures' in r ? [formatStoreScale(r.figures, r.process)] : []));
  const errors = results.flatMap((r) =>
    'error' in r ? [`${r.scenario}${r.part ? ` ${r.part}` : ''} ${r.transport} ${r.terminals ?? r.images ?? r.sync} failed: ${r.error}`] : [],
  );
  return [...tables, ...scale, ...(errors.length ? [errors.join('\n')] : [])].join('\n\n');
}

/** Columns left of `textColumns` are aligned left, the figures right. */
function table(columns: readonly string[], rows: string[][], textColumns = TEXT_COLUMNS): string {
  const widths = columns.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i < textColumns ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [columns, ...rows].map(line).join('\n');
}

const HEARTBEAT_LEGEND = [
  'terminals: one MQTT connection each, one heartU a second at QoS 0, phases spread over the second, from load processes of their own',
  'connect s: first connection begun → every terminal connected and subscribed, begun at most 2,000 a second (so 10,000 take 5 s at best)',
  "p50/p99/max ms: heartU publish → heartD received, every heartbeat; 1st p99: of each terminal's first heartbeat (the bridge marks it online); later p99: of the others",
  'missing: heartbeats not answered within 5 s; lag ms: how late the load processes sent a heartbeat at worst (large: the figures measure the load)',
  "load CPU %: the load processes' CPU time together; CPU %: the bridge's, while the load ran, in % of one core; RSS MB: the bridge's peak resident memory",
];

const STORED_LEGEND = [
  'records: sent at QoS 1 with ~27 KB images; acked/s: records / (first publish → last PUBACK); stored/s: records / (first publish → all of them in the database)',
  'MB/s: payload stored per second; lost: sent − stored; dup: records stored twice',
  "store: sqlite, the bridge's file with SQLITE_SYNC as sync; postgres, DATABASE_URL to a PostgreSQL server of its own (fsync and synchronous_commit on), counted there",
  'slots N: the bridge reads through N slots of a shared subscription (MQTT_SLOTS; 1: one client) from a Mosquitto with its stock limits (max_queued_messages 1000, max_inflight_messages 20 per client): lost there is what the broker dropped',
  "CPU %: the bridge's CPU time while the load ran, in % of one core; CPU µs/rec: the bridge's CPU time (all threads) from the first publish until all were stored,",
  "  per record stored; PG µs/rec: the same of PostgreSQL's server and all its processes; idle MB: the bridge's resident memory started, before the load;",
  "  RSS MB: the bridge's peak resident memory",
];

const DELIVERY_LEGEND = [
  'images: inline: each record carries its own ~27 KB image and each webhook carries it base64; none: records without an image; omit: with one, but IMAGES=omit',
  'records: sent at QoS 1 from 10 terminals',
  'offered/s: the even pace records were sent at; acked/s: records / (first publish → last PUBACK)',
  'delivered/s: records / (first publish → the receiver has every one of them, by distinct webhook-id)',
  'p50/p99/max ms: terminal publish → its webhook arrived whole at the receiver',
  'lost: sent − records the receiver got; dup: requests − distinct webhook-ids',
  'drain s: receiver back → every record sent before that has arrived',
  "RSS outage/after MB: the bridge's peak resident memory while the receiver was down / from its return until all was delivered",
  "store: sqlite, the bridge's file (SQLITE_SYNC=full); postgres, DATABASE_URL to a PostgreSQL server of its own (fsync and synchronous_commit on)",
  "CPU %: the bridge's CPU time while the load ran, in % of one core; CPU µs/rec: the bridge's CPU time (all threads) from the first publish until all were",
  "  delivered, per record delivered (the receiver's is not in it); main, writer µs/rec: the same of its main thread and of its database writer",
  "  thread (SQLite), V8's threads (GC, compiler) and libuv's pool having the rest; PG µs/rec: the same of PostgreSQL's server and all its processes",
  "idle MB: the bridge's resident memory started, before the load; RSS MB: its peak resident memory over its life, the warm-up's included;",
  "  RSS burst MB: its peak from the burst's first publish until all was delivered, sampled every 10 ms",
];

const STREAM_LEGEND = [
  'clients: GET /api/stream?type=face.verified readers in one process of their own; records: sent at QoS 1 at the even pace offered/s',
  "p50/p99/max ms: terminal publish → the event's first arrival at any client; median: → half of the clients have it; 1 client: → client 0 has it",
  'lost: records a client never received, all clients together; dup: events a client received twice',
  'reconnects: streams the bridge dropped (client too far behind), each reopened with Last-Event-ID',
  "CPU %: the bridge's CPU time while the load ran, in % of one core; RSS MB: its peak resident memory; clients CPU %: the stream readers'",
];

const ROUND_TRIP_LEGEND = [
  'round trip: terminals answering every command at once (openDoorD → openDoorU, code 0), each beating once a second, from load processes of their own',
  'sent: POST /api/devices/{sn}/commands?wait=5s {"cmd":"openDoorD"}, to the terminals in turn, at the even pace per s, 8 in flight at most',
  'replied: answered 200 replied; published: 202 published (no reply within the wait); refused: any other answer, or none',
  'p50/p99/max ms: request sent → its 200 replied answer read; answered: commands the terminals answered',
  "hb p50/p99: heartU publish → heartD received, the same terminals' heartbeats in the seconds the commands were sent; hb missing: not answered within 5 s",
  "CPU %: the bridge's CPU time while the commands were sent, in % of one core; RSS MB: the bridge's peak resident memory",
];

const FAN_OUT_LEGEND = [
  'fan-out: terminals beating once a second and answering every command at once; one POST /api/commands {"devices":"all","command":{"cmd":"openDoorD"}}',
  'connect s: as for heartbeats; queued: items of the fan-out queued (the others failed)',
  'accepted/published/replied s: the POST sent → its 202 answer / the bridge counting every queued command published / replied',
  '  (facegate_commands_total{outcome}, read every 250 ms); last reply s: → the last reply a terminal sent',
  "replied: the bridge's count of replies; answered: commands the terminals answered",
  "hb p50/p99 before: heartU → heartD in the whole seconds before the POST (not the first, which marks each terminal online); during: from the POST's second",
  "  to the one every command was replied in; hb missing: heartbeats of those seconds not answered within 5 s; CPU %, RSS MB: the bridge's, as above",
];

const PEOPLE_LEGEND = [
  'people: terminals beating once a second and answering every command at once (addPersonD → addPersonU, code 0), from load processes of their own,',
  '  plus terminals sending face records (~27 KB images) at QoS 1 at an even pace, which answer enrolments too; terminals: all of them',
  'put: PUT /api/people/{num} answered 202, each with its own ~32 KB photo and "devices":"all", 4 in flight; rows: put × terminals',
  'put s: first PUT sent → last answered; applied s: → the bridge counting every row applied (facegate_person_sync{status}, read every 500 ms)',
  'enrol/s: rows applied / applied s; pace/s: terminals × COMMAND_RATE (5/s, after a first burst of 10 each), what the queue lets out; applied, failed: the rows at the end',
  'hb p50/p99 before: heartU → heartD in the whole seconds before the first PUT; during: from its second to the one every row was applied in;',
  '  hb missing: heartbeats of those seconds not answered within 5 s',
  'rec/s before/during: records sent in those stretches and acknowledged (PUBACK), per second; rec p99: their publish → PUBACK',
  "CPU %: the bridge's CPU time from the first PUT until all applied, in % of one core; RSS MB: the bridge's peak resident memory",
];

const CLUSTER_LEGEND = [
  'cluster: records at QoS 1 with ~27 KB images from 10 terminals through Mosquitto (no queue limit, 1,000 in flight: it drops nothing), delivered to a',
  '  webhook receiver; every replica reads through MQTT_SLOTS=4 slots; a fresh store each (PostgreSQL: a server of its own, fsync and synchronous_commit on)',
  "acked/s: Mosquitto's PUBACKs to the terminals; stored/s: records / (first publish → all of them in the store; each replica acknowledges after its commit)",
  'delivered/s: records / (first publish → the receiver has every one of them); lost: sent − records the receiver got; dup: requests − distinct webhook-ids',
  'hb p50/p99: heartU publish → heartD received, the beating terminals, of the beats the burst overlapped; hb missing: not answered within 5 s',
  'bridge CPU s/1k: CPU seconds of every replica together (a killed one until its kill) from the first publish until all was delivered, per 1,000 records',
  "  delivered (the heartbeats' answers included); PG CPU s/1k: the same of PostgreSQL's server and all its processes",
  "commit ms: the mean time of a batch's commit (facegate_commit_seconds) over the burst, the replicas that ran to the end; every PUBACK waits for one",
  "CPU %: the replicas' CPU time together over the same span, in % of one core; RSS MB: each replica's peak resident memory",
  "takeover s: one of two replicas SIGKILLed once a quarter of the records had arrived → the other's /readyz lists every slot / it has connected to each of them",
];

const STORE_COLUMNS = ['store-scale', 'n', 'p50 ms', 'p99 ms', 'max ms', 'status', 'KB'];

/** A table of its own: a row per thing measured, the purge first. */
export function formatStoreScale(f: StoreScaleFigures, process: ProcessFigures): string {
  const purge = f.purge;
  const rows: string[][] = [
    ['purge: longest step in the writer', purge?.steps === undefined ? '-' : count(purge.steps), '-', '-', ms(purge?.longestStepMs), '-', '-'],
    [
      'PUBACK of a record while the purge ran',
      count(f.ackWhilePurging?.count ?? 0),
      ms(f.ackWhilePurging?.p50Ms),
      ms(f.ackWhilePurging?.p99Ms),
      ms(f.ackWhilePurging?.maxMs),
      '-',
      '-',
    ],
    ...f.requests.map((r) => [
      r.what,
      count(r.latency?.count ?? 0),
      ms(r.latency?.p50Ms),
      ms(r.latency?.p99Ms),
      ms(r.latency?.maxMs),
      r.status.join(','),
      count(Math.round(r.bytes / 1024)),
    ]),
  ];
  const done = purge
    ? `purge: ${count(purge.removed)} removed in ${purge.seconds.toFixed(1)} s`
    : 'purge: not finished within the limit (the figures below were taken while it ran)';
  return [
    table(STORE_COLUMNS, rows, 1),
    '',
    `store: ${count(f.waiting)} events past retention still owed to an enabled endpoint, ${count(f.purgeable)} delivered ones past it, ${count(f.recent)} of the last day (written in ${f.buildSeconds.toFixed(0)} s)`,
    `${done}; the bridge: CPU ${percent(process.bridgeCpuPercent)} % of a core, peak RSS ${megabytes(process.bridgePeakRssBytes)} MB`,
    'purge: the longest of its steps (each one writer job) as the bridge logs it; PUBACK: a small record published every 50 ms, publish → PUBACK',
    'requests: one after the other once the purge is over, send → last byte; KB: the largest answer',
  ].join('\n');
}

function heartbeatRow(result: Result): string[] {
  const head = [result.scenario, result.transport, count(result.terminals ?? 0)];
  if ('error' in result) return [...head, ...HEARTBEAT_COLUMNS.slice(TEXT_COLUMNS + 1).map(() => '-'), 'failed'];
  if (result.scenario !== 'heartbeats') throw new Error(`${result.scenario} is not the heartbeat scenario`);
  const f = result.figures;
  const connect = f.connectFailed > 0 ? `${f.connectSeconds.toFixed(1)} (${count(f.connectFailed)} failed)` : f.connectSeconds.toFixed(1);
  return [
    ...head,
    connect,
    count(f.sent),
    ms(f.roundTrip?.p50Ms),
    ms(f.roundTrip?.p99Ms),
    ms(f.roundTrip?.maxMs),
    ms(f.firstBeat?.p99Ms),
    ms(f.laterBeats?.p99Ms),
    count(f.missing),
    ms(f.maxSendLagMs),
    percent(f.loadCpuPercent),
    percent(result.process.bridgeCpuPercent),
    megabytes(result.process.bridgePeakRssBytes),
  ];
}

function storedRow(result: Result): string[] {
  // slots: the bridge's slot count, and the broker's stock limits, said in the first two columns.
  const store = result.store ?? 'sqlite';
  // SQLITE_SYNC means nothing to PostgreSQL.
  const sync = store === 'sqlite' ? result.sync : '-';
  const head =
    result.scenario === 'slots' ? [`slots ${result.slots}`, `${result.transport} stock`, store, sync] : [result.scenario, result.transport, store, sync];
  if ('error' in result) return [...head, ...STORED_COLUMNS.slice(head.length + 1).map(() => '-'), 'failed'];
  if (result.scenario !== 'burst' && result.scenario !== 'slots') throw new Error(`${result.scenario} is not a storage scenario`);
  const f = result.figures;
  const lost = f.timedOut ? `${count(f.lost)} (timeout)` : count(f.lost);
  const [cpu, rss] = [percent(result.process.bridgeCpuPercent), megabytes(result.process.bridgePeakRssBytes)];
  const perRecord = cpuPerRecord(result);
  return [
    ...head,
    count(f.terminals),
    count(f.records),
    rate(f.ackedPerSecond),
    rate(f.storedPerSecond),
    f.storedMBPerSecond.toFixed(1),
    lost,
    count(f.duplicates),
    cpu,
    micros(perRecord?.bridge),
    micros(perRecord?.postgres),
    megabytes(result.process.bridgeIdleRssBytes),
    rss,
  ];
}

function deliveryRow(result: Result): string[] {
  const head = { scenario: result.scenario, transport: result.transport, images: result.images ?? '-', store: result.store ?? 'sqlite' };
  if ('error' in result) return [...deliveryCells(head).slice(0, -1), 'failed'];
  if (
    result.scenario === 'heartbeats' ||
    result.scenario === 'burst' ||
    result.scenario === 'slots' ||
    result.scenario === 'stream' ||
    result.scenario === 'store-scale' ||
    result.scenario === 'commands' ||
    result.scenario === 'people' ||
    result.scenario === 'cluster'
  )
    throw new Error(`${result.scenario} is not a delivery scenario`);
  const every = {
    ...head,
    lost: result.figures.timedOut ? `${count(result.figures.lost)} (timeout)` : count(result.figures.lost),
    dup: count(result.figures.duplicates),
    'CPU %': percent(result.process.bridgeCpuPercent),
    'idle MB': megabytes(result.process.bridgeIdleRssBytes),
    'RSS MB': megabytes(result.process.bridgePeakRssBytes),
  };
  switch (result.scenario) {
    case 'delivery-burst': {
      const f = result.figures;
      const perRecord = cpuPerRecord(result);
      return deliveryCells({
        ...every,
        records: count(f.sent),
        'acked/s': rate(f.ackedPerSecond),
        'delivered/s': rate(f.deliveredPerSecond),
        'CPU µs/rec': micros(perRecord?.bridge),
        'main µs/rec': micros(perRecord?.main),
        'writer µs/rec': micros(perRecord?.writer),
        'PG µs/rec': micros(perRecord?.postgres),
        'RSS burst MB': megabytes(f.rssBurstBytes),
      });
    }
    case 'delivery-steady': {
      const f = result.figures;
      const l = f.latency;
      return deliveryCells({
        ...every,
        records: count(f.sent),
        'offered/s': count(f.rate),
        'p50 ms': ms(l?.p50Ms),
        'p99 ms': ms(l?.p99Ms),
        'max ms': ms(l?.maxMs),
      });
    }
    case 'delivery-outage': {
      const f = result.figures;
      return deliveryCells({
        ...every,
        records: count(f.sent),
        'offered/s': count(f.rate),
        'drain s': f.drainSeconds === undefined ? 'never' : f.drainSeconds.toFixed(1),
        'RSS outage MB': megabytes(f.rssOutageBytes),
        'RSS after MB': megabytes(f.rssAfterBytes),
      });
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

function roundTripRow(result: Result): string[] {
  const head = ['round trip', result.transport, count(result.terminals ?? 0)];
  if ('error' in result) return [...head, ...ROUND_TRIP_COLUMNS.slice(TEXT_COLUMNS + 1).map(() => '-'), 'failed'];
  if (result.scenario !== 'commands' || result.figures.part !== 'round-trip') throw new Error(`${result.scenario} is not the commands' round trip`);
  const f = result.figures;
  const refused = Object.values(f.refused).reduce((sum, n) => sum + n, 0);
  return [
    ...head,
    count(f.commands),
    count(f.rate),
    count(f.replied),
    count(f.published),
    count(refused),
    ms(f.roundTrip?.p50Ms),
    ms(f.roundTrip?.p99Ms),
    ms(f.roundTrip?.maxMs),
    count(f.answered),
    ms(f.heartbeats.roundTrip?.p50Ms),
    ms(f.heartbeats.roundTrip?.p99Ms),
    count(f.heartbeats.missing),
    percent(result.process.bridgeCpuPercent),
    megabytes(result.process.bridgePeakRssBytes),
  ];
}

function fanOutRow(result: Result): string[] {
  const head = ['fan-out', result.transport, count(result.terminals ?? 0)];
  if ('error' in result) return [...head, ...FAN_OUT_COLUMNS.slice(TEXT_COLUMNS + 1).map(() => '-'), 'failed'];
  if (result.scenario !== 'commands' || result.figures.part !== 'fan-out') throw new Error(`${result.scenario} is not the commands' fan-out`);
  const f = result.figures;
  const s = (n: number | undefined) => (n === undefined ? (f.timedOut ? 'timeout' : '-') : n.toFixed(2));
  return [
    ...head,
    f.connectFailed > 0 ? `${f.connectSeconds.toFixed(1)} (${count(f.connectFailed)} failed)` : f.connectSeconds.toFixed(1),
    count(f.queued),
    s(f.acceptedSeconds),
    s(f.publishedSeconds),
    s(f.repliedSeconds),
    s(f.lastAnswerSeconds),
    count(f.replied),
    count(f.answered),
    ms(f.heartbeatsBefore.roundTrip?.p50Ms),
    ms(f.heartbeatsBefore.roundTrip?.p99Ms),
    ms(f.heartbeatsDuring.roundTrip?.p50Ms),
    ms(f.heartbeatsDuring.roundTrip?.p99Ms),
    count(f.heartbeatsBefore.missing + f.heartbeatsDuring.missing),
    percent(result.process.bridgeCpuPercent),
    megabytes(result.process.bridgePeakRssBytes),
  ];
}

function peopleRow(result: Result): string[] {
  const head = ['people', result.transport, count(result.terminals ?? 0)];
  if ('error' in result) return [...head, ...PEOPLE_COLUMNS.slice(TEXT_COLUMNS + 1).map(() => '-'), 'failed'];
  if (result.scenario !== 'people') throw new Error(`${result.scenario} is not the people scenario`);
  const f = result.figures;
  const rateOf = (n: number | undefined) => (n === undefined ? '-' : rate(n));
  return [
    'people',
    result.transport,
    count(f.syncTerminals),
    f.put === f.people ? count(f.put) : `${count(f.put)} of ${count(f.people)}`,
    count(f.rows),
    f.putSeconds.toFixed(1),
    f.appliedSeconds === undefined ? (f.timedOut ? 'timeout' : '-') : f.appliedSeconds.toFixed(1),
    rateOf(f.enrolmentsPerSecond),
    count(f.pacePerSecond),
    count(f.sync.applied ?? 0),
    count(f.sync.failed ?? 0),
    ms(f.heartbeatsBefore.roundTrip?.p50Ms),
    ms(f.heartbeatsBefore.roundTrip?.p99Ms),
    ms(f.heartbeatsDuring.roundTrip?.p50Ms),
    ms(f.heartbeatsDuring.roundTrip?.p99Ms),
    count(f.heartbeatsBefore.missing + f.heartbeatsDuring.missing),
    f.recordsBefore.ackedPerSecond === undefined ? '-' : f.recordsBefore.ackedPerSecond.toFixed(1),
    f.recordsDuring.ackedPerSecond === undefined ? '-' : f.recordsDuring.ackedPerSecond.toFixed(1),
    ms(f.recordsBefore.ack?.p99Ms),
    ms(f.recordsDuring.ack?.p99Ms),
    percent(result.process.bridgeCpuPercent),
    megabytes(result.process.bridgePeakRssBytes),
  ];
}

function clusterRow(result: Result): string[] {
  const setup = result.setup;
  const head = [setup?.name ?? 'cluster', setup?.store ?? '-', String(setup?.replicas ?? '-')];
  if ('error' in result) return [...head, ...CLUSTER_COLUMNS.slice(TEXT_COLUMNS + 1).map(() => '-'), 'failed'];
  if (result.scenario !== 'cluster') throw new Error(`${result.scenario} is not the cluster scenario`);
  const f = result.figures;
  const d = f.delivery;
  const perK = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(2));
  const t = f.takeover;
  const seconds = (n: number | undefined) => (n === undefined ? 'never' : n.toFixed(2));
  return [
    ...head,
    count(d.sent),
    rate(d.ackedPerSecond),
    rate(f.storedPerSecond),
    rate(d.deliveredPerSecond),
    d.timedOut ? `${count(d.lost)} (timeout)` : count(d.lost),
    count(d.duplicates),
    ms(f.heartbeats.roundTrip?.p50Ms),
    ms(f.heartbeats.roundTrip?.p99Ms),
    count(f.heartbeats.missing),
    perK(f.bridgeCpuPer1000),
    perK(f.postgresCpuPer1000),
    ms(f.commitMeanMs),
    percent(result.process.bridgeCpuPercent),
    f.peakRssBytes.map(megabytes).join('/'),
    t ? `${seconds(t.leaseSeconds)}/${seconds(t.connectedSeconds)}` : '-',
  ];
}

const CEILING_COLUMNS = ['ceiling', 'broker', 'load', 'messages', 'per s', 'p50 ms', 'p99 ms', 'max ms', 'missing', 'lost', 'CPU µs/msg', 'before'];

/** Each line with the ceilings it explains: a run that measured only some of them (--only burst) shows only their lines. */
const CEILING_LEGEND: [about: readonly Ceiling['ceiling'][], line: string][] = [
  [
    ['relay'],
    'relay: the burst\'s records (with their images, or without) at QoS 1 through a bare broker (aedes alone in a process for "embedded") to a subscriber doing no work; per s: first publish → last received',
  ],
  [['echo'], 'echo: the heartbeat load answered by a bare client that sends a heartD for each heartU; p50/p99/max ms: heartU publish → heartD received'],
  [
    ['flood'],
    "flood: the echo's heartbeat load and the relay's records with images through the same broker at once; per s and lost: the relay's; p50/p99/max ms, missing:",
  ],
  [['flood'], '       the heartbeats due while the records were relayed'],
  [
    ['post'],
    'post: the webhook bodies (with images as IMAGES=inline posts them, or without) POSTed with undici to the same receiver, keep-alive, 8 in flight; per s: requests answered a second',
  ],
  [
    ['disk'],
    "disk: a record's worth appended to a file in the bridge's temp dir and fdatasync'd, one at a time, as each commit with SQLITE_SYNC=full syncs the WAL,",
  ],
  [['disk'], "      back to back, then at delivery-steady's pace; p50/p99/max ms: one append + sync"],
  [
    ['write'],
    "write: the burst's images' bytes (as the segments hold them) written to a new file in the bridge's temp dir, fdatasync'd after each write, then over",
  ],
  [['write'], '       the same file again, its pages cached; per s: images a second, syncs included; CPU µs/msg: the time in the writes alone, per image'],
  [
    ['relay', 'post'],
    "CPU µs/msg: relay, the broker's CPU time (mosquitto, or aedes' process) and the subscriber's from the first publish until the last received, per record",
  ],
  [
    ['relay', 'post'],
    "  received; post, the posting process's per request answered (the receiver's is not in it, as it is not in the bridge's); the terminals' on neither side",
  ],
];

const BEFORE_LEGEND =
  'before: the scenario each was measured just before ([n] as the progress lines number them), whose figures are read against it; -: measured at the start';

const kindShown = (kind: RecordKind | undefined) => (kind === 'none' ? 'no image' : 'image');

/** The ceilings as a table of their own, with its legend. */
export function formatCeilings(ceilings: Ceiling[]): string {
  const figures = (c: Ceiling): string[] => {
    const head = [c.ceiling, 'transport' in c && c.transport ? c.transport : '-'];
    if ('error' in c) {
      const load = c.ceiling === 'echo' || c.ceiling === 'flood' ? `${count(c.terminals ?? 0)} terminals` : kindShown(c.kind);
      return [...head, load, ...CEILING_COLUMNS.slice(4, -1).map(() => '-'), 'failed'];
    }
    switch (c.ceiling) {
      case 'relay': {
        const f = c.figures;
        const load = `${count(f.records)} records, ${kindShown(c.kind)}${f.warmedUp ? `, after ${count(f.warmedUp)}` : ''}`;
        return [
          ...head,
          load,
          count(f.received),
          rate(f.perSecond),
          '-',
          '-',
          '-',
          '-',
          f.timedOut ? `${count(f.lost)} (timeout)` : count(f.lost),
          micros(f.cpuMicrosPerRecord),
        ];
      }
      case 'echo': {
        const f = c.figures;
        const rt = f.roundTrip;
        return [...head, `${count(f.terminals)} terminals`, count(f.sent), '-', ms(rt?.p50Ms), ms(rt?.p99Ms), ms(rt?.maxMs), count(f.missing), '-', '-'];
      }
      case 'flood': {
        const { heartbeats: h, relay: r } = c.figures;
        const rt = h.roundTrip;
        const load = `${count(c.figures.terminals)} terminals, ${count(r.records)} records`;
        return [...head, load, count(h.sent), rate(r.perSecond), ms(rt?.p50Ms), ms(rt?.p99Ms), ms(rt?.maxMs), count(h.missing), count(r.lost), '-'];
      }
      case 'post': {
        const f = c.figures;
        return [
          ...head,
          `${count(f.inFlight)} in flight, ${kindShown(c.kind)}`,
          count(f.requests),
          rate(f.perSecond),
          '-',
          '-',
          '-',
          '-',
          count(f.requests - f.received),
          micros(f.cpuMicrosPerRequest),
        ];
      }
      case 'disk': {
        const f = c.figures;
        const d = f.sync;
        const load = `${Math.round(f.bytes / 1024)} KB appends, synced${f.pace ? `, ${count(f.pace)}/s` : ''}`;
        return [...head, load, count(f.appends), rate(f.perSecond), ms(d?.p50Ms), ms(d?.p99Ms), ms(d?.maxMs), '-', '-', '-'];
      }
      case 'write': {
        const f = c.figures;
        const load = `${Math.round(f.writeBytes / 1024 / 1024)} MB writes, ${f.pages === 'new' ? 'new file' : 'over it again'}`;
        return [...head, load, count(f.images), rate(f.perSecond), '-', '-', '-', '-', '-', micros(f.microsPerImage)];
      }
    }
    // Every kind is a case above: the compiler checks it, the linter cannot.
    throw new Error(`no row for ceiling ${(c as Ceiling).ceiling}`);
  };
  const rows = ceilings.map((c) => [...figures(c), c.before ? `[${c.before.plan}] ${c.before.label}` : '-']);
  const errors = ceilings.flatMap((c) => ('error' in c ? [`${c.ceiling} ${c.transport ?? ''} ${c.terminals ?? kindShown(c.kind)} failed: ${c.error}`] : []));
  return [
    table(
      CEILING_COLUMNS.map((title, i) => (i === 0 ? 'ceilings' : title)),
      rows,
    ),
    '',
    ...CEILING_LEGEND.filter(([about]) => ceilings.some((c) => about.includes(c.ceiling))).map(([, line]) => line),
    ...(ceilings.some((c) => c.before) ? [BEFORE_LEGEND] : []),
    ...(errors.length ? ['', ...errors] : []),
  ].join('\n');
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
 * Each bridge figure against the ceiling of the same load: heartbeat p99 ÷
 * echo p99 with as many terminals on the same broker; stored/s and
 * delivered/s ÷ the relay's messages/s of the same records on the same
 * broker; delivered/s ÷ POST requests/s of the same bodies, and ÷ the rate
 * of the two one after the other, 1 ÷ (1/relay + 1/POST): about what a
 * bridge that stored nothing and cost nothing itself would reach here.
 * `results` are in the order of the run's scenarios: the nth is read against
 * the ceilings measured just before the nth (`before.plan`), or, when none
 * was, against those measured at the start.
 */
export function againstCeilings(results: Result[], all: Ceiling[]): AgainstCeiling[] {
  const out: AgainstCeiling[] = [];
  const add = (r: Result, variant: string, figure: string, value: number | undefined, ceiling: string, ceilingValue: number | undefined) => {
    if (value !== undefined && ceilingValue)
      out.push({ scenario: r.scenario, transport: r.transport, variant, figure, value, ceiling, ceilingValue, ratio: value / ceilingValue });
  };
  const atStart = all.filter((c) => c.before === undefined);
  for (const [i, r] of results.entries()) {
    if ('error' in r) continue;
    const own = all.filter((c) => c.before?.plan === i + 1);
    const ceilings = own.length ? own : atStart;
    const relay = (transport: TransportName, kind: RecordKind) =>
      measured(ceilings, 'relay', (c) => c.transport === transport && c.kind === kind)?.figures.perSecond;
    const relayMicros = (transport: TransportName, kind: RecordKind) =>
      measured(ceilings, 'relay', (c) => c.transport === transport && c.kind === kind)?.figures.cpuMicrosPerRecord;
    if (r.scenario === 'heartbeats') {
      const echo = measured(ceilings, 'echo', (c) => c.transport === r.transport && c.figures.terminals === r.figures.terminals);
      add(r, `${count(r.figures.terminals)} terminals`, 'p99 ms', r.figures.roundTrip?.p99Ms, 'echo p99 ms', echo?.figures.roundTrip?.p99Ms);
    } else if (r.scenario === 'burst') {
      const variant = r.store === 'postgres' ? 'postgres' : r.sync;
      add(r, variant, 'stored/s', r.figures.storedPerSecond, 'relay msgs/s', relay(r.transport, 'image'));
      const relayCpu = relayMicros(r.transport, 'image');
      for (const [figure, value] of cpuFigures(r)) add(r, variant, figure, value, 'relay CPU µs/rec', relayCpu);
    } else if (r.scenario === 'delivery-burst') {
      const kind = recordKind(r.figures.images);
      const variant = r.store === 'postgres' ? `${r.figures.images}, postgres` : r.figures.images;
      const relayed = relay(r.transport, kind);
      const post = measured(ceilings, 'post', (c) => c.kind === kind)?.figures;
      const posted = post?.perSecond;
      add(r, variant, 'delivered/s', r.figures.deliveredPerSecond, 'relay msgs/s', relayed);
      add(r, variant, 'delivered/s', r.figures.deliveredPerSecond, 'POST/s', posted);
      // A bridge relays each record and then posts it, on the same cores that
      // each ceiling had to itself: as if each took the time it takes alone.
      add(r, variant, 'delivered/s', r.figures.deliveredPerSecond, 'relay then POST /s', relayed && posted && 1 / (1 / relayed + 1 / posted));
      // And the CPU each record costs: the relay's and the POST's, one after the other, add up.
      const relayCpu = relayMicros(r.transport, kind);
      const postCpu = post?.cpuMicrosPerRequest;
      const ceilingCpu = relayCpu === undefined || postCpu === undefined ? undefined : relayCpu + postCpu;
      for (const [figure, value] of cpuFigures(r)) add(r, variant, figure, value, 'relay+POST CPU µs/rec', ceilingCpu);
      // SQLite's store also writes each image to a segment, which neither ceiling does: add what
      // writing those bytes to new pages alone costs here (README §Performance, Where the writer's time goes).
      const segments = kind === 'image' && r.store !== 'postgres';
      const written = segments ? measured(ceilings, 'write', (c) => c.figures.pages === 'new')?.figures.microsPerImage : undefined;
      const writtenCpu = ceilingCpu === undefined || written === undefined ? undefined : ceilingCpu + written;
      for (const [figure, value] of cpuFigures(r)) add(r, variant, figure, value, 'relay+POST+write CPU µs/rec', writtenCpu);
    } else if (r.scenario === 'cluster') {
      const variant = r.figures.setup;
      const echo = measured(ceilings, 'echo', (c) => c.transport === r.transport && c.figures.terminals === r.figures.heartbeats.terminals);
      add(r, variant, 'hb p99 ms', r.figures.heartbeats.roundTrip?.p99Ms, 'echo p99 ms', echo?.figures.roundTrip?.p99Ms);
      // The same beats beside the same records through a bare broker: what the burst itself does to them there.
      const flood = measured(ceilings, 'flood', (c) => c.transport === r.transport && c.figures.terminals === r.figures.heartbeats.terminals);
      add(r, variant, 'hb p99 ms', r.figures.heartbeats.roundTrip?.p99Ms, 'echo beside the relay p99 ms', flood?.figures.heartbeats.roundTrip?.p99Ms);
      const relayed = relay(r.transport, 'image');
      const posted = measured(ceilings, 'post', (c) => c.kind === 'image')?.figures.perSecond;
      add(r, variant, 'delivered/s', r.figures.delivery.deliveredPerSecond, 'relay then POST /s', relayed && posted && 1 / (1 / relayed + 1 / posted));
    } else if (r.scenario === 'delivery-steady') {
      // Every record waits for one synced commit: the disk's own p99 at the same pace is the floor under this one.
      const disk = measured(ceilings, 'disk', (c) => c.figures.pace === r.figures.rate);
      add(r, 'inline', 'p99 ms', r.figures.latency?.p99Ms, 'disk sync p99 ms', disk?.figures.sync?.p99Ms);
    }
  }
  return out;
}

/**
 * A burst's CPU per record as set against a ceiling's: the bridge's, and
 * through Mosquitto the broker's with it (the relay's CPU counts its broker,
 * and the embedded broker is in the bridge's); with PostgreSQL a second
 * figure with the server's added. The webhook receiver is counted on
 * neither side.
 */
function cpuFigures(r: Result): [figure: string, value: number | undefined][] {
  const perRecord = cpuPerRecord(r);
  if (!perRecord) return [];
  const broker = r.transport === 'mosquitto' ? [perRecord.mosquitto] : [];
  const named = r.transport === 'mosquitto' ? 'bridge+mosquitto' : 'bridge';
  return [
    [`${named} CPU µs/rec`, sumKnown([perRecord.bridge, ...broker])],
    ...(r.store === 'postgres'
      ? [[`${named}+PG CPU µs/rec`, sumKnown([perRecord.bridge, ...broker, perRecord.postgres])] as [string, number | undefined]]
      : []),
  ];
}

type Measured<K extends Ceiling['ceiling']> = Extract<Ceiling, { ceiling: K; figures: unknown }>;

/** The first measured ceiling of that kind that `matches`. */
function measured<K extends Ceiling['ceiling']>(ceilings: Ceiling[], ceiling: K, matches: (c: Measured<K>) => boolean): Measured<K> | undefined {
  return ceilings.find((c): c is Measured<K> => c.ceiling === ceiling && 'figures' in c && matches(c as Measured<K>));
}

/** The ratios as a short list under the tables. */
export function formatAgainstCeilings(rows: AgainstCeiling[]): string {
  if (rows.length === 0) return '';
  // Times and CPU per record: lower is better, said as a multiple; rates as a share.
  const shown = (row: AgainstCeiling, n: number) => (row.figure.endsWith('µs/rec') ? micros(n) : row.figure.endsWith('ms') ? ms(n) : rate(n));
  const lines = rows.map((row) => {
    const cost = row.figure.endsWith('ms') || row.figure.endsWith('µs/rec');
    const ratio = cost ? `${row.ratio.toFixed(1)}× the ceiling` : `${(row.ratio * 100).toFixed(0)}% of the ceiling`;
    return `  ${row.scenario} ${row.transport} ${row.variant}: ${row.figure} ${shown(row, row.value)} vs ${row.ceiling} ${shown(row, row.ceilingValue)}: ${ratio}`;
  });
  return ['against the ceilings:', ...lines].join('\n');
}

const count = (n: number) => n.toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '-' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const rate = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(0));
const micros = (n: number | undefined) => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
const megabytes = (n: number | undefined) => (n === undefined ? '-' : (n / 1024 / 1024).toFixed(0));
