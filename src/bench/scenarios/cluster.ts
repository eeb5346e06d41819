import { fairShare } from '../../cluster/pg-leases.ts';
import { type Mosquitto, startMosquitto } from '../../kit/mosquitto.ts';
import { freePort } from '../../kit/ports.ts';
import { type Postgres, startPostgres } from '../../kit/postgres.ts';
import { until } from '../../kit/wait.ts';
import { awaitHeartD, type BridgeProcess, startBridge } from '../children/bridge.ts';
import { type Receiver, receiverUrl, startReceiver } from '../children/receiver.ts';
import { bridgeCounters } from '../measures/bridge-metrics.ts';
import { monotonicMs } from '../measures/clock.ts';
import { cpuSeconds, microsPerRecord, sumKnown, treeCpuSeconds } from '../measures/cpu.ts';
import { type StoredCounter, storedCounter } from '../measures/stored.ts';
import type { ClusterSetupName, StoreName } from '../options.ts';
import { type BeatFigures, beatFigures, beating } from './commands.ts';
import { type DeliveryBurstFigures, runDeliveryBurst } from './delivery-burst.ts';

// README §Performance, cluster: what a record costs when PostgreSQL stores it,
// with one replica and with two (README §Running several replicas), beside
// one bridge on SQLite, all in one run through one kind of Mosquitto. On two
// cores a second replica cannot be faster; what is measured is the cost: CPU
// seconds per 1,000 records of the bridges and of PostgreSQL, and what a
// burst does to the heartbeats beside it. Then a replica is SIGKILLed
// mid-burst: how long until the other holds its slots, and whether anything
// was lost.

/** One setup of the scenario: its store, its replicas, whether one is killed mid-burst. */
export interface ClusterSetup {
  name: ClusterSetupName;
  store: StoreName;
  replicas: number;
  kill: boolean;
}

export const CLUSTER_SETUPS: readonly ClusterSetup[] = [
  { name: 'sqlite', store: 'sqlite', replicas: 1, kill: false },
  { name: 'postgres', store: 'postgres', replicas: 1, kill: false },
  { name: 'postgres-2', store: 'postgres', replicas: 2, kill: false },
  { name: 'takeover', store: 'postgres', replicas: 2, kill: true },
];

/** README §Running several replicas: 4 slots by default with DATABASE_URL; the SQLite bridge reads through as many, so the broker's side is the same. */
export const CLUSTER_SLOTS = 4;
/** Beats before the burst: each terminal's first marks it online (a presence row and an event each), which is not the burst's cost. */
const BEATS_BEFORE = 2;
/** How often the store's count of records is read during the burst. */
const STORED_POLL_MS = 100;
/** The replicas settle their fair shares one slot a second (README §Running several replicas: Fair share). */
const SETTLE_LIMIT_MS = 30_000;
/** A takeover takes a lease look (every second) and an MQTT connect; past this it counts as not done. */
const TAKEOVER_LIMIT_MS = 30_000;
/** The kill comes once the receiver has this share of the records. */
const KILL_AT = 0.25;

export interface ClusterOptions {
  setup: ClusterSetup;
  mosquittoPath: string;
  /** From encodeLoad (kit/records.ts) with the ~27 KB image: one list per terminal. */
  payloads: Buffer[][];
  window: number;
  /** Terminals beating once an interval during the burst. */
  terminals: number;
  intervalMs: number;
  /** The burst, stored and delivered, ends by then; what has not arrived counts as lost. */
  timeoutMs: number;
  progress: (line: string) => void;
}

export interface TakeoverFigures {
  /** The killed replica's slots. */
  slots: number[];
  /** Records the receiver had when the kill came. */
  deliveredAtKill: number;
  /** SIGKILL → the survivor's /readyz lists every slot (it holds their leases), read every 20 ms; undefined: not within the limit. */
  leaseSeconds: number | undefined;
  /** SIGKILL → the survivor has logged its MQTT connection of each of those slots: it reads their sessions again. */
  connectedSeconds: number | undefined;
}

