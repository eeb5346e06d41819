import type { ServerResponse } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
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
    const server: ServerType = serve({ fetch, port, hostname }, () => {
      server.off('error', reject);
      keepServing(server as Server, log, 'HTTP server');
      resolve({ port: (server.address() as AddressInfo).port, close: () => closeServer(server, unanswered) });
    });
    // Answers not yet begun: once the server closes, each ends its connection,
    // so a client's keep-alive connection busy at close() is not reused for ever.
    const unanswered = new Set<ServerResponse>();
    server.on('request', (_req, res: ServerResponse) => {
      if (!server.listening) res.shouldKeepAlive = false;
      unanswered.add(res);
      res.once('close', () => unanswered.delete(res));
    });
    server.once('error', reject);
    (server as Server).maxConnections = maxConnections;
    const dropped = throttledWarn(log, 'HTTP connection refused: the server holds as many as it may');
    server.on('drop', () => dropped({ max: maxConnections }));
  });
}

function closeServer(server: ServerType, unanswered: Set<ServerResponse>): Promise<void> {
  return new Promise((resolve) => {
    for (const res of unanswered) if (!res.headersSent) res.shouldKeepAlive = false;
    server.close(() => resolve());
    // Idle keep-alive connections would otherwise hold close() open.
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
}
