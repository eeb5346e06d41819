import { createServer, type IncomingMessage, request } from 'node:http';
import { monotonicMs } from '../measures/clock.ts';
import { exitWithParent, listenOnLoopback } from './child.ts';
import type { StreamArrivals, StreamClientTally, StreamConfig, StreamStats } from './stream-clients.ts';

// The console's side of the stream scenario, run by stream-clients.ts as a
// process of its own: reading and parsing a hundred event streams in the
// benchmark's process would share one event loop with the terminals'
// publishing and delay both. Arrival times are taken on the machine-wide
// monotonic clock (clock.ts), the one the terminals' publish times are taken
// on. A control port serves the counts.

const config = JSON.parse(process.argv[2] ?? '{}') as StreamConfig;
/** Reconnecting as a browser's EventSource does, a little later. */
const RECONNECT_MS = 250;
const CONNECT_TIMEOUT_MS = 10_000;

// Arrival times as ms after `base` in 32 bits: ~0.01 ms resolution over a run
// of minutes, and half the memory of 64 (a client × a record each).
const base = monotonicMs();

interface Client extends StreamClientTally {
  at: Float32Array;
  lastEventId: string | undefined;
  open: boolean;
}

const clients: Client[] = Array.from({ length: config.clients }, () => ({
  at: new Float32Array(config.records).fill(NaN),
  distinct: 0,
  duplicates: 0,
  foreign: 0,
  reconnects: 0,
  lastEventId: undefined,
  open: false,
}));
/** Per record, the event's received_at (the bridge's wall clock when the record reached it) on the monotonic clock, to the ms. */
const ingestAt = new Float64Array(config.records).fill(NaN);
let stopping = false;

function connect(client: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${config.token}`, accept: 'text/event-stream' };
    if (client.lastEventId) headers['last-event-id'] = client.lastEventId;
    const req = request(config.url, { headers, agent: false, timeout: CONNECT_TIMEOUT_MS }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${config.url}: ${res.statusCode}`));
        return;
      }
      req.setTimeout(0);
      client.open = true;
      resolve();
      read(client, res);
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${config.url}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)));
    req.once('error', (err) => {
      if (!client.open) reject(err);
    });
    req.end();
  });
}

function read(client: Client, res: IncomingMessage): void {
  res.setEncoding('utf8');
  let pending = '';
  res.on('data', (chunk: string) => {
    // One reading for the whole chunk: the events in it arrived together.
    const at = monotonicMs() - base;
    pending += chunk;
    for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
      event(client, pending.slice(0, end), at);
      pending = pending.slice(end + 2);
    }
  });
  const closed = () => {
    if (!client.open) return;
    client.open = false;
    if (stopping) return;
    // The bridge drops a client that falls behind: it comes back with Last-Event-ID, as the console does.
    client.reconnects++;
    setTimeout(() => void connectAgain(client), RECONNECT_MS);
  };
  res.once('end', closed);
  res.once('close', closed);
  res.once('error', closed);
}

async function connectAgain(client: Client): Promise<void> {
  while (!stopping && !client.open) {
    try {
      await connect(client);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }
}

function event(client: Client, block: string, at: number): void {
  let id: string | undefined;
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('id:')) id = line.slice(3).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  // Comment lines (`: ping`) carry neither.
  if (!data) return;
  if (id) client.lastEventId = id;
  let body: { user_id?: unknown; received_at?: unknown } = {};
  try {
    body = JSON.parse(data) as typeof body;
  } catch {
    // Counted as foreign below.
  }
  const userId = body.user_id;
  const i = Number(userId) - config.firstNum;
  if (!Number.isInteger(i) || i < 0 || i >= config.records) {
    client.foreign++;
    return;
  }
  if (Number.isNaN(client.at[i])) {
    client.at[i] = at;
    client.distinct++;
    if (Number.isNaN(ingestAt[i]) && typeof body.received_at === 'string') {
      // The wall clock's distance from the monotonic one, read now: a step of the wall clock mid-run moves only later readings.
      ingestAt[i] = Date.parse(body.received_at) - (Date.now() - monotonicMs());
    }
  } else {
    client.duplicates++;
  }
}

function stats(): StreamStats {
  let open = 0;
  let leastDistinct = Infinity;
  let distinct = 0;
  for (const client of clients) {
    if (client.open) open++;
    leastDistinct = Math.min(leastDistinct, client.distinct);
    distinct += client.distinct;
  }
  return { clients: clients.length, open, leastDistinct: clients.length ? leastDistinct : 0, distinct };
}

/** Per record, the first client's arrival, the median client's, and client 0's, on the monotonic clock (null: never). */
function arrivals(): StreamArrivals {
  const first: (number | null)[] = [];
  const median: (number | null)[] = [];
  const one: (number | null)[] = [];
  const ingest: (number | null)[] = [];
  const times = new Float64Array(clients.length);
  for (let i = 0; i < config.records; i++) {
    let n = 0;
    for (const client of clients) if (!Number.isNaN(client.at[i])) times[n++] = client.at[i];
    const got = times.subarray(0, n).sort();
    first.push(n ? base + got[0] : null);
    // Of all clients, those that never got it counted as later than any that did.
    const m = Math.ceil(clients.length / 2) - 1;
    median.push(m < n ? base + got[m] : null);
    const zero = clients[0]?.at[i];
    one.push(zero === undefined || Number.isNaN(zero) ? null : base + zero);
    ingest.push(Number.isNaN(ingestAt[i]) ? null : ingestAt[i]);
  }
  const tallies = clients.map(({ distinct, duplicates, foreign, reconnects }) => ({ distinct, duplicates, foreign, reconnects }));
  return { clients: tallies, first, median, one, ingest };
}

const control = createServer((req, res) => {
  const answer = (status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  req.resume();
  const route = `${req.method} ${req.url}`;
  switch (route) {
    case 'GET /stats':
      return answer(200, stats());
    case 'GET /arrivals':
      return answer(200, arrivals());
    case 'POST /stop':
      // No reconnecting from now on: the bridge is about to stop.
      stopping = true;
      return answer(200, stats());
    default:
      return answer(404, { error: `no route ${route}` });
  }
});

exitWithParent();

try {
  // Every stream open (the bridge has subscribed it) before the load starts: what comes after is all live.
  await Promise.all(clients.map(connect));
} catch (err) {
  process.stderr.write(`stream clients: ${(err as Error).message}\n`);
  process.exit(1);
}
const controlPort = await listenOnLoopback(control);
// stream-clients.ts waits for this line; `clock` lets it check that both processes read the same monotonic clock.
process.stdout.write(`streams ready ${JSON.stringify({ controlPort, clock: monotonicMs() })}\n`);
