import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { parseConfig } from '../../src/config.ts';
import type { StoredEvent } from '../../src/events/events.ts';
import { until } from '../../src/kit/wait.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createFacegate } from '../../src/lifecycle.ts';

export const TOKEN = 'test-admin-token-0123456789';

export type TestBridge = Awaited<ReturnType<typeof startBridge>>;

/**
 * The real bridge in this process: embedded broker and HTTP on ephemeral
 * ports, SQLite in a fresh temp dir (or the one given, to test restarts).
 */
export async function startBridge(
  env: Record<string, string> = {},
  dataDir = mkdtempSync(join(tmpdir(), 'facegate-')),
  options: { streamMaxBufferedBytes?: number; commandExpiryMs?: number; retentionEveryMs?: number; writerHeapMb?: number } = {},
) {
  // The tests' records carry a fixed time (SAMPLE_TIME), far from now: a device.clock_skew for each would be noise in every count. The tests of it set CLOCK_SKEW.
  const config = parseConfig({
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
      db ??= new Database(join(dataDir, 'facegate.db'), { readonly: true });
      return db;
    },
    count(table: string, where = '1=1', ...params: unknown[]): number {
      return (
        this.db()
          .prepare(`select count(*) as n from ${table} where ${where}`)
          .get(...params) as { n: number }
      ).n;
    },
    metric(name: string): Promise<string> {
      return facegate.metrics.registry.getSingleMetricAsString(name);
    },
    async stop({ keepData = false } = {}) {
      db?.close();
      await facegate.stop();
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
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