export interface ClusterFigures {
  setup: ClusterSetup['name'];
  store: StoreName;
  replicas: number;
  slots: number;
  /** The burst: terminals' PUBACKs come from Mosquitto, so its acked/s is the broker's; delivered/s and losses are end to end. */
  delivery: DeliveryBurstFigures;
  /** Records in the store at the end, and first publish → the last of them stored (each replica acknowledges after its commit). */
  stored: number;
  storedSeconds: number;
  storedPerSecond: number;
  /** The terminals beating during the burst: heartU → heartD of the beats the burst overlapped. */
  heartbeats: BeatFigures & { terminals: number; connected: number };
  /** First publish → every record delivered (or the burst's end): the span the CPU figures are over. */
  seconds: number;
  /** CPU seconds over the span: every replica together (a killed one until its kill), PostgreSQL's server and all its processes, Mosquitto. */
  bridgeCpuSeconds: number | undefined;
  postgresCpuSeconds: number | undefined;
  mosquittoCpuSeconds: number | undefined;
  /** Per 1,000 records delivered. */
  bridgeCpuPer1000: number | undefined;
  postgresCpuPer1000: number | undefined;
  /** Batches the replicas committed over the burst (facegate_commit_seconds; a killed replica's are not counted) and their mean time: every PUBACK waits for one. */
  commits: number | undefined;
  commitMeanMs: number | undefined;
  /** Peak resident memory (VmHWM) of each replica, in the order started. */
  peakRssBytes: (number | undefined)[];
  takeover?: TakeoverFigures;
}

/** CPU seconds per 1,000 records (milliseconds per record); undefined when either is unknown or nothing was delivered. */
const perThousand = (cpuSeconds: number | undefined, records: number) => {
  const micros = microsPerRecord(cpuSeconds, records);
  return micros === undefined ? undefined : micros / 1000;
};

/** The slots a replica's /readyz says it holds; undefined when it does not answer 200. */
async function readySlots(httpUrl: string): Promise<number[] | undefined> {
  try {
    const response = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { slots?: number[] };
    return response.ok ? (body.slots ?? []) : undefined;
  } catch {
    return undefined;
  }
}

/** The survivor's log line of its MQTT connection as slot n (transport/mqtt-session.ts, client id `<group>-slot-<n>`). */
const slotConnected = (n: number) => new RegExp(`"clientId":"[^"]*-slot-${n}"[^\\n]*"connected to MQTT broker"`);

/** A process's last known reading: a replica killed mid-burst keeps what it had used until then. */
function lastKnown(read: () => number | undefined) {
  let last: number | undefined;
  return () => {
    const now = read();
    if (now !== undefined) last = now;
    return last;
  };
}

/**
 * One setup: a fresh Mosquitto (README §Broker settings you must set: no
 * queue limit, 1,000 in flight, so nothing is dropped), a fresh store (a
 * PostgreSQL server of its own, its defaults: fsync and synchronous_commit
 * on), the replicas, a webhook receiver; terminals beating; the burst; all
 * stopped and removed afterwards.
 */
