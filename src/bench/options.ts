import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const SCENARIOS = [
  'heartbeats',
  'burst',
  'delivery-burst',
  'delivery-steady',
  'delivery-outage',
  'stream',
  'store-scale',
  'commands',
  'people',
  'slots',
  'cluster',
] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** What --only takes: a scenario, `delivery` for the three delivery scenarios, or `ceilings` for the raw ceilings alone. */
export type Only = Scenario | 'delivery' | 'ceilings';
export type TransportName = 'embedded' | 'mosquitto';
/** Where the bridge stores: SQLite in its data dir, or PostgreSQL (DATABASE_URL, README §PostgreSQL). */
export const STORE_NAMES = ['sqlite', 'postgres'] as const;
export type StoreName = (typeof STORE_NAMES)[number];
/** The cluster scenario's setups (scenarios/cluster.ts), in the order they run. */
export const CLUSTER_SETUP_NAMES = ['sqlite', 'postgres', 'postgres-2', 'takeover'] as const;
export type ClusterSetupName = (typeof CLUSTER_SETUP_NAMES)[number];

export interface BenchOptions {
  only: Only | undefined;
  transport: TransportName | undefined;
  /** burst and delivery-burst: the stores to run them on, in this order (default SQLite alone). */
  stores: readonly StoreName[];
  /** Heartbeat scenario: one run for each count of terminals, in order. */
  terminals: number[];
  seconds: number;
  /** Terminals sending records: the bursts and the delivery scenarios. */
  burstTerminals: number;
  /** Burst scenario. */
  records: number;
  /** slots: the bridge's slot counts, one run each, and the records of each run's burst. */
  slots: number[];
  slotsRecords: number;
  /** cluster: the records of each setup's burst, and the terminals beating meanwhile. */
  clusterRecords: number;
  clusterTerminals: number;
  /** cluster: the setups to run, by name, in the scenario's order (default all). */
  clusterSetups: readonly ClusterSetupName[];
  window: number;
  /** burst, delivery-burst and their relays: records sent before the clock starts (0: none). */
  warmUp: number;
  /** delivery-burst. */
  deliveryRecords: number;
  /** delivery-steady, delivery-outage and stream: records a second. */
  rate: number;
  steadySeconds: number;
  /** The disk ceiling at delivery-steady's pace: long enough to meet the occasional stall of a shared disk. */
  diskSeconds: number;
  /** delivery-outage: the whole load, and the receiver's outage in its middle. */
  outageLoadSeconds: number;
  outageSeconds: number;
  /** stream: clients reading GET /api/stream, and how long the load runs. */
  streamClients: number;
  streamSeconds: number;
  /** store-scale: events past retention that an enabled endpoint still waits for, and recent ones. */
  scaleEvents: number;
  scaleRecent: number;
  /** commands, round trip: terminals, POSTs with ?wait sent at an even pace with at most so many unanswered, and the wait. */
  commandTerminals: number;
  commands: number;
  commandRate: number;
  commandsInFlight: number;
  commandWaitMs: number;
  /** commands, fan-out: terminals, and the beats measured before the POST. */
  fanOutTerminals: number;
  fanOutBeforeBeats: number;
  /** people: beating terminals, people PUT with "devices":"all" (PUTs in flight at most), terminals sending records and their pace, beats before the first PUT, the limit on the sync. */
  peopleTerminals: number;
  people: number;
  peopleInFlight: number;
  peopleRecordTerminals: number;
  peopleRecordRate: number;
  peopleBeforeBeats: number;
  peopleLimitMs: number;
  out: string;
  /** Where each bridge writes V8's CPU profiles of its threads (--cpu-prof), or undefined. */
  cpuProf: string | undefined;
  quick: boolean;
}

/** Whether --only lets `scenario` run. */
export function selected(options: BenchOptions, scenario: Scenario): boolean {
  const { only } = options;
  return only === undefined || only === scenario || (only === 'delivery' && scenario.startsWith('delivery-'));
}

/** Whether --only names `scenario` itself: what the default run leaves out runs only then. */
export function named(options: BenchOptions, scenario: Scenario): boolean {
  return options.only === scenario;
}

