import { closeSync, existsSync, fdatasyncSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import type { Config } from '../config.ts';
import { RECOMMENDED_NODE, runtimeSupport, runtimeWarning } from '../lib/runtime.ts';
import { withoutPassword } from '../lib/secrets.ts';
import { localTimestamp, parseLocalTimestamp, utcOffset } from '../lib/units.ts';
import { migrationState } from '../store/postgres/open.ts';
import { databasePath } from '../store/sqlite/open.ts';
import { segmentsSize } from '../store/sqlite/segment-files.ts';
import { connectionBudget, openFileLimit } from '../transport/connection-budget.ts';
import { probeQueueDrops } from '../transport/queue-probe.ts';

// README §Doctor: `facegate doctor` checks, with the bridge's own settings,
// what a site gets wrong most often, and says all of it in one report. It
// reads the store without writing to it, so it runs beside a bridge.

export type Verdict = 'ok' | 'warn' | 'fail';
export interface Finding {
  verdict: Verdict;
  check: string;
  detail: string;
}

/** Each network check gives up after this long. */
const NETWORK_MS = 5000;
/** Synced writes the disk check times. */
const SYNC_WRITES = 50;
/** A p99 commit beyond this makes every acknowledged record wait as long (SQLITE_SYNC=full). */
const SLOW_SYNC_MS = 50;
/** Face records the time-zone check compares with their receipt. */
const ZONE_SAMPLE = 200;
/** Terminals' times this far from their receipt, taken together, point to a wrong zone (or wrong clocks). */
const ZONE_SKEW_MS = 30 * 60_000;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** The zone, and whether the terminals' record times agree with it. */
export function checkTimeZone(dataDir: string, now = new Date()): Finding[] {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const findings: Finding[] = [{ verdict: 'ok', check: 'time zone', detail: `${zone} (UTC${utcOffset(now)}), now ${localTimestamp(now)}` }];
  const store = databasePath(dataDir);
  if (!existsSync(store)) return findings;
  let db: Database.Database | undefined;
  try {
    db = new Database(store, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const rows = db
      .prepare(
        `select json_extract(fields, '$.time') as time, received_at as receivedAt from events
         where type in ('face.verified', 'face.rejected', 'face.stranger') order by seq desc limit ?`,
      )
      .all(ZONE_SAMPLE) as { time: unknown; receivedAt: number }[];
    const skews = rows
      .map((row) => {
        const at = typeof row.time === 'string' ? parseLocalTimestamp(row.time) : undefined;
        return at === undefined ? undefined : at - row.receivedAt;
      })
      .filter((skew) => skew !== undefined)
      .sort((a, b) => a - b);
    if (skews.length === 0) return findings;
    const median = percentile(skews, 0.5);
    if (Math.abs(median) >= ZONE_SKEW_MS) {
      const hours = (Math.abs(median) / 3_600_000).toFixed(1);
      findings.push({
        verdict: 'warn',
        check: 'terminal times',
        detail: `the last ${skews.length} records carry times ${hours} h ${median > 0 ? 'ahead of' : 'behind'} their receipt in ${zone}: set TZ to the site's zone (e.g. TZ=Asia/Shanghai), or set the terminals' clocks`,
      });
    } else {
      findings.push({
        verdict: 'ok',
        check: 'terminal times',
        detail: `the last ${skews.length} records agree with ${zone} (median ${(median / 1000).toFixed(0)} s)`,
      });
    }
  } catch {
    // A store that cannot be read is the database check's finding.
  } finally {
    db?.close();
  }
  return findings;
}

/** Whether a port can be listened on, or answers as a running facegate. */
async function checkPort(check: string, host: string, port: number, facegateRuns: boolean): Promise<Finding> {
  const free = await new Promise<boolean | string>((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' ? false : (err.code ?? err.message)));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
  if (free === true) return { verdict: 'ok', check, detail: `${host}:${port} is free` };
  if (free === false && facegateRuns) return { verdict: 'ok', check, detail: `${host}:${port} is served by the facegate running now` };
  if (free === false) return { verdict: 'fail', check, detail: `${host}:${port} is taken by another program: stop it or choose another port` };
  return { verdict: 'fail', check, detail: `${host}:${port} cannot be listened on: ${free}` };
}

/** Whether a facegate answers its probe on PORT (then the ports it holds are its own). */
async function facegateAnswers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.status === 200 || response.status === 503;
  } catch {
    return false;
  }
}

export function checkFileLimit(config: Pick<Config, 'MAX_CONNECTIONS' | 'MQTT_URL'>, limit = openFileLimit()): Finding {
  const check = 'open files';
  if (limit === undefined) return { verdict: 'ok', check, detail: 'no limit' };
  const budget = connectionBudget(config.MAX_CONNECTIONS, limit, !config.MQTT_URL);
  if (budget.fileLimit === undefined) return { verdict: 'ok', check, detail: `limit ${limit} holds MAX_CONNECTIONS=${config.MAX_CONNECTIONS} terminals` };
  return {
    verdict: 'warn',
    check,
    detail: `limit ${limit} (of this shell) holds ${budget.broker || 'no'} broker and ${budget.http} HTTP connections: raise it (LimitNOFILE= in the unit, ulimit -n)`,
  };
}

/** Synced 4 KB writes in DATA_DIR, as the store's commits make them. */
export function checkDiskSync(dataDir: string): Finding {
  const check = 'disk sync';
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, `.doctor-${process.pid}`);
  const block = Buffer.alloc(4096, 1);
  const times: number[] = [];
  const fd = openSync(file, 'w', 0o600);
  try {
    for (let i = 0; i < SYNC_WRITES; i += 1) {
      const started = performance.now();
      writeSync(fd, block, 0, block.length, i * block.length);
      fdatasyncSync(fd);
      times.push(performance.now() - started);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  times.sort((a, b) => a - b);
  const detail = `${SYNC_WRITES} synced writes: p50 ${percentile(times, 0.5).toFixed(1)} ms, p99 ${percentile(times, 0.99).toFixed(1)} ms`;
  if (percentile(times, 0.99) > SLOW_SYNC_MS)
    return {
      verdict: 'warn',
      check,
      detail: `${detail}: every acknowledged record waits that long with SQLITE_SYNC=full; a faster disk, or SQLITE_SYNC=normal`,
    };
  return { verdict: 'ok', check, detail };
}

/** The store opens, SQLite's quick check passes, and what it holds. */
export function checkStore(dataDir: string): Finding {
  const check = 'database';
  const store = databasePath(dataDir);
  if (!existsSync(store)) return { verdict: 'ok', check, detail: `${store} does not exist yet: the first start creates it` };
  try {
    const db = new Database(store, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      const verdict = db.pragma('quick_check', { simple: true });
      if (verdict !== 'ok') return { verdict: 'fail', check, detail: `${store} is damaged: ${String(verdict)}; restore a backup (facegate restore FILE)` };
      const events = (db.prepare('select count(*) as n from events').get() as { n: number }).n;
      const images = segmentsSize(dataDir);
      return {
        verdict: 'ok',
        check,
        detail: `${store}: ${(statSync(store).size / 1e6).toFixed(1)} MB, ${events} events, quick check ok; image segments: ${images.segments}, ${(images.bytes / 1e6).toFixed(1)} MB`,
      };
    } finally {
      db.close();
    }
  } catch (err) {
    return { verdict: 'fail', check, detail: `${store} cannot be read: ${(err as Error).message}` };
  }
}

/** The external broker takes a connection with the bridge's credentials. */
async function checkBroker(config: Config): Promise<Finding> {
  const check = 'broker';
  if (!config.MQTT_URL) return { verdict: 'ok', check, detail: 'embedded (its port is checked above)' };
  const client = mqtt.connect(config.MQTT_URL, {
    clientId: `facegate-doctor-${process.pid}`,
    clean: true,
    username: config.MQTT_USERNAME,
    password: config.MQTT_PASSWORD,
    ca: config.MQTT_CA ? readFileSync(config.MQTT_CA) : undefined,
    connectTimeout: NETWORK_MS,
    reconnectPeriod: 0,
  });
  const outcome = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`no answer within ${NETWORK_MS / 1000} s`), NETWORK_MS);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      resolve(err.message);
    });
    client.once('close', () => {
      clearTimeout(timer);
      resolve('the connection closed');
    });
  });
  await client.endAsync(true).catch(() => {});
  // Without the credentials a URL may carry: mqtt: is no scheme URL knows an origin of.
  const { protocol, host } = new URL(config.MQTT_URL);
  const shown = `${protocol}//${host}`;
  if (outcome) return { verdict: 'fail', check, detail: `${shown}: ${outcome}` };
  return { verdict: 'ok', check, detail: `${shown} takes the bridge's connection` };
}

