import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monotonicMs } from '../measures/clock.ts';
import { exitWithParent, listenOnLoopback } from './child.ts';
import type { Arrival, ReceiverStats } from './receiver.ts';

// The backend of the delivery scenarios, run by receiver.ts as a process of
// its own: in the benchmark's process its request handling would share one
// event loop with the terminals' publishing and delay both, so the latencies
// would partly measure the benchmark. Arrival times are taken on the
// machine-wide monotonic clock (clock.ts), the one the terminals' publish
// times are taken on.
//
// Two servers on loopback: the webhook port, which the bridge posts to and
// which can be closed for an outage and opened again on the same port, and a
// control port on which the benchmark reads the counts and switches the
// webhook port, never closed.

const arrivals = new Map<string, Arrival>();
const idsByKey = new Map<string, Set<string>>();
const ids = new Set<string>();
let received = 0;
let unreadable = 0;
let keysWithSeveralIds = 0;

const hooks = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const at = monotonicMs();
    record(req, Buffer.concat(chunks), at);
    // Fast and empty: the figures are the bridge's, not the backend's.
    res.writeHead(200, { 'content-length': '0' }).end();
  });
});
let hookPort = 0;
let up = false;

function record(req: IncomingMessage, body: Buffer, at: number): void {
  received++;
  const id = req.headers['webhook-id'];
  const key = scalar(body, 'user_id');
  if (typeof id !== 'string' || key === undefined) {
    unreadable++;
    return;
  }
  ids.add(id);
  const seen = arrivals.get(key);
  if (seen) {
    seen.count++;
    const keyIds = idsByKey.get(key)!;
    if (!keyIds.has(id) && keyIds.size === 1) keysWithSeveralIds++;
    keyIds.add(id);
    return;
  }
  idsByKey.set(key, new Set([id]));
  const receivedAt = scalar(body, 'received_at');
  const wall = receivedAt === undefined ? NaN : Date.parse(receivedAt);
  // The wall clock's distance from the monotonic one, read now: a step of the wall clock mid-run moves only later readings.
  const ingestAt = Number.isFinite(wall) ? wall - (Date.now() - monotonicMs()) : undefined;
  arrivals.set(key, { key, firstAt: at, ingestAt, count: 1 });
}

/**
 * A top-level string or number field of the JSON body, found without parsing
 * the whole body: it holds a base64 image of tens of KB, and parsing each one
 * would make the receiver's CPU part of what is measured. The fields read
 * here (README §What the backend receives) hold neither commas nor braces.
 */
function scalar(body: Buffer, name: string): string | undefined {
  const label = `"${name}":`;
  const at = body.indexOf(label);
  if (at < 0) return undefined;
  const from = at + label.length;
  let to = from;
  while (to < body.length && body[to] !== 0x2c && body[to] !== 0x7d) to++;
  try {
    const value: unknown = JSON.parse(body.toString('utf8', from, to));
    return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
  } catch {
    return undefined;
  }
}

function listenHooks(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    hooks.once('error', reject);
    hooks.listen(port, '127.0.0.1', () => {
      hooks.off('error', reject);
      hookPort = (hooks.address() as AddressInfo).port;
      up = true;
      resolve();
    });
  });
}

/** Refuses connections from now on: the listening socket closes and so does every connection, idle or busy. */
function closeHooks(): Promise<void> {
  return new Promise((resolve) => {
    up = false;
    hooks.close(() => resolve());
    hooks.closeAllConnections();
  });
}

function stats(): ReceiverStats {
  return { received, distinctIds: ids.size, distinctKeys: arrivals.size, unreadable, keysWithSeveralIds, up };
}

const control = createServer((req, res) => {
  const answer = (status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  const route = `${req.method} ${req.url}`;
  const act = async (): Promise<unknown> => {
    switch (route) {
      case 'GET /stats':
        return stats();
      case 'GET /arrivals':
        return [...arrivals.values()];
      case 'POST /down':
        if (up) await closeHooks();
        return { at: monotonicMs() };
      case 'POST /up':
        // The same port: the bridge knows only its URL.
        if (!up) await listenHooks(hookPort);
        return { at: monotonicMs() };
      default:
        throw Object.assign(new Error(`no route ${route}`), { status: 404 });
    }
  };
  req.resume();
  act().then(
    (value) => answer(200, value),
    (err: Error & { status?: number }) => answer(err.status ?? 500, { error: err.message }),
  );
});

exitWithParent();

// The port comes from the benchmark, which gives the bridge its URL while this process starts.
await listenHooks(Number(process.argv[2] ?? 0));
const controlPort = await listenOnLoopback(control);
// receiver.ts waits for this line; `clock` lets it check that both processes read the same monotonic clock.
process.stdout.write(`receiver ready ${JSON.stringify({ hookPort, controlPort, clock: monotonicMs() })}\n`);