const HELP: [flag: string, text: string][] = [
  [
    '--quick',
    'small counts, one broker (under a minute): 100 and 1,000 terminals × 2 s of heartbeats, 2,000-record bursts, 5 s steady, 10 s with a 5 s outage',
  ],
  [
    '--only SCENARIO',
    'run one scenario: heartbeats, delivery-burst, delivery-steady, delivery-outage, ceilings, delivery for the three delivery ones, or one the default run leaves out: burst, stream, store-scale, commands, people, slots, cluster',
  ],
  ['--transport embedded|mosquitto', 'run against one broker (default: embedded, and Mosquitto when mosquitto is on PATH; --quick embedded)'],
  [
    '--terminals N[,N…]',
    'terminals sending heartbeats, one a second each, a run for each count (default 100,10000; --quick 100,1000; at most 15,000); cluster: the first count, beating during each burst (default 1,000; --quick 100)',
  ],
  ['--seconds S', 'duration of each heartbeat run (default 5; --quick 2)'],
  ['--records R', 'records in each burst, stored and delivered (default 5,000 stored and 20,000 delivered, cluster 3,000; --quick 1,000, 2,000 and 1,000)'],
  ['--burst-terminals T', 'terminals sending records, in the bursts and the delivery scenarios (default 10)'],
  ['--rate R', 'records a second in delivery-steady, delivery-outage and stream (default 200)'],
  [
    '--steady-seconds S',
    "duration of delivery-steady (default 30; --quick 5): a bridge runs for minutes, and V8's first full collection, after which its pace of them settles, may come after 30 s",
  ],
  ['--stream-clients N', 'clients reading the live stream in the stream scenario (default 100)'],
  ['--store S[,S…]', 'burst and delivery-burst: the stores to run them on, of sqlite, postgres (PostgreSQL: a server the benchmark starts; default sqlite)'],
  ['--setups S[,S…]', 'cluster: the setups to run, of sqlite, postgres, postgres-2, takeover (default all four, in that order)'],
  ['--slots N[,N…]', 'slots: the slot counts of the bridge, a run for each (default 1,4,8; each 1 to 64)'],
  ['--scale-events N', 'store-scale: events past retention waiting for a delivery (default 1,000,000; --quick 100,000)'],
  ['--people N', 'people: people PUT with a photo each and "devices":"all" (default 1,000; --quick 50)'],
  ['--window W', 'QoS 1 publishes in flight per terminal during a burst (default 50)'],
  [
    '--warm-up N',
    "records each burst and its relay send before the clock starts, numbered past the burst's (default 2,000; --quick 500; 0: a fresh bridge's first records)",
  ],
  ['--out FILE', 'where the figures go as JSON (default bench-results.json)'],
  ['--cpu-prof DIR', "each bridge writes V8's CPU profile of each of its threads into DIR as it stops (node --cpu-prof); the figures include its cost"],
  ['--help', 'this text'],
];

/**
 * Each terminal is a connection to the broker: 15,000 of them, with the
 * broker's and the bridge's other files, stay inside a 20,000-file limit, and
 * inside the 28,000 ephemeral ports of a default Linux.
 */
const MAX_TERMINALS = 15_000;

/** Every payload of a burst is built in memory before the clock starts (~37 KB each): 20,000 are ~750 MB. A warm-up's records are numbered from here on. */
export const MAX_BURST_RECORDS = 20_000;

export class UsageError extends Error {}