export async function runCluster(options: ClusterOptions): Promise<ClusterFigures> {
  const { setup, payloads, progress } = options;
  const records = payloads.reduce((sum, list) => sum + list.length, 0);
  let broker: Mosquitto | undefined;
  let postgres: Postgres | undefined;
  let receiver: Receiver | undefined;
  let counter: StoredCounter | undefined;
  const bridges: BridgeProcess[] = [];
  try {
    broker = await startMosquitto([], options.mosquittoPath);
    let databaseUrl: string | undefined;
    if (setup.store === 'postgres') {
      postgres = await startPostgres();
      databaseUrl = await postgres.database('facegate');
    }
    const hookPort = await freePort();
    receiver = await startReceiver(hookPort);
    // Every terminal is a new serial to the fresh store, the beating ones up to 2,000 a second: the defaults would refuse some (README §Topics).
    // And the one probe terminal (PROBE_SN) that awaitHeartD connects.
    const known = options.terminals + payloads.length + 1;
    const env = {
      WEBHOOK_URL: receiverUrl(hookPort),
      IMAGES: 'inline',
      MQTT_SLOTS: String(CLUSTER_SLOTS),
      MAX_TERMINALS: String(known),
      DISCOVERY_RATE: `${known}/s`,
      // As the other scenarios: the start's check of the broker's queue is not what is measured.
      BROKER_PROBE: 'false',
    };
    for (let i = 0; i < setup.replicas; i++) {
      bridges.push(await startBridge({ sync: 'full', mqttUrl: broker.url, clientId: `facegate-bench-replica-${i}`, databaseUrl, env }));
    }
    // The replicas hand slots over one a second until each holds its share.
    // README §Running several replicas, Fair share: the first replicas (by their server process) one more; here the largest shares first.
    const shares = Array.from({ length: setup.replicas }, (_, i) => fairShare(CLUSTER_SLOTS, setup.replicas, i));
    let settled: (number[] | undefined)[] = [];
    await until(
      async () => {
        const held = await Promise.all(bridges.map((b) => readySlots(b.httpUrl)));
        settled = held;
        const counts = held.map((h) => h?.length ?? -1).sort((a, b) => b - a);
        return new Set(held.flatMap((h) => h ?? [])).size === CLUSTER_SLOTS && counts.every((n, i) => n === shares[i]);
      },
      100,
      { ms: SETTLE_LIMIT_MS, what: `${setup.replicas} replicas holding their shares of ${CLUSTER_SLOTS} slots` },
    );
    await awaitHeartD(broker.url);
    counter = await storedCounter(databaseUrl ? { databaseUrl } : { dbPath: bridges[0].dbPath });

    progress(`  ${options.terminals.toLocaleString('en-US')} terminals beating`);
    const beats = await beating(
      { url: broker.url, terminals: options.terminals, intervalMs: options.intervalMs },
      { prefix: 'CL', beats: BEATS_BEFORE + Math.ceil(options.timeoutMs / options.intervalMs) + 1 },
    );
    let ended: Awaited<ReturnType<typeof beats.end>> | undefined;
    try {
      await beats.untilBeat(BEATS_BEFORE);

      const bridgeCpu = bridges.map((b) => lastKnown(b.cpuSeconds));
      const bridgeRss = bridges.map((b) => lastKnown(b.peakRssBytes));
      const readCpu = () => ({
        at: monotonicMs(),
        bridges: sumKnown(bridgeCpu.map((read) => read())),
        postgres: postgres && treeCpuSeconds(postgres.pid),
        mosquitto: broker && cpuSeconds(broker.pid),
      });
      let from: ReturnType<typeof readCpu> | undefined;
      let to: ReturnType<typeof readCpu> | undefined;

      let stored = 0;
      let storedAt: number | undefined;
      let polling = false;
      const poll = async () => {
        if (polling) return;
        polling = true;
        try {
          const n = await counter!.count();
          if (n > stored) {
            stored = n;
            storedAt = monotonicMs();
          }
        } catch {
          // a read that fails (the database busy restarting) is tried again at the next poll
        } finally {
          polling = false;
        }
      };
      const poller = setInterval(() => void poll(), STORED_POLL_MS);

      // The replicas that run to the end: a killed one's counters go with it.
      const lasting = bridges.slice(setup.kill ? 1 : 0);
      const commitsBefore = await commitTotals(lasting);
      const survivor = bridges[bridges.length - 1];
      progress(`  ${records.toLocaleString('en-US')} records from ${payloads.length} terminals`);
      const bursting = runDeliveryBurst({
        url: broker.url,
        httpUrl: survivor.httpUrl,
        receiver,
        payloads,
        window: options.window,
        images: 'inline',
        timeoutMs: options.timeoutMs,
        span: { start: () => (from = readCpu()), end: () => (to = readCpu()) },
      });
      const takingOver = setup.kill
        ? takeover({ bridge: bridges[0], slots: settled[0] ?? [], cpu: bridgeCpu[0], rss: bridgeRss[0] }, survivor, receiver, records, progress)
        : undefined;
      // Awaited below; until then a failure must not count as unhandled.
      takingOver?.catch(() => {});
      let delivery: DeliveryBurstFigures;
      try {
        delivery = await bursting;
      } finally {
        clearInterval(poller);
      }
      const takeoverFigures = await takingOver;
      const commitsAfter = await commitTotals(lasting);
      const commits = commitsBefore && commitsAfter && commitsAfter.commits - commitsBefore.commits;
      const commitSeconds = commitsBefore && commitsAfter && commitsAfter.seconds - commitsBefore.seconds;
      // The last records may have been stored between two polls.
      polling = false;
      await poll();
      ended = await beats.end();
      if (!from || !to) throw new Error('the burst did not run');
      const seconds = (to.at - from.at) / 1000;
      const spent = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);
      const bridgeCpuSeconds = spent(from.bridges, to.bridges);
      const postgresCpuSeconds = spent(from.postgres, to.postgres);
      const storedSeconds = storedAt === undefined ? 0 : (Math.min(storedAt, to.at) - from.at) / 1000;
      for (const bridge of lasting) bridge.assertRunning();
      return {
        setup: setup.name,
        store: setup.store,
        replicas: setup.replicas,
        slots: CLUSTER_SLOTS,
        delivery,
        stored,
        storedSeconds,
        storedPerSecond: storedSeconds > 0 ? stored / storedSeconds : 0,
        heartbeats: {
          terminals: options.terminals,
          connected: beats.load.connected,
          ...beatFigures(ended, beats.beatAt(from.at), beats.beatAt(to.at), beats.load.connected),
        },
        seconds,
        bridgeCpuSeconds,
        postgresCpuSeconds,
        mosquittoCpuSeconds: spent(from.mosquitto, to.mosquitto),
        bridgeCpuPer1000: perThousand(bridgeCpuSeconds, delivery.delivered),
        postgresCpuPer1000: perThousand(postgresCpuSeconds, delivery.delivered),
        commits,
        commitMeanMs: commits && commitSeconds !== undefined ? (commitSeconds / commits) * 1000 : undefined,
        peakRssBytes: bridgeRss.map((read) => read()),
        ...(takeoverFigures ? { takeover: takeoverFigures } : {}),
      };
    } finally {
      if (!ended) await beats.end().catch(() => {});
      await beats.load.dispose();
    }
  } finally {
    await counter?.close().catch(() => {});
    await Promise.allSettled(bridges.map((b) => b.dispose()));
    await receiver?.dispose();
    await postgres?.dispose();
    await broker?.dispose();
  }
}

