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

/** A loopback port nobody listens on right now, for a child process to take: not one this process handed out among its last 256. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await unusedPort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (handedOut.size > REMEMBERED) handedOut.delete(handedOut.values().next().value as number);
    return port;
  }
}

function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
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
