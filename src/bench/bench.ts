import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { cleanUp } from '../kit/child-process.ts';
import { FIXTURES_DIR } from '../kit/fixtures.ts';
import { findMosquitto, type Mosquitto, startMosquitto } from '../kit/mosquitto.ts';
import { freePort } from '../kit/ports.ts';
import { type Postgres, startPostgres } from '../kit/postgres.ts';
import { encodeLoad, FIRST_NUM } from '../kit/records.ts';
import type { Sync } from '../store/sqlite/open.ts';
import { awaitHeartD, type BridgeProcess, startBridge } from './children/bridge.ts';
import { assertOpenFiles } from './children/limits.ts';
import { type Receiver, receiverUrl, startReceiver } from './children/receiver.ts';
import { type StreamClients, startStreamClients } from './children/stream-clients.ts';
import { cpuSeconds, measureCpu, ownCpuSeconds, treeCpuSeconds } from './measures/cpu.ts';
import { peakRssBytes } from './measures/rss.ts';
import type { Span } from './measures/span.ts';
import {
  type BenchOptions,
  MAX_BURST_RECORDS,
  named,
  parseBenchOptions,
  type Scenario,
  type StoreName,
  selected,
  type TransportName,
  UsageError,
  usage,
} from './options.ts';
import { againstCeilings, formatAgainstCeilings, formatCeilings, formatTable, machine, type ProcessFigures, type Result } from './report/report.ts';
import { runBurst } from './scenarios/burst.ts';
import { CEILING_NAMES, type Ceiling, type CeilingName, runCeilings } from './scenarios/ceilings.ts';
import { CLUSTER_SETUPS, type ClusterSetup, runCluster } from './scenarios/cluster.ts';
import { runCommandFanOut, runCommandRoundTrip } from './scenarios/commands.ts';
import { type Images, type RecordKind, recordKind, runDeliveryBurst } from './scenarios/delivery-burst.ts';
import { outageSchedule, runDeliveryOutage } from './scenarios/delivery-outage.ts';
import { runDeliverySteady } from './scenarios/delivery-steady.ts';
import { runHeartbeats } from './scenarios/heartbeats.ts';
import { runPeople } from './scenarios/people.ts';
import { buildStore, runStoreScale } from './scenarios/store-scale.ts';
import { runStream } from './scenarios/stream.ts';

// `facegate bench`: the figures a site needs before it trusts the bridge with
// its doors: how fast a heartbeat is answered under many terminals, how many
// face records a second it stores durably, with either broker and either
// durability setting, and how fast and how safely those records reach the
// backend as webhooks, the backend up or down. The bridge runs as a site runs
// it: a process of its own.

const HEARTBEAT_INTERVAL_MS = 1000;
/** Serials the benchmark learns the bridge besides a scenario's terminals: awaitHeartD's probe. */
const PROBE_TERMINALS = 1;
/** The image terminals send in a burst: ~27 KB, a typical capture. */
const BURST_IMAGE = 'face-2.jpg';
/** A burst is given this long plus this much per record (a rate far below any healthy bridge's) before it is cut short. */
const BURST_BASE_MS = 10_000;
const BURST_PER_RECORD_MS = 8;
/** A delivered burst is given this much per record: a full burst plus its webhooks, at a rate far below any healthy bridge's. */
const DELIVERY_PER_RECORD_MS = 15;
/** PostgreSQL (cluster, and the bursts with --store postgres): its synced commits are slower than SQLite's, and a busy machine slows them more: 25 records a second at least. */
const POSTGRES_PER_RECORD_MS = 40;
/** store-scale: requests of each kind, and how long the purge may run before the reads are measured anyway. */
const STORE_REQUESTS = 20;
const STORE_PURGE_LIMIT_MS = 300_000;
/** people: the photo of every person (~32 KB), and COMMAND_RATE, its default, set so that the pace the figures are read against is known. */
const PERSON_PHOTO = 'face-3.jpg';
const PEOPLE_COMMAND_RATE = 5;

