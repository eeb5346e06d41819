import { createServer, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { parser as mqttParser } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

// README §What survives what: a delivery survives broker restarts, nothing lost. Mosquitto
// (persistence on, as the README asks) is restarted under a stream of
// records, then kept down for 15 s; every record the terminals sent, those
// they held back while it was down included, must reach the backend, and the
// bridge must come back by itself with backoff and jitter.

const CLIENT_ID = 'facegate-faults';
const OUTAGE_MS = 15_000;

let mosquitto: Mosquitto | undefined;
let receiver: Receiver | undefined;
let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];
let stream: Stream | undefined;
let standIn: StandIn | undefined;

afterEach(async () => {
  try {
    stream?.stop();
    await standIn?.close();
    await Promise.all(terminals.map((t) => t.client.endAsync(true)));
    await bridge?.stop();
    await receiver?.close();
  } finally {
    // Whatever failed above, no Mosquitto outlives its test.
    await mosquitto?.dispose();
    mosquitto = receiver = bridge = stream = standIn = undefined;
    terminals = [];
  }
});

async function setup(loaders: number) {
  mosquitto = await startMosquitto();
  receiver = await startReceiver();
  bridge = await startBridge({ MQTT_URL: mosquitto.url, MQTT_CLIENT_ID: CLIENT_ID, WEBHOOK_URL: receiver.url });
  const terminal = async (sn: string) => {
    // A persistent session, as a terminal keeps one: its downLink subscription outlives the broker's restart.
    const t = await connectTerminal(mosquitto!.url, sn, { clean: false });
    terminals.push(t);
    return t;
  };
  const load = await Promise.all(Array.from({ length: loaders }, (_, i) => terminal(`F${i}`)));
  const heart = await terminal('HB');
  await heartbeat(heart);
  return { b: bridge, load, heart };
}

async function heartbeat(t: Terminal) {
  const reply = t.next((m) => m.cmd === 'heartD');
  await t.send({ cmd: 'heartU' });
  await reply;
}

type Stream = ReturnType<typeof startStream>;

/**
 * Each terminal publishes a verified record every `everyMs` at QoS 1 whether
 * the broker is there or not: MQTT.js keeps what it cannot send and sends it
 * again after a reconnect, as a terminal keeps its backlog.
 */
function startStream(load: Terminal[], everyMs: number) {
  const sent: string[] = [];
  const acked: Promise<void>[] = [];
  let limit = Infinity;
  let reached = () => {};
  const timer = setInterval(() => {
    for (const t of load) {
      if (sent.length >= limit) {
        clearInterval(timer);
        return reached();
      }
      const num = `${t.sn}-${sent.length}`;
      sent.push(`${t.sn}/${num}`);
      const ack = t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num })] });
      // A terminal ended by afterEach fails what it still holds; the test has its verdict by then.
      ack.catch(() => {});
      acked.push(ack);
    }
  }, everyMs);
  return {
    /** `serial/num` of every record published so far, in order. */
    sent,
    /** Resolves once `total` records are published; none after. */
    endAt(total: number): Promise<void> {
      limit = total;
      if (sent.length >= limit) {
        clearInterval(timer);
        return Promise.resolve();
      }
      return new Promise((resolve) => (reached = resolve));
    },
    /** Every record acknowledged by the broker. */
    acked: () => Promise.all(acked),
    stop: () => clearInterval(timer),
  };
}

/** What reached the backend: the distinct records, and the webhook-ids it got more than once. */
function delivered(r: Receiver) {
  const keys = new Set<string>();
  const perId = new Map<string, number>();
  for (const request of r.requests) {
    if (request.json?.type !== 'face.verified') continue;
    keys.add(`${request.json.device_sn}/${request.json.user_id}`);
    const id = String(request.headers['webhook-id']);
    perId.set(id, (perId.get(id) ?? 0) + 1);
  }
  const duplicates = [...perId].filter(([, n]) => n > 1);
  return { keys, duplicates, extra: duplicates.reduce((sum, [, n]) => sum + n - 1, 0) };
}

/** When the bridge logged each connection to the broker. */
function connections(b: TestBridge): number[] {
  return b.logLines.filter((line) => line.includes('"connected to MQTT broker"')).map((line) => Date.parse(JSON.parse(line).time));
}

type StandIn = Awaited<ReturnType<typeof standInFor>>;

/**
 * A bare TCP listener on the broker's port while the broker is down. It
 * accepts every connection and drops it after the CONNECT, timing those of
 * the bridge (told from the terminals' by client id): a refused connection
 * leaves no trace the test could time.
 */
