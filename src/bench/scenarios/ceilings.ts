import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { type Child, startChild } from '../../kit/child-process.ts';
import { stampJpeg } from '../../kit/jpeg.ts';
import { startMosquitto } from '../../kit/mosquitto.ts';
import { freePort } from '../../kit/ports.ts';
import { FIRST_NUM, PEOPLE } from '../../kit/records.ts';
import { serials, UPLINK } from '../../kit/terminal.ts';
import { until, withTimeout } from '../../kit/wait.ts';
import { moduleUrl, nodeArgs } from '../../lib/module-url.ts';
import { assertOpenFiles } from '../children/limits.ts';
import { startReceiver } from '../children/receiver.ts';
import { monotonicMs } from '../measures/clock.ts';
import { cpuSeconds, microsPerRecord, ownCpuSeconds, sumKnown } from '../measures/cpu.ts';
import { type DiskFigures, measureDisk, measureImageWrites, type WriteFigures } from '../measures/disk.ts';
import type { Span } from '../measures/span.ts';
import type { TransportName } from '../options.ts';
import { connectAll, type PumpResult, pump, warmUp } from './burst.ts';
import { type BeatFigures, beatFigures, beating } from './commands.ts';
import type { RecordKind } from './delivery-burst.ts';
import { type HeartbeatFigures, runHeartbeats } from './heartbeats.ts';

// What the machine can do at all, measured in the same run beside the
// bridge's figures: a bare broker relaying the burst's records, a bare client
// echoing the heartbeats, bare POSTs of the webhook bodies. A bridge figure
// means little alone; read against these it says what the bridge itself costs.

const AEDES = moduleUrl('../children/aedes-process', import.meta.url);
const MQTT_END = moduleUrl('../children/mqtt-process', import.meta.url);
const READY_TIMEOUT_MS = 30_000;
/** Appends back to back in the disk ceiling: a few seconds at most even on a slow disk. */
const DISK_APPENDS = 1000;
/** A record's bytes beyond its image in the WAL: base64 takes a third more, plus the event's other fields. */
const DISK_RECORD_OVERHEAD = 10 * 1024;
/** Images written in the write ceiling: a rate, not a total, is what is measured (~150 MB). */
const WRITE_IMAGES = 4000;
/** The write ceiling's writes: the segment writer's batches in a burst are 2–8 MB. */
const WRITE_BYTES = 4 * 1024 * 1024;
/** After the last PUBACK, records the sink still lacks are lost once its count has not moved for this long. */
const STALL_MS = 3000;
/** flood: beats before the relay starts, as the cluster scenario's (each terminal's first is not the relay's doing). */
const FLOOD_BEATS_BEFORE = 2;
/** Requests in flight in the POST ceiling: DELIVERY_CONCURRENCY's default. */
const POST_IN_FLIGHT = 8;
/** At most this many bodies of ~37 KB are built: a rate, not a total, is what is measured. */
const POST_MAX_REQUESTS = 4000;
/**
 * Rounds of the first POST ceiling's own bodies POSTed, untimed, before it:
 * undici in this process is optimized as it runs. Four ceilings of 4,000
 * bodies with images in a row in a fresh process cost 165–202 µs a request
 * the first and 69–119 the third; after two rounds of warm-up the first
 * cost 118–123 (README §Performance, Ceilings beside each scenario). The
 * bridge's own burst posts 20,000 webhooks, most of them warm.
 */
const POST_WARM_UP_ROUNDS = 2;
/** Whether this process has posted its warm-up: once per run. */
let posterWarm = false;

export interface RelayFigures {
  records: number;
  payloadBytes: number;
  received: number;
  lost: number;
  /** First publish → the subscriber has the last record. */
  seconds: number;
  perSecond: number;
  timedOut: boolean;
  /** Records relayed before the clock started. */
  warmedUp: number;
  /** CPU seconds from the first publish until the subscriber had them all: the broker's process (Mosquitto, or aedes' child) and the subscriber's. */
  brokerCpuSeconds: number | undefined;
  subscriberCpuSeconds: number | undefined;
  /** Broker and subscriber together per record received: what the bridge's CPU per record is read against. */
  cpuMicrosPerRecord: number | undefined;
}

