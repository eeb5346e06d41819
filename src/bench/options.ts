import { parseArgs } from 'node:util';

export const SCENARIOS = ['heartbeats', 'burst', 'delivery-burst', 'delivery-steady', 'delivery-outage', 'stream'] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** What --only takes: a scenario, `delivery` for the three delivery scenarios, or `ceilings` for the raw ceilings alone. */
export type Only = Scenario | 'delivery' | 'ceilings';
export type TransportName = 'embedded' | 'mosquitto';

export interface BenchOptions {
  only: Only | undefined;
  transport: TransportName | undefined;
  /** Heartbeat scenario. */
  terminals: number;
  seconds: number;
  /** Terminals sending records: the bursts and the delivery scenarios. */
  burstTerminals: number;
  /** Burst scenario. */
  records: number;
  window: number;
  /** delivery-burst. */
  deliveryRecords: number;
  /** delivery-steady, delivery-outage and stream: records a second. */
  rate: number;
  steadySeconds: number;
  /** delivery-outage: the whole load, and the receiver's outage in its middle. */
  outageLoadSeconds: number;
  outageSeconds: number;
  /** stream: clients reading GET /api/stream, and how long the load runs. */
  streamClients: number;
  streamSeconds: number;
  out: string;
  quick: boolean;
}

/** Whether --only lets `scenario` (or the ceilings) run. */
export function selected(options: BenchOptions, scenario: Scenario | 'ceilings'): boolean {
  const { only } = options;
  return only === undefined || only === scenario || (only === 'delivery' && scenario.startsWith('delivery-'));
}

const HELP: [flag: string, text: string][] = [
  ['--quick', 'small counts (under a minute): 20 terminals × 3 s of heartbeats, 1,000-record bursts, 2,000 delivered (one broker), 5 s steady, 20 s with a 10 s outage, 5 s of streams'],
  ['--only SCENARIO', 'run one scenario: heartbeats, burst, delivery-burst, delivery-steady, delivery-outage, stream, delivery for the three delivery ones, or ceilings (default all)'],
  ['--transport embedded|mosquitto', 'run against one broker (default: embedded, and Mosquitto when mosquitto is on PATH)'],
  ['--terminals N', 'terminals sending heartbeats, one a second each (default 100; --quick 20)'],
  ['--seconds S', 'duration of the heartbeat scenario (default 10; --quick 3)'],
  ['--records R', 'records in each burst, stored and delivered (default 5000 stored and 10000 delivered; --quick 1000 and 2000)'],
  ['--burst-terminals T', 'terminals sending records, in the bursts and the delivery scenarios (default 10)'],
  ['--rate R', 'records a second in delivery-steady, delivery-outage and stream (default 200)'],
  ['--stream-clients N', 'clients reading the live stream in the stream scenario (default 100)'],
  ['--window W', 'QoS 1 publishes in flight per terminal during a burst (default 50)'],
  ['--out FILE', 'where the figures go as JSON (default bench-results.json)'],
  ['--help', 'this text'],
];

export class UsageError extends Error {}

export function usage(): string {
  const width = Math.max(...HELP.map(([flag]) => flag.length)) + 2;
  return [
    'Usage: facegate bench [options]',
    '',
    'Starts the bridge in a process of its own (fresh data dir, for each scenario and broker) and measures',
    '  heartbeats       heartU → heartD round trip of many terminals at QoS 0',
    '  burst            QoS 1 face records with ~27 KB images stored per second, with SQLITE_SYNC=full and normal',
    '  delivery-burst   the same records delivered per second to a webhook receiver, with images and with IMAGES=omit',
    '  delivery-steady  terminal publish → webhook arrival latency at an even pace (30 s; --quick 5 s)',
    '  delivery-outage  the same pace for 90 s while the receiver is down for the middle 60 s (--quick 20 s and 10 s):',
    '                   the bridge\'s memory, the time to catch up once it is back, lost and duplicated records',
    '  stream           the same pace (30 s; --quick 5 s) watched by 100 clients of GET /api/stream: terminal publish',
    '                   → event on a stream latency, events each client lost or got twice',
    '  ceilings         the same loads without the bridge: a bare broker relaying the burst to a bare subscriber,',
    '                   a bare client echoing the heartbeats, bare POSTs of the webhook bodies to the receiver',
    'Prints a table and writes every figure, with the machine, as JSON.',
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
        window: { type: 'string' },
        'stream-clients': { type: 'string' },
        out: { type: 'string', default: 'bench-results.json' },
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
  // Every payload of a burst is built in memory before the clock starts (~37 KB each): 20,000 are ~750 MB.
  const records = whole(values.records, 'records', quick ? 1000 : 5000, 1, 20_000);
  // 10,000 by default, not 20,000: delivered at some 600 a second, the four delivered bursts of 20,000 would
  // take the whole benchmark past five minutes.
  const deliveryRecords = whole(values.records, 'records', quick ? 2000 : 10_000, 1, 20_000);
  const burstTerminals = whole(values['burst-terminals'], 'burst-terminals', 10, 1, 1000);
  if (burstTerminals > Math.min(records, deliveryRecords)) {
    throw new UsageError(`--burst-terminals ${burstTerminals}: more terminals than records in a burst`);
  }
  return {
    only: only as Only | undefined,
    transport: values.transport,
    terminals: whole(values.terminals, 'terminals', quick ? 20 : 100, 1, 5000),
    seconds: whole(values.seconds, 'seconds', quick ? 3 : 10, 1, 600),
    burstTerminals,
    records,
    window: whole(values.window, 'window', 50, 1, 1000),
    deliveryRecords,
    rate: whole(values.rate, 'rate', 200, 1, 5000),
    steadySeconds: quick ? 5 : 30,
    outageLoadSeconds: quick ? 20 : 90,
    outageSeconds: quick ? 10 : 60,
    streamClients: whole(values['stream-clients'], 'stream-clients', 100, 1, 1000),
    streamSeconds: quick ? 5 : 30,
    out: values.out,
    quick,
  };
}

function whole(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`--${name} ${text}: expected a whole number from ${min} to ${max}`);
  return n;
}