export function usage(): string {
  const width = Math.max(...HELP.map(([flag]) => flag.length)) + 2;
  return [
    'Usage: facegate bench [options]',
    '',
    'Starts the bridge in a process of its own (fresh data dir, for each scenario and broker) and measures',
    '  heartbeats       heartU → heartD round trip at QoS 0 of 100 and of 10,000 terminals (5 s each), from load processes',
    '                   of their own, connected at most 2,000 a second: connection time, p50/p99/max, replies missing',
    '                   (--only heartbeats: with the echo ceiling of each load, in the same run)',
    '  delivery-burst   20,000 QoS 1 face records from 10 terminals, with ~27 KB images and without any, delivered to a',
    '                   webhook receiver: records delivered per second, lost, duplicated, CPU time per record',
    '  delivery-steady  terminal publish → webhook arrival latency at an even 200 records/s (30 s; --quick 5 s)',
    '  delivery-outage  the same pace for 75 s while the receiver is down for the middle 60 s (--quick 10 s and 5 s):',
    "                   the bridge's memory, the time to catch up once it is back, lost and duplicated records",
    "  ceilings         the same loads without the bridge: a bare broker relaying each burst's records to a bare",
    '                   subscriber, a bare client echoing each heartbeat load, bare POSTs of the webhook bodies, a',
    "                   record appended and synced, the burst's images written to a new file and over it again",
    'against the embedded broker and Mosquitto when it is on PATH (delivery-steady and delivery-outage: the embedded',
    "one), with the bridge's idle and peak memory and CPU in each. Left out of the default run so that it stays under five",
    'minutes, run with --only:',
    '  burst            the records with images stored (not delivered) per second and CPU time per record, with',
    '                   SQLITE_SYNC=full and normal, against the relay of the same records',
    '  delivery-burst   by name, also the records with images under IMAGES=omit, against the relays and the POSTs alone',
    "  (burst and delivery-burst on PostgreSQL too with --store sqlite,postgres: its CPU time per record beside the bridge's)",
    '  stream           200 records/s (30 s; --quick 5 s) watched by 100 clients of GET /api/stream: terminal publish',
    '                   → event on a stream latency, events each client lost or got twice',
    '  store-scale      a store of 1,000,000 events past retention: the purge, PUBACKs meanwhile, the lists',
    '  commands         100 terminals answering 500 POST /api/devices/{sn}/commands?wait=5s at 100/s: request → replied',
    '                   p50/p99/max beside their heartbeats; 10,000 terminals beating once a second and one POST /api/commands',
    '                   to all: seconds until accepted, published, replied, heartbeat p99 before and during (--quick: 100',
    '                   commands, 500 terminals)',
    '  people           50 terminals beating once a second and 4 sending 20 records/s (~27 KB images); 1,000 people PUT with',
    '                   a ~32 KB photo and "devices":"all": seconds until every row on every terminal is applied, enrolments/s,',
    '                   heartbeat p50/p99 and records acknowledged/s before and during the sync (--quick: 10 + 2 terminals,',
    '                   10 records/s, 50 people; one broker, the embedded one unless --transport names the other)',
    '  slots            20,000 QoS 1 records (~27 KB images) from 10 terminals through a stock Mosquitto (max_queued_messages',
    '                   1000, max_inflight_messages 20) to a bridge reading with 1, 4 and 8 slots of a shared subscription:',
    '                   records stored, lost at the broker, stored/s (--quick: 2,000 records)',
    '  cluster          3,000 QoS 1 records (~27 KB images) from 10 terminals through Mosquitto, delivered to a webhook receiver,',
    '                   1,000 terminals beating meanwhile, to one bridge on SQLite, one replica on PostgreSQL, two replicas on',
    '                   PostgreSQL (MQTT_SLOTS=4 each): stored/s, delivered/s, heartbeat p99, CPU seconds per 1,000 records of',
    '                   the bridges and of PostgreSQL, peak RSS of each replica; then two replicas again, one SIGKILLed',
    '                   mid-burst: the time until the other holds its slots, records lost (--quick: 1,000 records, 100 terminals)',
    'Prints the tables and writes every figure, with the machine, as JSON. A default run takes about 4½ minutes.',
    '',
    ...HELP.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
  ].join('\n');
}