export interface PostFigures {
  requests: number;
  bodyBytes: number;
  inFlight: number;
  failed: number;
  /** Distinct bodies the receiver counted. */
  received: number;
  seconds: number;
  perSecond: number;
  /** CPU seconds while posting: this process (the poster, undici), and the receiver's, a child process as it is behind the bridge. */
  posterCpuSeconds: number;
  receiverCpuSeconds: number | undefined;
  /** The poster's alone per request answered: the receiver is not counted, as it is not in the bridge's CPU per record. */
  cpuMicrosPerRequest: number | undefined;
}

/** The echo of beating terminals while the burst's records are relayed through the same broker. */
export interface FloodFigures {
  terminals: number;
  connected: number;
  relay: RelayFigures;
  /** The round trips of the beats due while the relay ran. */
  heartbeats: BeatFigures;
}

/**
 * `kind`: the records (and webhook bodies) with their ~27 KB image, or
 * without one. `before`: the scenario (its number in the run, from 1, and
 * its name) it was measured just before, and whose figures are read against
 * it; unset, measured at the start for every scenario.
 */
export type Ceiling = (
  | { ceiling: 'relay'; transport: TransportName; kind: RecordKind; figures: RelayFigures }
  | { ceiling: 'echo'; transport: TransportName; figures: HeartbeatFigures }
  | { ceiling: 'post'; kind: RecordKind; figures: PostFigures }
  | { ceiling: 'disk'; figures: DiskFigures }
  | { ceiling: 'write'; figures: WriteFigures }
  | { ceiling: 'flood'; transport: TransportName; figures: FloodFigures }
  | { ceiling: CeilingName; transport?: TransportName; kind?: RecordKind; terminals?: number; error: string }
) & { before?: { plan: number; label: string } };

/** Every ceiling, in the order they are measured: --only ceilings and the cluster scenario measure them all. */
export const CEILING_NAMES = ['relay', 'echo', 'post', 'disk', 'write'] as const;
/** flood: only the cluster scenario's heartbeats are read against it (a burst's records and beating terminals through one broker). */
export type CeilingName = (typeof CEILING_NAMES)[number] | 'flood';

export interface CeilingOptions {
  /** The ceilings to measure: those the scenarios run are read against. */
  which: readonly CeilingName[];
  transports: TransportName[];
  mosquittoPath: string | undefined;
  /** The burst's records of a kind, from encodeLoad (kit/records.ts). */
  payloads: (kind: RecordKind) => Buffer[][];
  /** The records a relay sends before its clock starts, as the bridge's burst does (burst.ts, warmUp); none: a fresh broker's first records. */
  warmUp?: (kind: RecordKind) => Buffer[][];
  kinds: RecordKind[];
  window: number;
  timeoutMs: number;
  /** The heartbeat scenario's loads: one echo for each count of terminals. */
  terminals: number[];
  seconds: number;
  intervalMs: number;
  image: Buffer;
  requests: number;
  /** The steady scenario's pace, at which the disk is measured again for `seconds`. */
  steady: { rate: number; seconds: number };
  progress: (line: string) => void;
}

type Load = { ceiling: 'relay'; kind: RecordKind } | { ceiling: 'echo' | 'flood'; terminals: number };

/**
 * On each broker a relay of each kind of record and an echo for each count of
 * terminals (and for the cluster scenario, the two at once), then the POSTs
 * of each kind; a ceiling that fails is recorded as such and the others
 * still run.
 */