/** Batches committed and their seconds, all these replicas together; undefined when one does not say. */
async function commitTotals(bridges: BridgeProcess[]): Promise<{ commits: number; seconds: number } | undefined> {
  const read = await Promise.all(bridges.map((b) => bridgeCounters(b.httpUrl)));
  const commits = sumKnown(read.map((c) => c?.commits));
  const seconds = sumKnown(read.map((c) => c?.commitSeconds));
  return commits === undefined || seconds === undefined ? undefined : { commits, seconds };
}

/** Once the receiver has KILL_AT of the records: SIGKILL to `victim`, then how long until `survivor` holds and reads its slots. */
async function takeover(
  victim: { bridge: BridgeProcess; slots: number[]; cpu: () => number | undefined; rss: () => number | undefined },
  survivor: BridgeProcess,
  receiver: Receiver,
  records: number,
  progress: (line: string) => void,
): Promise<TakeoverFigures> {
  await until(async () => (await receiver.stats()).distinctKeys >= records * KILL_AT, 20, {
    ms: TAKEOVER_LIMIT_MS * 4,
    what: `${Math.round(KILL_AT * 100)} % of the records delivered`,
  });
  // What it holds now; what it held once the shares settled when its /readyz does not answer in time (a busy machine).
  const slots = (await readySlots(victim.bridge.httpUrl)) ?? victim.slots;
  const deliveredAtKill = (await receiver.stats()).distinctKeys;
  // Its last readings: /proc has nothing of it once it is gone.
  victim.cpu();
  victim.rss();
  const killedAt = monotonicMs();
  await victim.bridge.kill();
  progress(`  replica 0 SIGKILLed with ${deliveredAtKill.toLocaleString('en-US')} records delivered; its slots ${slots.join(', ')}`);
  const all = await until(async () => ((await readySlots(survivor.httpUrl))?.length ?? 0) >= CLUSTER_SLOTS, 20, {
    ms: TAKEOVER_LIMIT_MS,
    what: 'the survivor holding every slot',
  }).catch(() => false);
  const leaseSeconds = all ? (monotonicMs() - killedAt) / 1000 : undefined;
  const connected = await Promise.all(slots.map((n) => survivor.logLine(slotConnected(n), TAKEOVER_LIMIT_MS, killedAt)));
  const connectedSeconds = connected.every((c) => c !== undefined) ? (Math.max(killedAt, ...connected.map((c) => c!.at)) - killedAt) / 1000 : undefined;
  return { slots, deliveredAtKill, leaseSeconds, connectedSeconds };
}
