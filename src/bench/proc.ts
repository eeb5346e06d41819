import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTimeout } from './wait.ts';

// The bridge and Mosquitto run as child processes so their figures (memory,
// CPU) are their own. Whatever happens to the benchmark, neither they nor
// their temp dirs may outlive it.

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', cleanUp);

/** SIGKILL to every child still running, each by its own process, then their temp dirs removed. */
export function cleanUp(): void {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) removeTempDir(dir);
}

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

export interface Child {
  readonly pid: number;
  /** The last few KB of its stdout and stderr, for error messages. */
  output(): string;
  /** Resolves when the output so far matches `pattern`; rejects when the process exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs: number, what: string): Promise<void>;
  /** The next whole line of its output that matches `pattern`; undefined when none comes within `timeoutMs` or it exits. */
  nextLine(pattern: RegExp, timeoutMs: number): Promise<string | undefined>;
  readonly exited: Promise<string>;
  isRunning(): boolean;
  /** SIGTERM, and SIGKILL when it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_KEPT = 16_384;

export function startChild(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let output = '';
  const watchers = new Set<() => void>();
  // Lines are read whole from stdout alone: stderr's chunks could land inside one.
  let partial = '';
  const lineWatchers = new Set<(line: string) => void>();
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_KEPT);
    for (const watcher of watchers) watcher();
  };
  const keepLines = (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) for (const watcher of lineWatchers) watcher(line);
  };
  proc.stdout!.on('data', keep);
  proc.stdout!.on('data', keepLines);
  proc.stderr!.on('data', keep);
  let running = true;
  const exited = new Promise<string>((resolve) => {
    const done = (how: string) => {
      running = false;
      live.delete(proc);
      resolve(how);
    };
    proc.once('exit', (code, signal) => done(signal ? `killed by ${signal}` : `exited with code ${code}`));
    // A command that cannot be started emits only 'error'.
    proc.once('error', (err) => done(`could not start: ${err.message}`));
  });

  return {
    pid: proc.pid ?? -1,
    output: () => output,
    exited,
    isRunning: () => running,
    waitForOutput(pattern, timeoutMs, what) {
      const seen = new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return;
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
        void exited.then((how) => {
          watchers.delete(check);
          reject(new Error(`${what}: ${command} ${how} before it was ready:\n${output.trim()}`));
        });
      });
      return withTimeout(seen, timeoutMs, what);
    },
    nextLine(pattern, timeoutMs) {
      return new Promise((resolve) => {
        const done = (line: string | undefined) => {
          clearTimeout(timer);
          lineWatchers.delete(watch);
          resolve(line);
        };
        const watch = (line: string) => pattern.test(line) && done(line);
        const timer = setTimeout(() => done(undefined), timeoutMs);
        lineWatchers.add(watch);
        void exited.then(() => done(undefined));
      });
    },
    async stop(graceMs = 15_000) {
      if (!running) return;
      proc.kill('SIGTERM');
      try {
        await withTimeout(exited, graceMs, `stopping ${command}`);
      } catch {
        proc.kill('SIGKILL');
        await withTimeout(exited, 5000, `killing ${command}`);
      }
    },
  };
}

/** The most memory the process has held (VmHWM), in bytes; undefined where /proc is not there. */
export function peakRssBytes(pid: number): number | undefined {
  return statusBytes(pid, 'VmHWM');
}

/** The memory the process holds now (VmRSS), in bytes; undefined where /proc is not there. */
export function rssBytes(pid: number): number | undefined {
  return statusBytes(pid, 'VmRSS');
}

function statusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// Linux reports CPU time in clock ticks of 1/100 s on every platform Node supports.
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, all threads) the process has used so far; undefined where /proc is not there. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
