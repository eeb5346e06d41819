import { readFileSync } from 'node:fs';
import type { Logger } from '../lib/log.ts';

/**
 * Descriptors kept for everything but the MQTT and HTTP connections: Node's
 * own (event loop, pipes, stdio), the database and its WAL and shared memory
 * on two connections, the writer thread, and the webhook lanes' connection
 * pools (DELIVERY_CONCURRENCY each). README §Connections and memory.
 */
export const RESERVED_FILES = 256;

/** HTTP connections at once: the API, the console, live streams, probes. */
export const HTTP_CONNECTIONS = 1000;

export interface ConnectionBudget {
  /** MQTT connections the embedded broker holds at once (plain and TLS together); 0 against an external broker. */
  broker: number;
  /** HTTP connections at once (`server.maxConnections`). */
  http: number;
  /** The open-file limit, when it (and not MAX_CONNECTIONS and HTTP_CONNECTIONS) set these figures. */
  fileLimit?: number;
}

/** The soft limit of open files of this process (`Max open files` in /proc/self/limits); undefined where it cannot be read. */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync(limits, 'utf8'));
    if (!match || match[1] === 'unlimited') return undefined;
    return Number(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * Splits the descriptors the process may open between the broker's and the
 * HTTP server's connections, after RESERVED_FILES: each side has a bound of
 * its own, so terminals filling the broker cannot take the descriptors
 * `/healthz` and the API need, nor the other way round. HTTP gets a quarter
 * of what is left, up to HTTP_CONNECTIONS; the broker the rest, up to
 * MAX_CONNECTIONS. Each side keeps at least one.
 */
export function connectionBudget(maxConnections: number, fileLimit: number | undefined, embedded: boolean): ConnectionBudget {
  const wanted = { broker: embedded ? maxConnections : 0, http: HTTP_CONNECTIONS };
  if (fileLimit === undefined) return wanted;
  const free = Math.max(0, fileLimit - RESERVED_FILES);
  const http = Math.max(1, Math.min(HTTP_CONNECTIONS, embedded ? Math.floor(free / 4) : free));
  const broker = embedded ? Math.max(1, Math.min(maxConnections, free - http)) : 0;
  if (broker === wanted.broker && http === wanted.http) return wanted;
  return { broker, http, fileLimit };
}

/** README §Connections and memory: the open-file limit, not the settings, bounds the connections; said once at start. */
export function warnFileLimit(log: Logger, budget: ConnectionBudget, maxConnections: number) {
  const lowered = [
    budget.broker > 0 && budget.broker < maxConnections ? `the embedded broker to ${budget.broker} connections (MAX_CONNECTIONS=${maxConnections})` : undefined,
    budget.http < HTTP_CONNECTIONS ? `HTTP to ${budget.http} connections` : undefined,
  ].filter(Boolean);
  log.warn(
    { fileLimit: budget.fileLimit, brokerConnections: budget.broker || undefined, httpConnections: budget.http },
    `the open-file limit (${budget.fileLimit}) holds ${lowered.join(' and ')}: raise it with LimitNOFILE= in the systemd unit, or ulimit -n`,
  );
}