interface Plan {
  scenario: Scenario;
  transport: TransportName;
  sync: Sync;
  /** burst and delivery-burst: where the bridge stores (--store); the others SQLite. */
  store?: StoreName;
  images?: Images;
  /** Heartbeats and commands: how many terminals. */
  terminals?: number;
  /** Commands: commands one by one with ?wait, or one fan-out to all. */
  part?: 'round-trip' | 'fan-out';
  /** slots: MQTT_SLOTS of the bridge. */
  slots?: number;
  /** cluster: the store, the replicas, whether one is killed. */
  setup?: ClusterSetup;
}

/**
 * The ceilings a plan's figures are read against, measured just before it:
 * the relay of a burst's records and the POSTs of their webhooks for its
 * rates and CPU per record (and the images' writes for the latter), the echo
 * of the same load for heartbeats, the disk's syncs at the same pace for
 * delivery-steady. Measured once at the start of a run they moved by up to
 * 70 % from run to run against the bridge's figures minutes later (README
 * §Performance, Ceilings beside each scenario).
 */
function ceilingsBefore(plan: Plan): { which: readonly CeilingName[]; kinds: RecordKind[]; terminals: number[] } | undefined {
  switch (plan.scenario) {
    case 'delivery-burst': {
      const kind = recordKind(plan.images!);
      // Only SQLite's store writes each image to a segment: the write ceiling is read against it alone.
      return { which: kind === 'image' && plan.store !== 'postgres' ? ['relay', 'post', 'write'] : ['relay', 'post'], kinds: [kind], terminals: [] };
    }
    case 'burst':
      return { which: ['relay'], kinds: ['image'], terminals: [] };
    case 'heartbeats':
      return { which: ['echo'], kinds: [], terminals: [plan.terminals!] };
    case 'delivery-steady':
      return { which: ['disk'], kinds: [], terminals: [] };
    default:
      return undefined;
  }
}

/** The plans whose bridge, and the relay they are read against, take --warm-up records before the clock starts (burst.ts, warmUp). */
const warmsUp = (plan: Plan) => plan.scenario === 'burst' || plan.scenario === 'delivery-burst';

/** A plan as the ceilings table names the scenario a ceiling was measured before. */
function planLabel(plan: Plan): string {
  const postgres = plan.store === 'postgres';
  const variant: Partial<Record<Scenario, string>> = {
    heartbeats: `${plan.terminals} terminals`,
    'delivery-burst': `${plan.images}${postgres ? ' postgres' : ''}`,
    burst: postgres ? 'postgres' : plan.sync,
  };
  return [plan.scenario, plan.transport, variant[plan.scenario]].filter(Boolean).join(' ');
}

