import { once } from 'node:events';
import { Agent, get, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import { serveHttp } from '../../src/http/serve.ts';
import { createLogger } from '../../src/lib/log.ts';

// The stop closes the HTTP server (README §Architecture, start and stop): a
// client's keep-alive connection whose request is being answered at that
// moment must not keep it open by sending more requests over it.

it('answers a request in flight at the close with Connection: close, and the close completes', async () => {
  let reached!: () => void;
  const inHandler = new Promise<void>((resolve) => {
    reached = resolve;
  });
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server = await serveHttp(
    async () => {
      reached();
      await held;
      return new Response('ok');
    },
    { port: 0, hostname: '127.0.0.1', maxConnections: 10 },
    createLogger('error', new PassThrough()),
  );
  const agent = new Agent({ keepAlive: true });
  try {
    const answer = new Promise<IncomingMessage>((resolve, reject) => {
      get({ host: '127.0.0.1', port: server.port, path: '/', agent }, resolve).on('error', reject);
    });
    await inHandler;
    const closed = server.close();
    release();
    const res = await answer;
    res.resume();
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    await closed;
  } finally {
    agent.destroy();
  }
});

it('completes the close while a client holds a connection it never sent a request on', async () => {
  const server = await serveHttp(() => new Response('ok'), { port: 0, hostname: '127.0.0.1', maxConnections: 10 }, createLogger('error', new PassThrough()));
  // As a browser's spare connection, opened ahead of need: Node counts it busy, not idle.
  const spare = connect(server.port, '127.0.0.1');
  try {
    await once(spare, 'connect');
    const ended = once(spare, 'close');
    await server.close();
    await ended;
  } finally {
    spare.destroy();
  }
});

// hono's adapter is loaded with the first request (README §Performance, Memory):
// the requests that arrive while it loads are each answered, none lost or crossed.
it('answers every one of the first requests, sent together before any is answered', async () => {
  const server = await serveHttp(
    (req) => new Response(new URL(req.url).pathname),
    { port: 0, hostname: '127.0.0.1', maxConnections: 10 },
    createLogger('error', new PassThrough()),
  );
  try {
    const paths = Array.from({ length: 5 }, (_, i) => `/first/${i}`);
    const answers = await Promise.all(
      paths.map(
        (path) =>
          new Promise<string>((resolve, reject) => {
            get({ host: '127.0.0.1', port: server.port, path, agent: false }, (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                body += chunk;
              });
              res.on('end', () => resolve(body));
            }).on('error', reject);
          }),
      ),
    );
    expect(answers).toEqual(paths);
  } finally {
    await server.close();
  }
});
