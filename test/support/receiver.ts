import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from '../../src/kit/ports.ts';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
  /** Requests open at the receiver when this one arrived, itself included. */
  concurrent: number;
}

/** What the receiver does with the n-th request (counting from 0). */
export type Script = (request: Received, n: number) => { status?: number; headers?: Record<string, string>; delayMs?: number } | 'hang' | 'reset';

/**
 * The backend as a test scripts it: a real HTTP server on loopback that
 * records every request and answers as told. It can go down and come back on
 * the same port.
 */
export async function startReceiver(script: Script = () => ({ status: 200 })) {
  const requests: Received[] = [];
  const waiters: { count: number; match: (r: Received) => boolean; resolve: (r: Received[]) => void }[] = [];
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  let current = script;
  let open = 0;
  let server: Server;
  // Below the ephemeral range (kit/ports.ts): while the receiver is down, no other connection can be given its port.
  const port = await freePort();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    open += 1;
    res.once('close', () => (open -= 1));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      let json: any;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const request = { headers: req.headers, body, json, concurrent: open };
      const n = requests.length;
      requests.push(request);
      for (const waiter of [...waiters]) {
        const matching = requests.filter(waiter.match);
        if (matching.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(matching);
        }
      }
      const answer = current(request, n);
      if (answer === 'hang') return void hung.add(res);
      if (answer === 'reset') return void req.socket.destroy();
      const respond = () => res.writeHead(answer.status ?? 200, answer.headers).end();
      if (answer.delayMs) setTimeout(respond, answer.delayMs);
      else respond();
    });
  };

  async function listen() {
    server = createServer(handler);
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  }
  await listen();

  return {
    get url() {
      return `http://127.0.0.1:${port}/hooks`;
    },
    requests,
    script(next: Script) {
      current = next;
    },
    /** Resolves once `count` requests matching have arrived. */
    received(count: number, match: (r: Received) => boolean = () => true): Promise<Received[]> {
      const matching = requests.filter(match);
      if (matching.length >= count) return Promise.resolve(matching);
      return new Promise((resolve) => waiters.push({ count, match, resolve }));
    },
    /** Closes the port and every connection: the backend is down. */
    async down() {
      for (const res of hung) res.destroy();
      hung.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
    /** Back on the same port. */
    up: listen,
    close() {
      return this.down();
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