/** Command-line arguments → options, or undefined for --help; a UsageError names the bad option. */
export function parseBenchOptions(args: string[]): BenchOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        transport: { type: 'string' },
        terminals: { type: 'string' },
        seconds: { type: 'string' },
        records: { type: 'string' },
        'burst-terminals': { type: 'string' },
        rate: { type: 'string' },
        'steady-seconds': { type: 'string' },
        window: { type: 'string' },
        'warm-up': { type: 'string' },
        'stream-clients': { type: 'string' },
        'scale-events': { type: 'string' },
        people: { type: 'string' },
        slots: { type: 'string' },
        setups: { type: 'string' },
        store: { type: 'string' },
        out: { type: 'string', default: 'bench-results.json' },
        'cpu-prof': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const only = values.only;
  if (only !== undefined && only !== 'delivery' && only !== 'ceilings' && !(SCENARIOS as readonly string[]).includes(only)) {
    throw new UsageError(`--only ${only}: expected one of ${SCENARIOS.join(', ')}, delivery, ceilings`);
  }
  if (values.transport !== undefined && values.transport !== 'embedded' && values.transport !== 'mosquitto') {
    throw new UsageError(`--transport ${values.transport}: expected embedded or mosquitto`);
  }
  const quick = values.quick;
  const records = whole(values.records, 'records', quick ? 1000 : 5000, 1, MAX_BURST_RECORDS);
  // The burst: 20,000 records, with images and without.
  const deliveryRecords = whole(values.records, 'records', quick ? 2000 : 20_000, 1, MAX_BURST_RECORDS);
  const burstTerminals = whole(values['burst-terminals'], 'burst-terminals', 10, 1, 1000);
  if (burstTerminals > Math.min(records, deliveryRecords)) {
    throw new UsageError(`--burst-terminals ${burstTerminals}: more terminals than records in a burst`);
  }
  return {
    only: only as Only | undefined,
    transport: values.transport,
    stores: names(values.store, 'store', STORE_NAMES, ['sqlite']),
    terminals: wholes(values.terminals, 'terminals', quick ? [100, 1000] : [100, 10_000], 1, MAX_TERMINALS),
    // 5 s: 50,000 round trips of 10,000 terminals, and eight heartbeat runs (ceilings included) that fit the five minutes.
    seconds: whole(values.seconds, 'seconds', quick ? 2 : 5, 1, 600),
    burstTerminals,
    records,
    // The burst, as delivery-burst's.
    slots: wholes(values.slots, 'slots', [1, 4, 8], 1, 64),
    slotsRecords: deliveryRecords,
    // A few minutes for all four setups on two cores: PostgreSQL's commits are slower than SQLite's.
    clusterRecords: whole(values.records, 'records', quick ? 1000 : 3000, 1, MAX_BURST_RECORDS),
    // One count: the first, when --terminals lists several for the heartbeat runs.
    clusterTerminals: wholes(values.terminals, 'terminals', [quick ? 100 : 1000], 1, MAX_TERMINALS)[0],
    clusterSetups: names(values.setups, 'setups', CLUSTER_SETUP_NAMES, CLUSTER_SETUP_NAMES),
    window: whole(values.window, 'window', 50, 1, 1000),
    warmUp: whole(values['warm-up'], 'warm-up', quick ? 500 : 2000, 0, MAX_BURST_RECORDS),
    deliveryRecords,
    rate: whole(values.rate, 'rate', 200, 1, 5000),
    steadySeconds: whole(values['steady-seconds'], 'steady-seconds', quick ? 5 : 30, 1, 3600),
    diskSeconds: quick ? 2 : 10,
    // The 60 s outage, with 7.5 s of load before it (the memory it is read against) and after it.
    outageLoadSeconds: quick ? 10 : 75,
    outageSeconds: quick ? 5 : 60,
    streamClients: whole(values['stream-clients'], 'stream-clients', 100, 1, 1000),
    streamSeconds: quick ? 5 : 30,
    scaleEvents: whole(values['scale-events'], 'scale-events', quick ? 100_000 : 1_000_000, 1000, 10_000_000),
    scaleRecent: quick ? 10_000 : 100_000,
    commandTerminals: 100,
    // Five commands for each terminal, one a second: within COMMAND_RATE's default (5/s, a burst of 10), so none is refused.
    commands: quick ? 100 : 500,
    commandRate: quick ? 50 : 100,
    commandsInFlight: 8,
    commandWaitMs: 5000,
    fanOutTerminals: quick ? 500 : 10_000,
    fanOutBeforeBeats: quick ? 1 : 3,
    peopleTerminals: quick ? 10 : 50,
    people: whole(values.people, 'people', quick ? 50 : 1000, 1, 10_000),
    peopleInFlight: 4,
    peopleRecordTerminals: quick ? 2 : 4,
    peopleRecordRate: quick ? 10 : 20,
    peopleBeforeBeats: quick ? 2 : 5,
    // COMMAND_RATE (5/s a terminal) lets 1,000 people onto a terminal in 200 s at best: the limit is twice and more that.
    peopleLimitMs: quick ? 45_000 : 480_000,
    out: values.out,
    cpuProf: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    quick,
  };
}

/** A comma-separated list of whole numbers, each checked as whole() does. */
function wholes(text: string | undefined, name: string, fallback: number[], min: number, max: number): number[] {
  if (text === undefined) return fallback;
  return text.split(',').map((part) => whole(part.trim(), name, NaN, min, max));
}

function whole(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`--${name} ${text}: expected a whole number from ${min} to ${max}`);
  return n;
}

/** --setups and --store: names out of `known`, each once; run in the order of `known` whatever the order given. */
function names<Name extends string>(value: string | undefined, flag: string, known: readonly Name[], fallback: readonly Name[]): readonly Name[] {
  if (value === undefined) return fallback;
  const given = value.split(',').map((name) => name.trim());
  const unknown = given.find((name) => !(known as readonly string[]).includes(name));
  if (unknown !== undefined) throw new UsageError(`--${flag} ${value}: ${unknown || 'an empty name'} is not one of ${known.join(', ')}`);
  return known.filter((name) => given.includes(name));
}
