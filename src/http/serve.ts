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
      resolve({ port: (server.address() as AddressInfo).port, close: () => closeServer(server) });
    });
    server.once('error', reject);
    (server as Server).maxConnections = maxConnections;
    const dropped = throttledWarn(log, 'HTTP connection refused: the server holds as many as it may');
    server.on('drop', () => dropped({ max: maxConnections }));
  });
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections would otherwise hold close() open.
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
}
