import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { drizzleEntry } from '../drizzle.ts';
import { copyIn } from './copy-in.ts';

const { readMigrationFiles } = drizzleEntry('drizzle-orm/migrator');
const { drizzle } = drizzleEntry('drizzle-orm/node-postgres');
const { migrate } = drizzleEntry('drizzle-orm/node-postgres/migrator');

// The connections to PostgreSQL (DATABASE_URL) and its migrations.

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle/postgres', import.meta.url));

/**
 * The key of the session lock the migrations run under (SPEC, several
 * replicas): replicas starting together migrate once, one after the other,
 * the later ones finding nothing left to do.
 */
const MIGRATION_LOCK = 0x66676d69; // 'fgmi'

/** Connections the pool holds at most: one commits a batch at a time, the others answer reads. */
const POOL_MAX = 8;
/** A connection not made within this is an error: the store says it is not healthy rather than wait. */
const CONNECT_TIMEOUT_MS = 5000;
/** A statement that takes longer is waiting for something broken (a hung server, a lost network): it fails. */
const QUERY_TIMEOUT_MS = 30_000;

const INT8 = 20;
/**
 * Counts and seqs are int8: pg gives them as strings, as they may exceed
 * 2^53. Here they never do (seqs, unix ms, counts), so this pool reads them
 * as numbers; pg's global parsers stay as they are.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function openPool(url: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_MAX,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    types,
    application_name: 'facegate',
  });
  // An idle connection the server closed (a restart, a stop): the pool drops
  // it and makes a new one when asked. Without a listener it would end the process.
  pool.on('error', () => {});
  // The pool listens to a connection's errors only while it is idle. One that
  // comes in the same read as the connection's readiness (a server shutting
  // down as it connects) is emitted before whoever asked for it can listen:
  // every connection has a listener of its own for good. A connection that
  // met an error is not queryable; its query's error is the one that counts.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Applies the migrations not applied yet, under MIGRATION_LOCK, on a connection of its own. */
export async function migratePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    // Notices of `IF NOT EXISTS` in drizzle's own table are not news.
    await client.query('set client_min_messages = warning');
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS });
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The migrations in the folder and those the database has applied, and the
 * URLs of the enabled endpoints: what `facegate doctor` checks. Reads only.
 */
export async function migrationState(url: string): Promise<{ expected: number; applied: number; receivers: string[] }> {
  const expected = readMigrationFiles({ migrationsFolder: MIGRATIONS }).length;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    const migrated = await client.query<{ found: string | null }>(`select to_regclass('drizzle.__drizzle_migrations')::text as found`);
    if (!migrated.rows[0]?.found) return { expected, applied: 0, receivers: [] };
    const applied = await client.query<{ n: string }>('select count(*) as n from drizzle.__drizzle_migrations');
    const endpoints = await client.query<{ url: string }>(`select url from endpoints where enabled`).catch(() => ({ rows: [] }));
    return { expected, applied: Number(applied.rows[0].n), receivers: endpoints.rows.map((row) => row.url) };
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Statements through the pool, each on whichever connection is free: the
 * reads. A statement run for every record (a webhook's event) is given a
 * `name`: node-postgres then has the server parse and plan it once per
 * connection and keeps it there under that name, rather than at each call,
 * which cost the server more than running it (README §Performance, A
 * webhook's event read by a prepared statement). A fixed text only: each
 * name stays prepared on every connection of the pool.
 */
export interface PoolSql {
  rows<T>(text: string, values?: unknown[], name?: string): Promise<T[]>;
  one<T>(text: string, values?: unknown[], name?: string): Promise<T | undefined>;
  /** Rows the statement changed. */
  run(text: string, values?: unknown[], name?: string): Promise<number>;
}

/** What a job's SQL runs through: one connection, inside the batch's transaction. */
export interface Sql extends PoolSql {
  /** A COPY … FROM STDIN of the chunks (copy-in.ts); the rows copied. */
  copyIn(text: string, chunks: readonly Buffer[]): Promise<number>;
}

/** The statements of `client`: the pool's for the reads, and a batch's connection's under sqlOf. */
export function poolSql(client: pg.ClientBase | pg.Pool): PoolSql {
  return {
    rows: async <T>(text: string, values?: unknown[], name?: string) => (await client.query({ text, values, name })).rows as T[],
    one: async <T>(text: string, values?: unknown[], name?: string) => (await client.query({ text, values, name })).rows[0] as T | undefined,
    run: async (text: string, values?: unknown[], name?: string) => (await client.query({ text, values, name })).rowCount ?? 0,
  };
}

export function sqlOf(client: pg.ClientBase): Sql {
  return { ...poolSql(client), copyIn: (text, chunks) => copyIn(client, text, chunks) };
}
