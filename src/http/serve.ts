import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../lib/log.ts';
import { keepServing } from '../transport/server-errors.ts';
import { throttledWarn } from '../transport/throttled-log.ts';

export interface HttpServer {
  port: number;
  /** Stops listening; resolves once the open requests are answered (idle keep-alive connections are closed at once). */
  close(): Promise<void>;
}

/**
 * The HTTP server, with a bound of its own on connections (README
 * §Connections and memory): past it Node closes a new connection at once, so
 * clients holding connections open cannot take the descriptors the broker
 * needs, and the broker's cannot take those of `/healthz`.
 */
export function serveHttp(
  fetch: (req: Request) => Response | Promise<Response>,
  { port, hostname, maxConnections }: { port: number; hostname: string; maxConnections: number },
  log: Logger,
): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    // hono's adapter for Node is loaded with the first request, not at start:
    // loading it makes Node load its own fetch (undici, for the global
    // Request and Response), ~1 MB of heap and ~2 MB of the Node binary's
    // pages that a bridge nobody asks anything held for nothing (README
    // §Performance, Memory). The requests that come meanwhile wait for it, in turn.
    let listener: Listener | undefined;
    let loading: Promise<Listener> | undefined;
    const server = createServer((req, res) => {
      if (listener) return void listener(req, res);
      loading ??= import('@hono/node-server').then(({ getRequestListener }) => (listener = getRequestListener(fetch, { hostname })));
      loading.then(
        (listen) => listen(req, res),
        // Only an installation missing a file of its own: each request is answered, nothing crashes.
        (err: Error) => {
          log.error({ err: err.message }, 'HTTP request handler not loaded');
          res.writeHead(500).end();
        },
      );
    });
    server.listen(port, hostname, () => {
      server.off('error', reject);
      keepServing(server, log, 'HTTP server');
      resolve({ port: (server.address() as AddressInfo).port, close: () => closeServer(server, unanswered) });
    });
    // Answers not yet finished: once the server closes, each ends its connection,
    // so a client's keep-alive connection busy at close() is not reused for ever.
    const unanswered: Unanswered = { responses: new Set(), onNone: undefined };
    server.on('request', (_req, res: ServerResponse) => {
      if (!server.listening) res.shouldKeepAlive = false;
      unanswered.responses.add(res);
      res.once('close', () => {
        unanswered.responses.delete(res);
        if (unanswered.responses.size === 0) unanswered.onNone?.();
      });
    });
    server.once('error', reject);
    server.maxConnections = maxConnections;
    const dropped = throttledWarn(log, 'HTTP connection refused: the server holds as many as it may');
    server.on('drop', () => dropped({ max: maxConnections }));
  });
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

interface Unanswered {
  responses: Set<ServerResponse>;
  /** Called when the last answer under way has finished. */
  onNone: (() => void) | undefined;
}

function closeServer(server: Server, unanswered: Unanswered): Promise<void> {
  return new Promise((resolve) => {
    for (const res of unanswered.responses) if (!res.headersSent) res.shouldKeepAlive = false;
    server.close(() => resolve());
    // Once no answer is under way, every connection left is one without a
    // request: idle keep-alive ones, and ones opened but never used (a
    // browser opens a spare one ahead of need). Node counts the latter as
    // busy, so they would hold close() open until its headers timeout (60 s).
    unanswered.onNone = () => server.closeAllConnections();
    if (unanswered.responses.size === 0) unanswered.onNone();
  });
}