async function standInFor(port: number, clientId: string) {
  const attempts: number[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const parser = mqttParser();
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect' && packet.clientId === clientId) attempts.push(Date.now());
      socket.destroy();
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  let closedAt = 0;
  return {
    attempts,
    get closedAt() {
      return closedAt;
    },
    async close() {
      if (!server.listening) return;
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      closedAt = Date.now();
    },
  };
}

/**
 * Brings the broker back and times, from its return: the bridge connected
 * again, a heartbeat sent then answered, and every record published before
 * the return delivered.
 */
async function recovery(b: TestBridge, r: Receiver, heart: Terminal, s: Stream, bringBack: () => Promise<void>) {
  // Counted before the broker is back, so that a reconnection faster than the test's next step is not missed.
  const before = connections(b).length;
  await bringBack();
  const back = Date.now();
  const backlog = s.sent.slice();
  const [reconnected, heartbeatAnswered, backlogDelivered] = await Promise.all([
    until(() => connections(b)[before]).then((at) => at - back),
    // Sent at once, as a terminal would: it waits at the broker until the bridge is back.
    heartbeat(heart).then(() => Date.now() - back),
    until(() => {
      const { keys } = delivered(r);
      return backlog.every((key) => keys.has(key));
    }).then(() => Date.now() - back),
  ]);
  return { back, backlog: backlog.length, reconnected, heartbeatAnswered, backlogDelivered };
}

/** Waits for every record to be acknowledged and delivered, checks that none is missing, and returns the figures. */
async function settle(b: TestBridge, r: Receiver, s: Stream) {
  await s.acked();
  await until(() => delivered(r).keys.size >= s.sent.length);
  const { keys, duplicates, extra } = delivered(r);
  const stored = b.count('events', "type = 'face.verified'");
  const received = Number(/cmd="verifiedRecordU"} (\d+)/.exec(await b.metric('facegate_messages_in_total'))?.[1] ?? 0);
  const lost = s.sent.filter((key) => !keys.has(key));
  expect(lost).toEqual([]);
  expect(keys.size).toBe(s.sent.length);
  expect(stored).toBe(s.sent.length);
  if (duplicates.length > 0) console.log(`broker-faults: delivered more than once: ${duplicates.map(([id, n]) => `${id} ×${n}`).join(', ')}`);
  return { sent: s.sent.length, stored, delivered: keys.size, lost: lost.length, duplicates: extra, redelivered: received - s.sent.length };
}

function report(fault: string, f: Awaited<ReturnType<typeof settle>>, t: Awaited<ReturnType<typeof recovery>>, extra = '') {
  console.log(
    `broker-faults: ${fault}: sent ${f.sent}, stored ${f.stored}, delivered ${f.delivered}, lost ${f.lost}, duplicates ${f.duplicates} ` +
      `(bridge got ${f.redelivered} again, deduplicated); broker back → bridge reconnected ${t.reconnected} ms, ` +
      `→ first heartbeat answered ${t.heartbeatAnswered} ms, → backlog of ${t.backlog} delivered ${t.backlogDelivered} ms${extra}`,
  );
}

describe('broker faults (Mosquitto)', () => {
  it('loses nothing when Mosquitto restarts mid-stream, and answers heartbeats after it', async () => {
    const { b, load, heart } = await setup(4);
    stream = startStream(load, 10);

    await b.eventsStored(400, (e) => e.type === 'face.verified');
    const sentAtStop = stream.sent.length;
    await mosquitto!.stop();
    await until(async () => (await b.api('GET', '/readyz')).status === 503);
    const times = await recovery(b, receiver!, heart, stream, () => mosquitto!.start());
    expect((await b.api('GET', '/readyz')).status).toBe(200);

    // Records keep flowing after the return, then the stream ends.
    await stream.endAt(stream.sent.length + 400);
    const figures = await settle(b, receiver!, stream);
    report('restart mid-stream', figures, times, `; published before the stop ${sentAtStop}, after the return ${figures.sent - times.backlog}`);
  });

  it(`loses nothing when Mosquitto is unreachable for ${OUTAGE_MS / 1000} s, and reconnects with backoff and jitter`, async () => {
    const { b, load, heart } = await setup(4);
    stream = startStream(load, 100);

    await b.eventsStored(40, (e) => e.type === 'face.verified');
    await mosquitto!.stop();
    const down = Date.now();
    standIn = await standInFor(mosquitto!.port, CLIENT_ID);
    await until(async () => (await b.api('GET', '/readyz')).status === 503);
    // The outage itself: nothing to wait for but time.
    await delay(OUTAGE_MS - (Date.now() - down));
    expect((await b.api('GET', '/readyz')).status).toBe(503);
    const times = await recovery(b, receiver!, heart, stream, async () => {
      await standIn!.close();
      await mosquitto!.start();
    });
    expect((await b.api('GET', '/readyz')).status).toBe(200);

    // Records keep flowing after the recovery, then the stream ends.
    await stream.endAt(stream.sent.length + 40);
    const figures = await settle(b, receiver!, stream);

    const attempts = standIn.attempts;
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]);
    // Once 0.5 s then doubling ceilings: at least four attempts fall within the first 7.5 s of the outage.
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    // Backoff: the waits grow well past the shortest (the last one still open when the broker came back counts too).
    expect(Math.max(...gaps, standIn.closedAt - attempts.at(-1)!)).toBeGreaterThan(3 * Math.min(...gaps));
    // Not a fixed period, and jitter: not a plain doubling either.
    expect(new Set(gaps.map((gap) => Math.round(gap / 100))).size).toBeGreaterThan(1);
    const ratios = gaps.slice(1).map((gap, i) => gap / gaps[i]);
    expect(ratios.some((ratio) => Math.abs(ratio - 2) > 0.1)).toBe(true);
    report(
      `unreachable ${OUTAGE_MS / 1000} s`,
      figures,
      times,
      `; ${attempts.length} reconnect attempts during the outage, gaps ${gaps.map((gap) => (gap / 1000).toFixed(1)).join(' ')} s, then ${((times.back + times.reconnected - attempts.at(-1)!) / 1000).toFixed(1)} s to the one that connected`,
    );
  }, 120_000);
});
