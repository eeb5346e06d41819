import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/**
 * Ports this process handed out lately. A port is free when asked for, and
 * taken only once the child it is for starts listening: until then the
 * system may give it out again. The benchmark chose its webhook receiver's
 * port, then the bridge's while the receiver was starting, and got the same
 * one; the receiver won it, answered the bridge's /readyz with its 200, and
 * the run failed at its first connection to a bridge that had exited.
 */
const handedOut = new Set<number>();
const REMEMBERED = 256;

/**
 * The ports handed out lie below the system's ephemeral range
 * (ip_local_port_range), which the kernel draws from for the local end of
 * every outgoing connection. A port in that range is free only until any
 * process connects anywhere: a webhook receiver down for an outage, or a
 * bridge killed and started again, came back to EADDRINUSE because a
 * connection of another test had been given its port meanwhile. Below the
 * range only a listener that asks for that very port can take it.
 */
const LOWEST = 10_000;
/**
 * The ports above LOWEST on the Fetch standard's list of bad ports, to which
 * fetch (undici) refuses to connect ("bad port"): a bridge given 10080 for
 * its HTTP API listened there, and the benchmark's readiness probe never
 * reached it.
 */
const FETCH_BAD_PORTS = new Set([10080]);
const EPHEMERAL_DEFAULT = 32_768;
const TRIES = 200;

/** The first port of the ephemeral range, read once: or Linux's default where it cannot be read. */
export const EPHEMERAL_START = ephemeralStart();

function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + 1000 ? first : EPHEMERAL_DEFAULT;
  } catch {
    return EPHEMERAL_DEFAULT;
  }
}

/**
 * A loopback port nobody listens on right now, for a child process to take:
 * not one this process handed out among its last 256, nor one fetch refuses.
 * `random` picks the candidates, in [0, 1) as Math.random.
 */
export async function freePort(random: () => number = Math.random): Promise<number> {
  for (let tries = 0; tries < TRIES; tries++) {
    const port = LOWEST + Math.floor(random() * (EPHEMERAL_START - LOWEST));
    if (handedOut.has(port) || FETCH_BAD_PORTS.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    if (handedOut.size > REMEMBERED) handedOut.delete(handedOut.values().next().value as number);
    return port;
  }
  throw new Error(`no free loopback port between ${LOWEST} and ${EPHEMERAL_START} after ${TRIES} tries`);
}

/** Whether a listener could take the port now (it is listened on, and closed again). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(false) : reject(err)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether nothing listens on a loopback port: a connection to it is refused (a stopped process let go of it). */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
