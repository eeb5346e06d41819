import type { Server } from 'node:net';
import type { Logger } from '../lib/log.ts';
import { throttledWarn } from './throttled-log.ts';

/**
 * A listening server's own errors, for as long as it listens. Out of file
 * descriptors (EMFILE, ENFILE), an accept fails and Node emits 'error' on the
 * server: without a listener that ends the process. The connection is lost
 * (the client sees a reset and tries again); the server goes on.
 */
export function keepServing(server: Server, log: Logger, name: string): void {
  const warn = throttledWarn(log, `${name}: a connection could not be accepted`);
  server.on('error', (err: NodeJS.ErrnoException) => warn({ err: err.message, code: err.code }));
}