export async function runCeilings(options: CeilingOptions): Promise<Ceiling[]> {
  const ceilings: Ceiling[] = [];
  const failed = (what: Omit<Extract<Ceiling, { error: string }>, 'error'>, err: unknown) => {
    options.progress(`  failed: ${(err as Error).message}`);
    ceilings.push({ ...what, error: (err as Error).message.split('\n')[0] });
  };
  for (const transport of options.transports) {
    const loads: Load[] = [
      ...(options.which.includes('relay') ? options.kinds.map((kind) => ({ ceiling: 'relay' as const, kind })) : []),
      ...(options.which.includes('echo') ? options.terminals.map((terminals) => ({ ceiling: 'echo' as const, terminals })) : []),
      ...(options.which.includes('flood') ? options.terminals.map((terminals) => ({ ceiling: 'flood' as const, terminals })) : []),
    ];
    for (const load of loads) {
      const named =
        load.ceiling === 'relay'
          ? `records ${load.kind === 'image' ? 'with' : 'without'} images`
          : `${load.terminals} terminals${load.ceiling === 'flood' ? ' beating while the records with images are relayed' : ''}`;
      options.progress(`ceiling ${load.ceiling} (${named}), ${transport === 'embedded' ? 'aedes' : 'mosquitto'} broker`);
      try {
        ceilings.push(
          await withBroker(transport, options.mosquittoPath, (url, pid) => {
            if (load.ceiling === 'relay') return relay(url, pid, transport, load.kind, options);
            assertOpenFiles(pid, load.terminals, transport === 'embedded' ? 'aedes' : 'mosquitto');
            if (load.ceiling === 'flood') return flood(url, pid, transport, load.terminals, options);
            return echo(url, transport, load.terminals, options);
          }),
        );
      } catch (err) {
        failed({ ceiling: load.ceiling, transport, ...(load.ceiling === 'relay' ? { kind: load.kind } : { terminals: load.terminals }) }, err);
      }
    }
  }
  for (const kind of options.which.includes('post') ? options.kinds : []) {
    options.progress(`ceiling post (bodies ${kind === 'image' ? 'with' : 'without'} images), webhook receiver`);
    try {
      ceilings.push({
        ceiling: 'post',
        kind,
        figures: await post(kind === 'image' ? options.image : undefined, Math.min(options.requests, POST_MAX_REQUESTS)),
      });
    } catch (err) {
      failed({ ceiling: 'post', kind }, err);
    }
  }
  const bytes = options.image.length + DISK_RECORD_OVERHEAD;
  const { rate, seconds } = options.steady;
  for (const pace of options.which.includes('disk') ? [undefined, rate] : []) {
    options.progress(`ceiling disk (a record appended and synced, one at a time${pace ? `, ${pace} a second for ${seconds} s` : ''})`);
    try {
      ceilings.push({ ceiling: 'disk', figures: await measureDisk({ appends: pace ? pace * seconds : DISK_APPENDS, bytes, pace }) });
    } catch (err) {
      failed({ ceiling: 'disk' }, err);
    }
  }
  if (options.which.includes('write')) {
    // The segments hold an image as its payload's base64 text.
    const imageBytes = options.image.toString('base64').length;
    options.progress(`ceiling write (${WRITE_IMAGES} images' bytes to a new file, then over it again, ${WRITE_BYTES / 1024 / 1024} MB a write)`);
    try {
      for (const figures of measureImageWrites({ images: WRITE_IMAGES, imageBytes, writeBytes: WRITE_BYTES })) ceilings.push({ ceiling: 'write', figures });
    } catch (err) {
      failed({ ceiling: 'write' }, err);
    }
  }
  return ceilings;
}

/** CPU seconds between two readings; undefined when either is unknown. */
const spent = (from: number | undefined, to: number | undefined) => (from === undefined || to === undefined ? undefined : to - from);

/** A fresh broker for each ceiling, as each scenario gets one: Mosquitto, or aedes alone in a child for the embedded case. */
async function withBroker<T>(transport: TransportName, mosquittoPath: string | undefined, run: (url: string, pid: number) => Promise<T>): Promise<T> {
  if (transport === 'mosquitto') {
    const broker = await startMosquitto([], mosquittoPath!);
    try {
      return await run(broker.url, broker.pid);
    } finally {
      await broker.dispose();
    }
  }
  const { child, line } = await startNodeChild(AEDES, [], /^aedes ready \d+$/, 'starting aedes');
  try {
    return await run(`mqtt://127.0.0.1:${line.slice('aedes ready '.length)}`, child.pid);
  } finally {
    await child.stop(5000);
  }
}

