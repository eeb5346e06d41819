import { createServer, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { openPool } from '../../src/store/postgres/open.ts';

// A PostgreSQL shutting down as a connection comes up can send the
// connection's readiness and its end (FATAL 57P01) in one read: the pool
// hands the connection out within that read, before the caller can listen to
// it. A real server does this only by chance, so a loopback server speaking
// the wire protocol's first messages sends both in one write, every time.

/** A backend message: its type, its length (itself included), its body. */
const message = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const fields = (entries: [string, string][]) => Buffer.concat([...entries.map(([k, v]) => Buffer.from(`${k}${v}\0`, 'utf8')), Buffer.from([0])]);

const READY_THEN_SHUTDOWN = Buffer.concat([
  message('R', int32(0)), // AuthenticationOk
  message('Z', Buffer.from('I')), // ReadyForQuery
  message(
    'E',
    fields([
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', '57P01'],
      ['M', 'terminating connection due to administrator command'],
    ]),
  ),
]);

const sockets = new Set<Socket>();
const server = createServer((socket) => {
  sockets.add(socket);
  socket.on('error', () => {});
  // The startup message is the first thing a client sends: the answer goes at once, in one write.
  socket.once('data', () => socket.end(READY_THEN_SHUTDOWN));
});
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

it('keeps the process when a connection ends in the read that made it ready: the error is its query’s', async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const pool = openPool(`postgres://facegate@127.0.0.1:${port}/facegate`);
  try {
    const client = await pool.connect();
    await expect(client.query('select 1')).rejects.toThrow(/terminating connection|not queryable|Connection terminated/);
    client.release(true);
  } finally {
    await pool.end();
  }
});
