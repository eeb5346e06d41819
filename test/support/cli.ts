import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const ROOT = new URL('../../', import.meta.url).pathname;

// A test that times out must not leave a bridge running behind it.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

export interface CliBridge {
  proc: ChildProcess;
  /** Lines the process wrote to stdout (JSON logs) and stderr. */
  output: string[];
  /** Resolves once it logs that it serves; rejects if it exits first. */
  started: Promise<void>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * `facegate` as an operator runs it: the compiled CLI (`npm run build`, which
 * `npm test` runs first) in a child process of its own, configured by
 * environment variables only.
 */
export function spawnCli(env: Record<string, string>, args: string[] = [], { hostname, fileLimit }: { hostname?: string; fileLimit?: number } = {}): CliBridge {
  // prlimit sets the open-file limit (soft and hard, so Node cannot raise it) and execs node in its place: one pid.
  const node = fileLimit ? ['prlimit', `--nofile=${fileLimit}:${fileLimit}`, process.execPath] : [process.execPath];
  // With a host name, the process gets a UTS namespace of its own with that
  // name (as a recreated container would); unshare and sh exec, so the pid is node's.
  const [command, ...rest] = hostname ? ['unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', hostname, ...node] : node;
  const proc = spawn(command, [...rest, 'dist/cli.js', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const output: string[] = [];
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const started = new Promise<void>((resolve, reject) => {
    for (const stream of [proc.stdout!, proc.stderr!]) {
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          output.push(line);
          if (line.includes('"facegate started"')) resolve();
        }
      });
    }
    exited.then((code) => reject(new Error(`facegate exited with ${code} before it started:\n${output.join('\n')}`)));
  });
  started.catch(() => {}); // a caller expecting a failed start awaits `exited` instead
  return {
    proc,
    output,
    started,
    exited,
    kill(signal = 'SIGTERM') {
      proc.kill(signal);
      return exited;
    },
  };
}

/** Starts the CLI and waits until it serves. */
export async function startCli(env: Record<string, string>, options: { hostname?: string } = {}): Promise<CliBridge> {
  const bridge = spawnCli(env, [], options);
  await bridge.started;
  return bridge;
}

/** Counts rows in the bridge's database from outside, as a backup tool would read it. */
export function countIn(dataDir: string, sql: string): number {
  const file = join(dataDir, 'facegate.db');
  if (!existsSync(file)) return 0;
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** facegate_terminals_online as /metrics reports it: a terminal counts the moment its first message arrives, before any commit. */
export async function onlineTerminals(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^facegate_terminals_online (\d+)/m.exec(text)?.[1] ?? 0);
}
