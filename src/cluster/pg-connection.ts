import type pg from 'pg';

// README §Running several replicas: the leases and the wake-ups each hold a
// PostgreSQL connection of their own (session-level locks, LISTEN), apart
// from the store's pool. Both treat it alike: bounded waits, TCP keepalive,
// and its loss reported once, whichever way it ends.

/** A query, or the connection, that takes longer means PostgreSQL is out of reach. */
export const QUERY_TIMEOUT_MS = 5000;
/** Reconnect attempts to PostgreSQL: this long apart, with jitter up to as much again. */
export const RETRY_MS = 1000;

/**
 * A connection of its own, named `application_name` in pg_stat_activity;
 * `lost` hears of its error or end (it may hear both: the caller tells a
 * stale client from its current one). Not connected yet: the caller adds its
 * own listeners, then calls `connect()`.
 */
export async function dedicatedClient(url: string, name: string, lost: (client: pg.Client, why: string) => void): Promise<pg.Client> {
  // Loaded only in cluster mode: a single SQLite bridge never pays for it.
  const { default: Pg } = await import('pg');
  const client = new Pg.Client({
    connectionString: url,
    application_name: name.slice(0, 63),
    connectionTimeoutMillis: QUERY_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  client.on('error', (err) => lost(client, err.message));
  client.on('end', () => lost(client, 'connection ended'));
  return client;
}