/** README §Broker settings you must set: whether the external broker drops what it queued for a slow reader. */
async function checkBrokerQueue(config: Config): Promise<Finding> {
  const check = 'broker queue';
  const probe = await probeQueueDrops({
    url: config.MQTT_URL!,
    username: config.MQTT_USERNAME,
    password: config.MQTT_PASSWORD,
    ca: config.MQTT_CA ? readFileSync(config.MQTT_CA) : undefined,
  });
  if (probe.outcome === 'kept') return { verdict: 'ok', check, detail: `kept all ${probe.sent} messages queued for a slow reader` };
  if (probe.outcome === 'unknown') return { verdict: 'warn', check, detail: `not known: ${probe.reason}` };
  return {
    verdict: 'fail',
    check,
    detail: `dropped ${probe.dropped} of ${probe.sent} messages queued for a slow reader, acknowledged to their publisher: a burst would lose records; Mosquitto max_queued_messages 0, EMQX mqtt.max_mqueue_len`,
  };
}

/** A webhook receiver's host takes a connection (TLS too, for https); nothing is sent. */
async function checkReceiver(url: string): Promise<Finding> {
  const target = new URL(url);
  const check = 'webhook';
  const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const outcome = await new Promise<string | undefined>((resolve) => {
    const done = (problem?: string) => {
      socket.destroy();
      resolve(problem);
    };
    const socket =
      target.protocol === 'https:'
        ? tlsConnect({ host, port, servername: host, timeout: NETWORK_MS }, () => done())
        : tcpConnect({ host, port, timeout: NETWORK_MS }, () => done());
    socket.once('timeout', () => done(`no answer within ${NETWORK_MS / 1000} s`));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
  if (outcome) return { verdict: 'fail', check, detail: `${target.origin}: ${outcome}` };
  return { verdict: 'ok', check, detail: `${target.origin} takes connections` };
}

/** README §PostgreSQL: DATABASE_URL reachable, and every migration of this version applied (the next start applies those missing). */
export async function checkPostgres(url: string): Promise<{ finding: Finding; receivers: string[] }> {
  const check = 'database';
  const where = withoutPassword(url);
  try {
    const { expected, applied, receivers } = await migrationState(url);
    if (applied > expected) {
      return { finding: { verdict: 'fail', check, detail: `${where}: migrated by a newer version (${applied} of ${expected} migrations)` }, receivers };
    }
    if (applied < expected) {
      return {
        finding: { verdict: 'warn', check, detail: `${where}: ${applied} of ${expected} migrations applied; the next start applies the rest` },
        receivers,
      };
    }
    return { finding: { verdict: 'ok', check, detail: `${where}: reachable, ${applied} migrations applied` }, receivers };
  } catch (err) {
    return { finding: { verdict: 'fail', check, detail: `${where} cannot be reached: ${(err as Error).message}` }, receivers: [] };
  }
}

/** The receivers to try: WEBHOOK_URL's and those stored, enabled. */
function receiverUrls(config: Config, stored: string[] = []): string[] {
  const urls = new Set<string>(stored);
  if (config.WEBHOOK_URL) urls.add(config.WEBHOOK_URL);
  if (config.DATABASE_URL) return [...urls];
  const store = databasePath(config.DATA_DIR);
  if (existsSync(store)) {
    const db = new Database(store, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      for (const row of db.prepare('select url from endpoints where enabled = 1').all() as { url: string }[]) urls.add(row.url);
    } catch {
      // An unreadable store is the database check's finding.
    } finally {
      db.close();
    }
  }
  return [...urls];
}

/** README §Quick start: the Node.js line still gets security fixes. */
export function checkRuntime(version = process.version, now = new Date()): Finding {
  const support = runtimeSupport(version, now);
  const warning = runtimeWarning(support);
  if (warning) return { verdict: 'warn', check: 'Node.js', detail: `${version}: ${warning}` };
  const advice = support.major === RECOMMENDED_NODE ? '' : `; Node.js ${RECOMMENDED_NODE} LTS is recommended`;
  return { verdict: 'ok', check: 'Node.js', detail: `${version}, maintained until ${support.endOfLife}${advice}` };
}

export async function diagnose(config: Config): Promise<Finding[]> {
  const running = await facegateAnswers(config.PORT);
  const findings: Finding[] = [checkRuntime(), ...checkTimeZone(config.DATA_DIR)];
  findings.push(await checkPort('HTTP port', config.HOST, config.PORT, running));
  if (!config.MQTT_URL) findings.push(await checkPort('broker port', config.BROKER_HOST ?? '127.0.0.1', config.BROKER_PORT, running));
  findings.push(checkFileLimit(config));
  findings.push(checkDiskSync(config.DATA_DIR));
  const postgres = config.DATABASE_URL ? await checkPostgres(config.DATABASE_URL) : undefined;
  findings.push(postgres ? postgres.finding : checkStore(config.DATA_DIR));
  const broker = await checkBroker(config);
  findings.push(broker);
  if (config.MQTT_URL && broker.verdict === 'ok') findings.push(await checkBrokerQueue(config));
  for (const url of receiverUrls(config, postgres?.receivers)) findings.push(await checkReceiver(url));
  return findings;
}

/** Prints the report; the exit code is 1 when a check failed (a warning alone is 0). */
export async function runDoctor(config: Config): Promise<number> {
  const findings = await diagnose(config);
  for (const { verdict, check, detail } of findings) console.log(`${verdict.padEnd(5)}${check.padEnd(16)}${detail}`);
  const failed = findings.filter((f) => f.verdict === 'fail').length;
  const warned = findings.filter((f) => f.verdict === 'warn').length;
  console.log(failed ? `facegate doctor: ${failed} failed, ${warned} to look at` : `facegate doctor: nothing failed${warned ? `, ${warned} to look at` : ''}`);
  return failed ? 1 : 0;
}