/** A node child and its line that matched `ready`. */
async function startNodeChild(entry: URL, args: string[], ready: RegExp, what: string): Promise<{ child: Child; line: string }> {
  const child = startChild(process.execPath, [...nodeArgs(entry), ...args]);
  try {
    return { child, line: await child.waitForLine(ready, READY_TIMEOUT_MS, what) };
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
}

async function relay(url: string, brokerPid: number, transport: TransportName, kind: RecordKind, options: CeilingOptions): Promise<Ceiling> {
  return {
    ceiling: 'relay',
    transport,
    kind,
    figures: await relayRecords(url, brokerPid, options.payloads(kind), options, { warmUp: options.warmUp?.(kind) }),
  };
}

/**
 * The echo of `terminals` beating while the burst's records with images are
 * relayed through the same broker to a subscriber doing no work: what the
 * cluster scenario's heartbeats, answered beside such a burst, are read
 * against. Each load as its own ceiling measures it, at the same time.
 */
async function flood(url: string, brokerPid: number, transport: TransportName, terminals: number, options: CeilingOptions): Promise<Ceiling> {
  const { child } = await startNodeChild(MQTT_END, ['echo', url], /^echo ready$/, 'starting the heartbeat echo');
  try {
    const beats = await beating(
      { url, terminals, intervalMs: options.intervalMs },
      { prefix: 'FL', beats: FLOOD_BEATS_BEFORE + Math.ceil(options.timeoutMs / options.intervalMs) + 1 },
    );
    let ended = false;
    try {
      await beats.untilBeat(FLOOD_BEATS_BEFORE);
      let from = 0;
      let to = 0;
      const relayed = await relayRecords(url, brokerPid, options.payloads('image'), options, {
        span: { start: () => (from = monotonicMs()), end: () => (to = monotonicMs()) },
      });
      const shares = await beats.end();
      ended = true;
      const connected = beats.load.connected;
      return {
        ceiling: 'flood',
        transport,
        figures: { terminals, connected, relay: relayed, heartbeats: beatFigures(shares, beats.beatAt(from), beats.beatAt(to), connected) },
      };
    } finally {
      if (!ended) await beats.end().catch(() => {});
    }
  } finally {
    await child.stop(5000);
  }
}

/**
 * The records through the broker at `url` to a sink of their own, after the
 * warm-up when there is one; `span` is told when the first is sent and when
 * the sink has the last.
 */
async function relayRecords(
  url: string,
  brokerPid: number,
  payloads: Buffer[][],
  options: CeilingOptions,
  { span, warmUp: warm }: { span?: Span; warmUp?: Buffer[][] } = {},
): Promise<RelayFigures> {
  const records = payloads.reduce((sum, list) => sum + list.length, 0);
  const payloadBytes = payloads.reduce((sum, list) => sum + list.reduce((s, p) => s + p.length, 0), 0);
  const { child: sink } = await startNodeChild(MQTT_END, ['sink', url], /^sink ready$/, 'starting the relay subscriber');
  const sns = serials('RL', payloads.length);
  const clients = await connectAll(url, sns).catch(async (err: unknown) => {
    await sink.stop(2000);
    throw err;
  });
  try {
    const sunk = () => {
      const reports = sink.tail().match(/^sink \{.*\}$/gm);
      return reports ? (JSON.parse(reports[reports.length - 1].slice(5)) as { received: number; lastAt: number }) : { received: 0, lastAt: 0 };
    };
    const warmedUp = await warmUp(clients, sns, warm, options.window, options.timeoutMs, async (n) => sunk().received >= n);
    // The sink counts from its start: the burst's records are those after the warm-up's.
    const count = () => {
      const { received, lastAt } = sunk();
      return { received: received - warmedUp, lastAt };
    };
    const readCpu = () => [cpuSeconds(brokerPid), cpuSeconds(sink.pid)];
    const cpuBefore = readCpu();
    const startedAt = monotonicMs();
    span?.start();
    const deadline = startedAt + options.timeoutMs;
    const sent = clients.map((): PumpResult => ({ acked: 0, failed: 0, lastAckAt: 0 }));
    let timedOut = false;
    try {
      await withTimeout(
        Promise.all(clients.map((client, i) => pump(client, UPLINK.topicOf(sns[i]), payloads[i], options.window, sent[i]))),
        options.timeoutMs,
        'relay',
      );
      // Done when the sink has them all, or its count has stood still (the rest lost), or time is up.
      await until(
        () => {
          const { received, lastAt } = count();
          const now = monotonicMs();
          return received >= records || now - Math.max(lastAt, startedAt) > STALL_MS || now > deadline;
        },
        50,
        { ms: Math.max(0, deadline - monotonicMs()) + 1000, what: 'relay' },
      );
    } catch {
      timedOut = true;
    }
    span?.end();
    const [brokerCpuSeconds, subscriberCpuSeconds] = readCpu().map((n, i) => spent(cpuBefore[i], n));
    const { received, lastAt } = count();
    const seconds = (Math.max(lastAt, startedAt) - startedAt) / 1000;
    timedOut ||= received < records && monotonicMs() > deadline;
    return {
      records,
      payloadBytes,
      received,
      lost: records - received,
      seconds,
      perSecond: seconds > 0 ? received / seconds : 0,
      timedOut,
      warmedUp,
      brokerCpuSeconds,
      subscriberCpuSeconds,
      cpuMicrosPerRecord: microsPerRecord(sumKnown([brokerCpuSeconds, subscriberCpuSeconds]), received),
    };
  } finally {
    await Promise.allSettled(clients.map((client) => withTimeout(client.endAsync(true), 5000, 'disconnecting')));
    await sink.stop(5000);
  }
}

async function echo(url: string, transport: TransportName, terminals: number, options: CeilingOptions): Promise<Ceiling> {
  const { child } = await startNodeChild(MQTT_END, ['echo', url], /^echo ready$/, 'starting the heartbeat echo');
  try {
    return { ceiling: 'echo', transport, figures: await runHeartbeats({ url, terminals, seconds: options.seconds, intervalMs: options.intervalMs }) };
  } finally {
    await child.stop(5000);
  }
}

/** The body the bridge posts for a face record (delivery/body.ts), each with its own user_id, and its own image when there is one (IMAGES=inline). */
export function webhookBodies(image: Buffer | undefined, count: number): Buffer[] {
  const at = new Date();
  return Array.from({ length: count }, (_, i) => {
    const person = PEOPLE[i % PEOPLE.length];
    const img = image && stampJpeg(image, `facegate bench post #${i}`).toString('base64');
    const view = {
      type: 'face.verified',
      id: randomUUID(),
      device_sn: 'PS0001',
      user_id: String(FIRST_NUM + i),
      name: person.name,
      img,
      verifiedCode: 0,
      bot_time: at.toISOString(),
      personType: '1',
      received_at: at.toISOString(),
    };
    return Buffer.from(JSON.stringify(view));
  });
}

async function post(image: Buffer | undefined, requests: number): Promise<PostFigures> {
  const bodies = webhookBodies(image, requests);
  if (!posterWarm) {
    // Each round to a receiver of its own, which counts distinct records: the same bodies serve every round.
    for (let round = 0; round < POST_WARM_UP_ROUNDS; round++) await postAll(bodies);
    posterWarm = true;
  }
  return postAll(bodies);
}

/** POSTs every body to a receiver of its own, as the POST ceiling does, and measures it. */
async function postAll(bodies: Buffer[]): Promise<PostFigures> {
  const requests = bodies.length;
  const bodyBytes = bodies.reduce((sum, b) => sum + b.length, 0);
  const receiver = await startReceiver(await freePort());
  const target = new URL(receiver.url);
  // Keep-alive connections, one per request in flight, as a delivery lane holds them.
  const pool = new Pool(target.origin, { connections: POST_IN_FLIGHT, pipelining: 1 });
  try {
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < bodies.length) {
        const i = next++;
        try {
          const response = await pool.request({
            path: target.pathname,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'webhook-id': `msg_${i}`, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) },
            body: bodies[i],
            headersTimeout: 10_000,
            bodyTimeout: 10_000,
          });
          await response.body.dump();
          if (response.statusCode !== 200) failed++;
        } catch {
          failed++;
        }
      }
    };
    const [posterBefore, receiverBefore] = [ownCpuSeconds(), receiver.cpuSeconds()];
    const startedAt = performance.now();
    await withTimeout(Promise.all(Array.from({ length: POST_IN_FLIGHT }, worker)), 60_000, 'posting');
    const seconds = (performance.now() - startedAt) / 1000;
    const posterCpuSeconds = ownCpuSeconds() - posterBefore;
    const receiverCpuSeconds = spent(receiverBefore, receiver.cpuSeconds());
    const received = (await receiver.stats()).distinctKeys;
    return {
      requests,
      bodyBytes,
      inFlight: POST_IN_FLIGHT,
      failed,
      received,
      seconds,
      perSecond: seconds > 0 ? (requests - failed) / seconds : 0,
      posterCpuSeconds,
      receiverCpuSeconds,
      cpuMicrosPerRequest: microsPerRecord(posterCpuSeconds, requests - failed),
    };
  } finally {
    await pool.close().catch(() => {});
    await receiver.dispose();
  }
}
