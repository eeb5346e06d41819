import { parseArgs } from 'node:util';

export type Scenario = 'heartbeats' | 'burst';
export type TransportName = 'embedded' | 'mosquitto';

export interface BenchOptions {
  only: Scenario | undefined;
  transport: TransportName | undefined;
  /** Heartbeat scenario. */
  terminals: number;
  seconds: number;
  /** Burst scenario. */
  burstTerminals: number;
  records: number;
  window: number;
  out: string;
  quick: boolean;
}

const HELP: [flag: string, text: string][] = [
  ['--quick', 'small counts: 20 terminals × 3 s of heartbeats, 1,000-record bursts (under a minute)'],
  ['--only heartbeats|burst', 'run one scenario (default both)'],
  ['--transport embedded|mosquitto', 'run against one broker (default: embedded, and Mosquitto when mosquitto is on PATH)'],
  ['--terminals N', 'terminals sending heartbeats, one a second each (default 100; --quick 20)'],
  ['--seconds S', 'duration of the heartbeat scenario (default 10; --quick 3)'],
  ['--records R', 'records in a burst (default 5000; --quick 1000)'],
  ['--burst-terminals T', 'terminals sharing a burst (default 10)'],
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
    '  heartbeats  heartU → heartD round trip of many terminals at QoS 0',
    '  burst       QoS 1 face records with ~27 KB images stored per second, with SQLITE_SYNC=full and normal',
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
        window: { type: 'string' },
        out: { type: 'string', default: 'bench-results.json' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  if (values.only !== undefined && values.only !== 'heartbeats' && values.only !== 'burst') {
    throw new UsageError(`--only ${values.only}: expected heartbeats or burst`);
  }
  if (values.transport !== undefined && values.transport !== 'embedded' && values.transport !== 'mosquitto') {
    throw new UsageError(`--transport ${values.transport}: expected embedded or mosquitto`);
  }
  const quick = values.quick;
  // Every payload of a burst is built in memory before the clock starts (~37 KB each): 20,000 are ~750 MB.
  const records = whole(values.records, 'records', quick ? 1000 : 5000, 1, 20_000);
  const burstTerminals = whole(values['burst-terminals'], 'burst-terminals', 10, 1, 1000);
  if (burstTerminals > records) throw new UsageError(`--burst-terminals ${burstTerminals}: more terminals than --records ${records}`);
  return {
    only: values.only,
    transport: values.transport,
    terminals: whole(values.terminals, 'terminals', quick ? 20 : 100, 1, 5000),
    seconds: whole(values.seconds, 'seconds', quick ? 3 : 10, 1, 600),
    burstTerminals,
    records,
    window: whole(values.window, 'window', 50, 1, 1000),
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