export async function runBench(args: string[]): Promise<void> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchOptions(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`facegate bench: ${err.message} (try facegate bench --help)`);
    process.exitCode = 2;
    return;
  }
  if (options === undefined) {
    console.log(usage());
    return;
  }

  const mosquitto = findMosquitto();
  if (options.transport === 'mosquitto' && !mosquitto) {
    console.error('facegate bench: --transport mosquitto, but there is no mosquitto on PATH');
    process.exitCode = 2;
    return;
  }
  // --quick must stay under a minute: one broker there, the embedded one unless --transport names the other.
  const transports: TransportName[] = options.transport ? [options.transport] : mosquitto && !options.quick ? ['embedded', 'mosquitto'] : ['embedded'];
  if (!mosquitto && !options.transport) progress('mosquitto is not on PATH: measuring the embedded broker only');

  const plans: Plan[] = [];
  if (selected(options, 'heartbeats')) {
    for (const terminals of options.terminals) for (const transport of transports) plans.push({ scenario: 'heartbeats', transport, sync: 'full', terminals });
  }
  // Stored, not delivered: the two durability settings side by side. Outside the default run, which must stay under five minutes.
  if (named(options, 'burst')) {
    // SQLITE_SYNC means nothing to PostgreSQL, whose commits are synced (its defaults, README §PostgreSQL): one run there.
    for (const transport of transports)
      for (const store of options.stores)
        for (const sync of store === 'sqlite' ? (['full', 'normal'] as const) : (['full'] as const)) plans.push({ scenario: 'burst', transport, sync, store });
  }
  // What happens after the commit (outbox, HTTP) does not involve the broker, and these two take
  // minutes each: one broker is enough, the embedded one unless --transport names the other. Before
  // the bursts: the steady p99 is read against the disk's, measured before any scenario, and a burst's
  // deleted data dir (~1 GB, on a disk mounted with `discard`) slows the syncs of the next half minute
  // (README §Performance, Steady).
  for (const scenario of ['delivery-steady', 'delivery-outage'] as const) {
    if (selected(options, scenario)) plans.push({ scenario, transport: transports[0], sync: 'full', images: 'inline' });
  }
  if (selected(options, 'delivery-burst')) {
    // IMAGES=omit (the records still carry their images) only when delivery-burst is asked for by name: the default run stays under five minutes.
    const variants: Images[] = named(options, 'delivery-burst') ? ['inline', 'none', 'omit'] : ['inline', 'none'];
    for (const transport of transports)
      for (const images of variants) for (const store of options.stores) plans.push({ scenario: 'delivery-burst', transport, sync: 'full', images, store });
  }
  // The stream hub sits after the commit too: one broker. Outside the default run, which must stay under five minutes.
  if (named(options, 'stream')) plans.push({ scenario: 'stream', transport: transports[0], sync: 'full' });
  // Reads and retention over a store of a million events: the broker plays no part. Minutes of building; only by name.
  if (named(options, 'store-scale')) plans.push({ scenario: 'store-scale', transport: 'embedded', sync: 'full' });
  // Commands with replies: a minute and more with both brokers; only by name, so the default run stays under five minutes.
  if (named(options, 'commands')) {
    for (const transport of transports) {
      plans.push({ scenario: 'commands', transport, sync: 'full', terminals: options.commandTerminals, part: 'round-trip' });
      plans.push({ scenario: 'commands', transport, sync: 'full', terminals: options.fanOutTerminals, part: 'fan-out' });
    }
  }
  // People on the terminals: minutes with 1,000 people at COMMAND_RATE's pace; only by name. The sync is the bridge's
  // queue, whichever broker carries it: one broker, the embedded one unless --transport names the other.
  if (named(options, 'people')) plans.push({ scenario: 'people', transport: transports[0], sync: 'full', terminals: options.peopleTerminals });
  // README §Running several replicas: what slots change against a broker with its stock per-client limits. Mosquitto only; only by name.
  if (named(options, 'slots')) {
    if (mosquitto) for (const slots of options.slots) plans.push({ scenario: 'slots', transport: 'mosquitto', sync: 'full', slots });
    else progress('slots: mosquitto is not on PATH; not run');
  }
  // README §Performance, cluster: SQLite, PostgreSQL with one replica and with two, one killed; through Mosquitto. Minutes; only by name.
  if (named(options, 'cluster')) {
    if (mosquitto)
      for (const setup of CLUSTER_SETUPS.filter((s) => options.clusterSetups.includes(s.name)))
        plans.push({ scenario: 'cluster', transport: 'mosquitto', sync: 'full', setup });
    else progress('cluster: mosquitto is not on PATH; not run');
  }
  const schedule = outageSchedule(options.outageSeconds);
  if (selected(options, 'delivery-outage')) progress(`delivery-outage: DELIVERY_SCHEDULE=${schedule.shown}`);

  // Stopped by a signal, the children and their files go too.
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping`);
    cleanUp();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const image = await readFile(new URL(BURST_IMAGE, FIXTURES_DIR));
  const payloads = burstPayloads(image, options.burstTerminals);
  // Numbered past any burst's records, so that no receiver or store counts one as the burst's.
  const warmUp = (kind: RecordKind) => payloads(kind, options.warmUp, MAX_BURST_RECORDS);
  const startedAt = new Date();
  const ceilingInputs = (records: number) => ({
    mosquittoPath: mosquitto,
    payloads: (kind: RecordKind) => payloads(kind, records),
    window: options.window,
    timeoutMs: BURST_BASE_MS + records * BURST_PER_RECORD_MS,
    seconds: options.seconds,
    intervalMs: HEARTBEAT_INTERVAL_MS,
    image,
    requests: options.deliveryRecords,
    steady: { rate: options.rate, seconds: options.diskSeconds },
    progress,
  });
  // --only ceilings measures them all, and the cluster scenario its own loads through Mosquitto
  // alone (the echo of its beating terminals the reference for their p99), first, so a run cut
  // short still has them. Every other scenario measures its own just before it (ceilingsBefore).
  const ceilings: Ceiling[] = [];
  const cluster = named(options, 'cluster') && mosquitto !== undefined;
  if (options.only === 'ceilings' || cluster) {
    ceilings.push(
      ...(await runCeilings({
        ...ceilingInputs(cluster ? options.clusterRecords : options.deliveryRecords),
        // The cluster's replicas take their burst cold, as each is started for it: so does its relay.
        warmUp: cluster ? undefined : warmUp,
        // The cluster's heartbeats beat beside its burst: their echo is measured beside the same relay too.
        which: cluster ? [...CEILING_NAMES, 'flood'] : CEILING_NAMES,
        transports: cluster ? ['mosquitto'] : transports,
        kinds: cluster ? ['image'] : ['image', 'none'],
        terminals: cluster ? [options.clusterTerminals] : options.terminals,
      })),
    );
  }
  const results: Result[] = [];
  for (const [i, plan] of plans.entries()) {
    progress(
      `[${i + 1}/${plans.length}] ${plan.scenario}${plan.part ? ` ${plan.part}` : ''}${plan.terminals ? ` (${plan.terminals} terminals)` : ''}${plan.slots ? ` (MQTT_SLOTS=${plan.slots}, stock limits)` : ''}${plan.setup ? ` ${plan.setup.name} (${plan.setup.store}, ${plan.setup.replicas} replica${plan.setup.replicas > 1 ? 's' : ''}${plan.setup.kill ? ', one SIGKILLed mid-burst' : ''})` : ''}, ${plan.transport} broker, ${plan.store === 'postgres' ? 'PostgreSQL' : `SQLITE_SYNC=${plan.sync}`}${plan.images === 'none' ? ', records without images' : plan.images ? `, IMAGES=${plan.images}` : ''}${warmsUp(plan) && options.warmUp > 0 ? `, after ${options.warmUp.toLocaleString('en-US')} records to warm up` : ''}`,
    );
    const own = ceilingsBefore(plan);
    if (own) {
      const before = { plan: i + 1, label: planLabel(plan) };
      const measured = await runCeilings({
        ...ceilingInputs(plan.scenario === 'burst' ? options.records : options.deliveryRecords),
        warmUp,
        ...own,
        transports: [plan.transport],
      });
      ceilings.push(...measured.map((c) => ({ ...c, before })));
    }
    try {
      results.push(
        plan.setup
          ? await runClusterPlan(plan, plan.setup, { options, image, payloads, warmUp, schedule: schedule.env }, mosquitto!)
          : await runPlan(plan, { options, image, payloads, warmUp, schedule: schedule.env }, mosquitto, i + 1),
      );
    } catch (err) {
      progress(`  failed: ${(err as Error).message}`);
      results.push({ ...plan, error: (err as Error).message.split('\n')[0] });
    }
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  const ratios = againstCeilings(results, ceilings);
  const tables = [
    ...(results.length ? [formatTable(results, { outageSchedule: plans.some((p) => p.scenario === 'delivery-outage') ? schedule.shown : undefined })] : []),
    ...(ceilings.length ? [formatCeilings(ceilings)] : []),
    ...(ratios.length ? [formatAgainstCeilings(ratios)] : []),
  ];
  console.log(tables.join('\n\n'));
  const out = resolve(options.out);
  const report = {
    startedAt: startedAt.toISOString(),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    machine: machine(),
    options: { ...options, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, burstImage: BURST_IMAGE, burstImageBytes: image.length, outageSchedule: schedule.env },
    results,
    ceilings,
    againstCeilings: ratios,
  };
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  progress(`figures written to ${out}`);
  // A connection abandoned after a timeout may still hold the event loop open: the run is over either way.
  process.exit(results.some((r) => 'error' in r) || ceilings.some((c) => 'error' in c) ? 1 : 0);
}

/**
 * The records of a burst, built on first use and kept for the next plan that
 * wants as many of that kind: the relays and the bursts of both brokers send
 * the same ones, and two sets of 20,000 with images would hold 1.5 GB. Every
 * payload is built before the clock starts, so the load generator's work per
 * message is a write.
 */
function burstPayloads(image: Buffer, terminals: number) {
  // A burst's set and a warm-up's (numbered from `first`) are kept apart.
  const kept = new Map<string, { count: number; payloads: Buffer[][] }>();
  return (kind: RecordKind, count: number, first = 0): Buffer[][] => {
    const key = `${kind} ${first}`;
    let set = kept.get(key);
    if (set?.count !== count) {
      // The old set may go before the new one is built.
      kept.delete(key);
      // The run is in the label stamped into each image, so no two runs send the same bytes either.
      const label = `facegate bench ${randomBytes(4).toString('hex')}`;
      set = { count, payloads: encodeLoad(count, terminals, new Date(), kind === 'image' ? { jpeg: image, label } : undefined, first) };
      kept.set(key, set);
    }
    return set.payloads;
  };
}

interface Inputs {
  options: BenchOptions;
  /** The ~27 KB capture every record carries, stamped to be unique. */
  image: Buffer;
  payloads: (kind: RecordKind, count: number) => Buffer[][];
  /** The records a burst sends before its clock starts (--warm-up). */
  warmUp: (kind: RecordKind) => Buffer[][];
  /** DELIVERY_SCHEDULE of delivery-outage. */
  schedule: string;
}

/**
 * One scenario against a fresh bridge (and a fresh Mosquitto, and for the
 * delivery scenarios a fresh webhook receiver), all stopped and their files
 * removed afterwards.
 */
async function runPlan(plan: Plan, inputs: Inputs, mosquittoPath: string | undefined, n: number): Promise<Result> {
  const { options } = inputs;
  let broker: Mosquitto | undefined;
  let bridge: BridgeProcess | undefined;
  let receiver: Receiver | undefined;
  let streams: StreamClients | undefined;
  let postgres: Postgres | undefined;
  // The receiver starts beside the broker and the bridge (each takes a second or two): its port is chosen first.
  const hookPort = plan.images ? await freePort() : undefined;
  const receiving = hookPort === undefined ? undefined : startReceiver(hookPort);
  // Awaited below; until then a failure must not count as unhandled.
  receiving?.catch(() => {});
  try {
    if (plan.transport === 'mosquitto') broker = await startMosquitto([], mosquittoPath!, { stockLimits: plan.scenario === 'slots' });
    // A server of its own with its defaults (fsync, synchronous_commit on), as the cluster scenario's: an acknowledged record as durable as with SQLITE_SYNC=full.
    if (plan.store === 'postgres') postgres = await startPostgres();
    const databaseUrl = await postgres?.database('facegate');
    const env: Record<string, string> =
      hookPort === undefined ? {} : { WEBHOOK_URL: receiverUrl(hookPort), IMAGES: plan.images === 'omit' ? 'omit' : 'inline' };
    if (plan.scenario === 'delivery-outage') env.DELIVERY_SCHEDULE = inputs.schedule;
    // The start's check of the broker's queue (README §Broker settings you must set) is over before any load only by chance: the runs measure the bridge without it.
    env.BROKER_PROBE = 'false';
    if (plan.terminals) {
      // Every terminal is a new serial to the fresh bridge, up to 2,000 a second while they connect:
      // the defaults (10,000 known, 100 new a second) would refuse some of them (README §Topics).
      // The people scenario's record terminals are new serials too.
      const known = plan.terminals + (plan.scenario === 'people' ? options.peopleRecordTerminals : 0) + PROBE_TERMINALS;
      env.MAX_TERMINALS = String(known);
      env.DISCOVERY_RATE = `${plan.terminals}/s`;
    }
    if (plan.scenario === 'people') env.COMMAND_RATE = `${PEOPLE_COMMAND_RATE}/s`;
    if (plan.slots !== undefined) env.MQTT_SLOTS = String(plan.slots);
    let built: ReturnType<typeof buildStore> | undefined;
    const storeNow = Date.now();
    const prepare =
      plan.scenario === 'store-scale'
        ? (dataDir: string) => {
            progress(
              `  writing ${options.scaleEvents.toLocaleString('en-US')} events past retention and ${options.scaleRecent.toLocaleString('en-US')} recent ones`,
            );
            built = buildStore(dataDir, { waiting: options.scaleEvents, recent: options.scaleRecent }, storeNow);
            progress(`  written in ${built.seconds.toFixed(0)} s; the bridge starts on it`);
          }
        : undefined;
    bridge = await startBridge({
      sync: plan.sync,
      mqttUrl: broker?.url,
      databaseUrl,
      clientId: `facegate-bench-${n}`,
      env,
      prepare,
      cpuProfDir: options.cpuProf,
    });
    receiver = await receiving;
    if (plan.terminals) {
      // Each terminal is a socket at the broker: the embedded one is the bridge.
      assertOpenFiles(broker?.pid ?? bridge.pid, plan.terminals, broker ? 'mosquitto' : 'the bridge');
    }
    await awaitHeartD(bridge.brokerUrl);
    // Started and answering, before any load: what a bridge holds doing nothing.
    const idleRss = bridge.rssBytes();
    if (plan.scenario === 'stream') {
      streams = await startStreamClients({
        // Only the records' events: the terminals' device.online would make the count depend on when they connect.
        url: `${bridge.httpUrl}/api/stream?type=face.verified`,
        token: bridge.adminToken,
        clients: options.streamClients,
        records: Math.round(options.rate * options.streamSeconds),
        firstNum: FIRST_NUM,
      });
    }
    const { span, percent, seconds } = measureCpu({
      bridge: bridge.cpuSeconds,
      bridgeMain: bridge.mainCpuSeconds,
      bridgeWriter: bridge.writerCpuSeconds,
      mosquitto: () => broker && cpuSeconds(broker.pid),
      // The server and every process under it: a backend for each connection, the WAL writer, the checkpointer.
      postgres: () => postgres && treeCpuSeconds(postgres.pid),
      receiver: () => receiver?.cpuSeconds(),
      streams: () => streams?.cpuSeconds(),
      bench: ownCpuSeconds,
    });
    const measured = await measure(plan, inputs, bridge, databaseUrl, receiver, streams, span, built && { built, now: storeNow });
    // Figures from a bridge that died on the way measure nothing.
    bridge.assertRunning();
    const used: ProcessFigures = {
      bridgeIdleRssBytes: idleRss,
      bridgePeakRssBytes: bridge.peakRssBytes(),
      bridgeCpuPercent: percent('bridge'),
      bridgeCpuSeconds: seconds('bridge'),
      bridgeMainCpuSeconds: seconds('bridgeMain'),
      bridgeWriterCpuSeconds: seconds('bridgeWriter'),
      mosquittoPeakRssBytes: broker && peakRssBytes(broker.pid),
      mosquittoCpuPercent: percent('mosquitto'),
      mosquittoCpuSeconds: seconds('mosquitto'),
      postgresCpuSeconds: seconds('postgres'),
      receiverCpuPercent: percent('receiver'),
      receiverCpuSeconds: seconds('receiver'),
      streamClientsCpuPercent: percent('streams'),
      benchCpuPercent: percent('bench'),
    };
    return { ...plan, ...measured, process: used };
  } finally {
    await streams?.dispose();
    await bridge?.dispose();
    await (receiver ?? (await receiving?.catch(() => undefined)))?.dispose();
    await postgres?.dispose();
    await broker?.dispose();
  }
}

/** cluster: one setup, its brokers, stores and replicas its own (scenarios/cluster.ts). */
async function runClusterPlan(plan: Plan, setup: ClusterSetup, inputs: Inputs, mosquittoPath: string): Promise<Result> {
  const { options } = inputs;
  const figures = await runCluster({
    setup,
    mosquittoPath,
    payloads: inputs.payloads('image', options.clusterRecords),
    window: options.window,
    terminals: options.clusterTerminals,
    intervalMs: HEARTBEAT_INTERVAL_MS,
    timeoutMs: BURST_BASE_MS + options.clusterRecords * POSTGRES_PER_RECORD_MS,
    progress,
  });
  const percent = (cpu: number | undefined) => (cpu === undefined || figures.seconds <= 0 ? undefined : (cpu / figures.seconds) * 100);
  const rss = figures.peakRssBytes.filter((n): n is number => n !== undefined);
  const used: ProcessFigures = {
    bridgeIdleRssBytes: undefined,
    bridgePeakRssBytes: rss.length ? Math.max(...rss) : undefined,
    bridgeCpuPercent: percent(figures.bridgeCpuSeconds),
    bridgeCpuSeconds: figures.bridgeCpuSeconds,
    bridgeMainCpuSeconds: undefined,
    bridgeWriterCpuSeconds: undefined,
    mosquittoPeakRssBytes: undefined,
    mosquittoCpuPercent: percent(figures.mosquittoCpuSeconds),
    mosquittoCpuSeconds: figures.mosquittoCpuSeconds,
    postgresCpuSeconds: figures.postgresCpuSeconds,
    receiverCpuPercent: undefined,
    receiverCpuSeconds: undefined,
    streamClientsCpuPercent: undefined,
    benchCpuPercent: undefined,
  };
  return { ...plan, scenario: 'cluster', figures, process: used };
}

async function measure(
  plan: Plan,
  inputs: Inputs,
  bridge: BridgeProcess,
  databaseUrl: string | undefined,
  receiver: Receiver | undefined,
  streams: StreamClients | undefined,
  span: Span,
  store?: { built: ReturnType<typeof buildStore>; now: number },
) {
  const { options, image } = inputs;
  const url = bridge.brokerUrl;
  const delivery = { url, httpUrl: bridge.httpUrl, terminals: options.burstTerminals, rate: options.rate, image, span };
  switch (plan.scenario) {
    case 'cluster':
      throw new Error('the cluster scenario runs its own setups (runClusterPlan)');
    case 'heartbeats':
      return {
        scenario: plan.scenario,
        figures: await runHeartbeats({ url, terminals: plan.terminals!, seconds: options.seconds, intervalMs: HEARTBEAT_INTERVAL_MS, span }),
      };
    case 'burst': {
      const payloads = inputs.payloads('image', options.records);
      const timeoutMs = BURST_BASE_MS + options.records * (databaseUrl ? POSTGRES_PER_RECORD_MS : BURST_PER_RECORD_MS);
      return {
        scenario: plan.scenario,
        figures: await runBurst({
          url,
          store: storeOf(bridge, databaseUrl),
          payloads,
          window: options.window,
          timeoutMs,
          warmUp: inputs.warmUp('image'),
          span,
        }),
      };
    }
    case 'slots': {
      const payloads = inputs.payloads('image', options.slotsRecords);
      const timeoutMs = BURST_BASE_MS + options.slotsRecords * BURST_PER_RECORD_MS;
      return {
        scenario: plan.scenario,
        figures: await runBurst({ url, store: storeOf(bridge, databaseUrl), payloads, window: options.window, timeoutMs, span }),
      };
    }
    case 'delivery-burst': {
      const payloads = inputs.payloads(recordKind(plan.images!), options.deliveryRecords);
      const timeoutMs = BURST_BASE_MS + options.deliveryRecords * (databaseUrl ? POSTGRES_PER_RECORD_MS : DELIVERY_PER_RECORD_MS);
      return {
        scenario: plan.scenario,
        figures: await runDeliveryBurst({
          url,
          httpUrl: bridge.httpUrl,
          bridgeRss: bridge.rssBytes,
          receiver: receiver!,
          payloads,
          window: options.window,
          images: plan.images!,
          timeoutMs,
          warmUp: inputs.warmUp(recordKind(plan.images!)),
          span,
        }),
      };
    }
    case 'delivery-steady':
      return { scenario: plan.scenario, figures: await runDeliverySteady({ ...delivery, receiver: receiver!, seconds: options.steadySeconds }) };
    case 'delivery-outage':
      return {
        scenario: plan.scenario,
        figures: await runDeliveryOutage({
          ...delivery,
          receiver: receiver!,
          bridgeRss: bridge.rssBytes,
          seconds: options.outageLoadSeconds,
          outageSeconds: options.outageSeconds,
          schedule: inputs.schedule,
          settleMs: options.quick ? 500 : 3000,
        }),
      };
    case 'stream':
      return { scenario: plan.scenario, figures: await runStream({ ...delivery, streams: streams!, seconds: options.streamSeconds }) };
    case 'commands': {
      const common = { url, httpUrl: bridge.httpUrl, adminToken: bridge.adminToken, terminals: plan.terminals!, intervalMs: HEARTBEAT_INTERVAL_MS, span };
      return {
        scenario: plan.scenario,
        figures:
          plan.part === 'round-trip'
            ? await runCommandRoundTrip({
                ...common,
                commands: options.commands,
                rate: options.commandRate,
                inFlight: options.commandsInFlight,
                waitMs: options.commandWaitMs,
              })
            : await runCommandFanOut({ ...common, beforeBeats: options.fanOutBeforeBeats }),
      };
    }
    case 'people':
      return {
        scenario: plan.scenario,
        figures: await runPeople({
          url,
          httpUrl: bridge.httpUrl,
          adminToken: bridge.adminToken,
          terminals: plan.terminals!,
          intervalMs: HEARTBEAT_INTERVAL_MS,
          people: options.people,
          inFlight: options.peopleInFlight,
          photo: await readFile(new URL(PERSON_PHOTO, FIXTURES_DIR)),
          recordTerminals: options.peopleRecordTerminals,
          recordRate: options.peopleRecordRate,
          image,
          beforeBeats: options.peopleBeforeBeats,
          limitMs: options.peopleLimitMs,
          commandRate: PEOPLE_COMMAND_RATE,
          span,
          progress,
        }),
      };
    case 'store-scale':
      return {
        scenario: plan.scenario,
        figures: await runStoreScale({
          brokerUrl: url,
          httpUrl: bridge.httpUrl,
          adminToken: bridge.adminToken,
          readyAt: bridge.readyAt,
          logLine: bridge.logLine,
          options: {
            waiting: options.scaleEvents,
            recent: options.scaleRecent,
            repetitions: STORE_REQUESTS,
            purgeLimitMs: options.quick ? 60_000 : STORE_PURGE_LIMIT_MS,
          },
          built: store!.built,
          now: store!.now,
          span,
        }),
      };
  }
}

/** Where the bridge's records are counted: its PostgreSQL database, or the SQLite file in its data dir. */
const storeOf = (bridge: BridgeProcess, databaseUrl: string | undefined) => (databaseUrl ? { databaseUrl } : { dbPath: bridge.dbPath });

const benchStartedAt = performance.now();

/** Progress goes to stderr: stdout carries the table alone. Each line says how far into the run it is, so a slow step shows. */
function progress(line: string): void {
  const elapsed = ((performance.now() - benchStartedAt) / 1000).toFixed(1).padStart(5);
  process.stderr.write(`facegate bench: ${elapsed} s  ${line}\n`);
}
