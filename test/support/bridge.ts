import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseConfig } from '../../src/config.ts';
import type { StoredEvent } from '../../src/events/events.ts';
import { findPostgres } from '../../src/kit/postgres.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { until } from '../../src/kit/wait.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createFacegate } from '../../src/lifecycle.ts';

export const TOKEN = 'test-admin-token-0123456789';

export type TestBridge = Awaited<ReturnType<typeof startBridge>>;

/**
 * The PostgreSQL server of the file (test/support/postgres-setup.ts sets it
 * in the `postgres` project of vitest.config.ts): there, each data dir's
 * bridge stores in a fresh database of its own, the same one again when a
 * test restarts the bridge on that data dir.
 */
const POSTGRES = 'FACEGATE_TEST_POSTGRES';
const databases = new Map<string, string>();

async function databaseFor(dataDir: string): Promise<string | undefined> {
  const server = process.env[POSTGRES];
  if (!server) return undefined;
  const known = databases.get(dataDir);
  if (known) return known;
  const name = `bridge_${databases.size + 1}`;
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  databases.set(dataDir, url.href);
  return url.href;
}

/**
 * A query's rows on PostgreSQL, as synchronous as better-sqlite3's: psql
 * runs it, each row as JSON. Each `?` is a psql variable, which psql quotes
 * as a literal.
 */
function rowsOnPostgres(url: string, query: string, params: unknown[]): Record<string, unknown>[] {
  let n = 0;
  const script = `select row_to_json(r) from (${query.replace(/\?/g, () => `:'p${++n}'`)}) r;`;
  const variables = params.flatMap((value, i) => ['-v', `p${i + 1}=${String(value)}`]);
  // Beside the server's programs (Debian's), or on PATH.
  const psql = [join(findPostgres() ?? '', 'psql'), '/usr/lib/postgresql/15/bin/psql'].find((path) => existsSync(path)) ?? 'psql';
  const out = execFileSync(psql, ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', ...variables, url], { input: script, encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Whether the bridges of this file store in PostgreSQL. */
export const onPostgres = () => Boolean(process.env[POSTGRES]);

/**
 * The real bridge in this process: embedded broker and HTTP on ephemeral
 * ports, SQLite in a fresh temp dir (or the one given, to test restarts).
 */
export async function startBridge(
  env: Record<string, string> = {},
  dataDir = makeTempDir('facegate-'),
  options: { streamMaxBufferedBytes?: number; commandExpiryMs?: number; retentionEveryMs?: number; writerHeapMb?: number } = {},
) {
  // The tests' records carry a fixed time (SAMPLE_TIME), far from now: a device.clock_skew for each would be noise in every count. The tests of it set CLOCK_SKEW.
  const database = env.DATABASE_URL ?? (await databaseFor(dataDir));
  const config = parseConfig({
    ...(database && { DATABASE_URL: database }),
    PORT: '0',
    HOST: '127.0.0.1',
    BROKER_PORT: '0',
    ADMIN_TOKEN: TOKEN,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    CLOCK_SKEW: '36500d',
    ...env,
  });
  const logStream = new PassThrough();
  const logLines: string[] = [];
  logStream.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n').filter(Boolean)));
  const facegate = createFacegate(config, createLogger(config.LOG_LEVEL, logStream), { streamPingMs: 100, ...options });
  const running = await facegate.start();
  const stored: StoredEvent[] = [];
  const waiters: { count: number; filter: (e: StoredEvent) => boolean; resolve: (events: StoredEvent[]) => void }[] = [];
  facegate.onStored((events) => {
    stored.push(...events);
    for (const waiter of [...waiters]) {
      const matching = stored.filter(waiter.filter);
      if (matching.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(matching);
      }
    }
  });
  let db: Database.Database | undefined;

  return {
    config,
    dataDir,
    facegate,
    logLines,
    httpPort: running.httpPort,
    brokerPort: running.brokerPort!,
    brokerUrl: `mqtt://127.0.0.1:${running.brokerPort}`,
    brokerTlsPort: running.brokerTlsPort,
    /** Events committed since start. */
    stored,
    /** Resolves once `count` events matching `filter` have been committed. */
    eventsStored(count: number, filter: (e: StoredEvent) => boolean = () => true): Promise<StoredEvent[]> {
      const matching = stored.filter(filter);
      if (matching.length >= count) return Promise.resolve(matching);
      return new Promise((resolve) => waiters.push({ count, filter, resolve }));
    },
    /** An HTTP call to the API, with the admin token unless `token` says otherwise. */
    async api(method: string, path: string, body?: unknown, options: { token?: string | null; headers?: Record<string, string> } = {}) {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? TOKEN : options.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(`http://127.0.0.1:${running.httpPort}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      return readAnswer(response);
    },
    /** The database as the bridge left it, read with a connection of the test's own. */
    db(): Database.Database {
      if (config.DATABASE_URL) throw new Error('b.db() reads the SQLite store; this bridge stores in PostgreSQL');
      db ??= new Database(join(dataDir, 'facegate.db'), { readonly: true });
      return db;
    },
    /** A query's rows, on either store: plain SQL both engines take, `?` for each parameter. */
    rows(query: string, ...params: unknown[]): Record<string, unknown>[] {
      if (config.DATABASE_URL) return rowsOnPostgres(config.DATABASE_URL, query, params);
      return this.db()
        .prepare(query)
        .all(...params) as Record<string, unknown>[];
    },
    count(table: string, where = '1=1', ...params: unknown[]): number {
      return Number(this.rows(`select count(*) as n from ${table} where ${where}`, ...params)[0].n);
    },
    metric(name: string): Promise<string> {
      return facegate.metrics.registry.getSingleMetricAsString(name);
    },
    async stop({ keepData = false } = {}) {
      db?.close();
      await facegate.stop();
      if (!keepData) removeTempDir(dataDir);
    },
  };
}

/** A response's status, headers and body, as text and, when it is JSON, parsed. */
export async function readAnswer(response: Response): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * Stops the bridge (keeping its data) while a message waits in its commit:
 * another connection holds the write lock until the stop has reached the
 * MQTT side, which is when the HTTP server, closed just before it, refuses
 * connections. `send` publishes the message; it is awaited once the lock is gone.
 */
export async function stopDuringCommit(b: TestBridge, send: () => Promise<void>): Promise<void> {
  const blocker = new Database(join(b.dataDir, 'facegate.db'));
  blocker.exec('begin immediate');
  const sent = send();
  await until(async () => (await b.metric('facegate_messages_uncommitted')).includes('facegate_messages_uncommitted 1'));
  const stopped = b.stop({ keepData: true });
  await until(() =>
    fetch(`http://127.0.0.1:${b.httpPort}/healthz`).then(
      () => false,
      () => true,
    ),
  );
  blocker.exec('commit');
  blocker.close();
  await sent;
  await stopped;
}
