import { execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { type Child, startChild } from './child-process.ts';
import { freePort } from './ports.ts';
import { makeTempDir, removeTempDir } from './temp-dir.ts';
import { withTimeout } from './wait.ts';

// Tests and the benchmark start their own PostgreSQL as they start their own
// Mosquitto: Debian's server, in a temp dir, on a free loopback port, as the
// `postgres` user when this process is root (PostgreSQL refuses to run as
// root), stopped by its pid.

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
/** Where Debian's postgresql-15 (and later) puts the server's programs; they are not on PATH. */
const DEBIAN_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

/** The directory holding `initdb` and `postgres`: PG_BIN, then PATH, then Debian's; undefined when there is none. */
export function findPostgres(): string | undefined {
  const candidates = [process.env.PG_BIN, ...(process.env.PATH ?? '').split(delimiter), ...DEBIAN_DIRS];
  for (const dir of candidates) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'postgres'), constants.X_OK);
      accessSync(join(dir, 'initdb'), constants.X_OK);
      return dir;
    } catch {
      // not in this one
    }
  }
  return undefined;
}

export interface Postgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** The server's process now (another one after a stop and a start). */
  readonly pid: number;
  /** A fresh, empty database on this server; its URL. */
  database(name: string): Promise<string>;
  /** Starts it again after a stop or a kill, on the same port, with its data. */
  start(): Promise<void>;
  /** A fast shutdown (SIGINT: clients disconnected, data kept), SIGKILL when it does not end. */
  stop(): Promise<void>;
  /** SIGKILL to the server's process, as a crash: its data is recovered at the next start. */
  kill(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/** Options for the `postgres` server beyond the defaults, as `-c name=value`. */
export type PostgresSettings = Record<string, string | number>;

/**
 * A fresh PostgreSQL server on a free loopback port, its cluster in a temp
 * dir, no password (trust, loopback only). `settings` go to the server as
 * `-c` options (tests turn `fsync` off; the benchmark keeps the defaults).
 * Resolves once it accepts connections.
 */
export async function startPostgres(settings: PostgresSettings = {}): Promise<Postgres> {
  const bin = findPostgres();
  if (!bin) throw new Error('PostgreSQL is not installed: initdb and postgres not found (PG_BIN, PATH, /usr/lib/postgresql/*/bin)');
  const dir = makeTempDir('facegate-postgres-');
  const data = join(dir, 'data');
  // As root: every program runs as `postgres`, which must own the cluster's directories.
  const asRoot = process.getuid?.() === 0;
  const run = (program: string, args: string[]): [string, string[]] =>
    asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', join(bin, program), ...args]] : [join(bin, program), args];
  let child: Child | undefined;
  let port = 0;
  try {
    mkdirSync(data);
    if (asRoot) {
      const { uid, gid } = postgresUser();
      chownSync(dir, uid, gid);
      chownSync(data, uid, gid);
    }
    const [initdb, initArgs] = run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    execFileSync(initdb, initArgs, { stdio: 'pipe' });
    port = await freePort();
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  const options = { listen_addresses: '127.0.0.1', port, unix_socket_directories: dir, ...settings };
  const args = ['-D', data, ...Object.entries(options).flatMap(([name, value]) => ['-c', `${name}=${value}`])];

  const start = async () => {
    const [command, commandArgs] = run('postgres', args);
    const started = startChild(command, commandArgs);
    child = started;
    try {
      await started.waitForLine(/database system is ready to accept connections/, START_TIMEOUT_MS, 'starting postgres');
    } catch (err) {
      await started.stop(2000);
      throw err;
    }
  };
  const end = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (!running?.isRunning()) return;
    running.proc.kill(signal);
    try {
      await withTimeout(running.exited, STOP_TIMEOUT_MS, 'stopping postgres');
    } catch {
      running.proc.kill('SIGKILL');
      await running.exited;
    }
  };
  try {
    await start();
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    port,
    url,
    get pid() {
      return child?.pid ?? -1;
    },
    async database(name) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    start,
    // SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart) would wait for every client to leave.
    stop: () => end('SIGINT'),
    kill: () => end('SIGKILL'),
    async dispose() {
      try {
        await end('SIGINT');
      } finally {
        removeTempDir(dir);
      }
    },
  };
}

/** The `postgres` user Debian's package makes: the server runs as it when this process is root. */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}
