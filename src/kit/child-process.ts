import { type ChildProcess, spawn } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTempDirs } from './temp-dir.ts';
import { withTimeout } from './wait.ts';

// The bridge, Mosquitto and the benchmark's helpers run as child processes,
// so their figures (memory, CPU) and their crashes are their own. Whatever
// happens to the process that started them, neither they nor their temp dirs
// may outlive it.

/** The repository (where package.json is), from source and from dist/ alike: children run there, so `--import tsx` finds tsx. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const live = new Set<ChildProcess>();
process.once('exit', cleanUp);

/**
 * A signal that ends this process by its default runs no 'exit' listener:
 * vitest stops a test file's process with SIGTERM, whose children a timed-out
 * hook may not have stopped yet. When nothing else here answers the signal
 * (the bench and the simulator answer it themselves), the children and the
 * temp dirs go first, then the same signal ends the process as it would have.
 */
const ENDING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
for (const signal of ENDING_SIGNALS) {
  const onSignal = () => {
    if (process.listenerCount(signal) > 1) return;
    cleanUp();
    process.off(signal, onSignal);
    process.kill(process.pid, signal);
  };
  process.on(signal, onSignal);
}

/** SIGKILL to every child still running, each by its own process, then the temp dirs removed. */
export function cleanUp(): void {
  for (const proc of live) proc.kill('SIGKILL');
  removeTempDirs();
}

const OUTPUT_KEPT = 16_384;
const LINES_KEPT = 10_000;

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Its whole lines, stdout's and stderr's each read apart (a chunk of one never lands inside a line of the other); the last 10,000. */
  readonly output: string[];
  /** The last few KB of its stdout and stderr as they came, for error messages. */
  tail(): string;
  /** The first line so far or from now on that matches; rejects, naming `what`, when it exits first or after `timeoutMs` (none: no limit). */
  waitForLine(pattern: RegExp, timeoutMs: number | undefined, what: string): Promise<string>;
  /** The next line from now on that matches; undefined when none comes within `timeoutMs` or it exits. */
  nextLine(pattern: RegExp, timeoutMs: number): Promise<string | undefined>;
  /** Calls `listener` with every whole line from now on; returns the function that stops it. */
  onLine(listener: (line: string) => void): () => void;
  /** Resolves once it has exited and its output is read: its exit code, or the signal's name. */
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
  /** Sends the signal (SIGTERM by default) and resolves as `exited` does. */
  kill(signal?: NodeJS.Signals): Promise<number | string>;
  /** SIGTERM, and SIGKILL when it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** How a child ended, for messages: "exited with code 1", "killed by SIGKILL". */
export function describeExit(how: number | string): string {
  return typeof how === 'number' ? `exited with code ${how}` : how.startsWith('SIG') ? `killed by ${how}` : how;
}

export function startChild(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  const name = basename(command);
  let tail = '';
  const lines: string[] = [];
  const lineWatchers = new Set<(line: string) => void>();
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-OUTPUT_KEPT);
      const whole = (partial + text).split('\n');
      partial = whole.pop() ?? '';
      for (const line of whole) {
        lines.push(line);
        for (const watcher of lineWatchers) watcher(line);
      }
      if (lines.length > LINES_KEPT) lines.splice(0, lines.length - LINES_KEPT);
    });
  }
  let running = true;
  proc.once('exit', () => {
    running = false;
    live.delete(proc);
  });
  // 'close' comes after 'exit', once stdout and stderr are read to their end.
  const exited = new Promise<number | string>((resolve) => {
    proc.once('close', (code, signal) => resolve(code ?? signal ?? -1));
    // A command that cannot be started emits only 'error'.
    proc.once('error', (err) => {
      running = false;
      live.delete(proc);
      resolve(`could not start: ${err.message}`);
    });
  });

  /** Calls `found` with the first line from now on that matches, or `ended` with why there is none: the child exited, or `timeoutMs` passed. */
  const watchLines = (pattern: RegExp, timeoutMs: number | undefined, found: (line: string) => void, ended: (why: string) => void) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(timer);
      lineWatchers.delete(watcher);
    };
    const watcher = (line: string) => {
      if (!pattern.test(line)) return;
      stop();
      found(line);
    };
    lineWatchers.add(watcher);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        stop();
        ended(`not within ${(timeoutMs / 1000).toFixed(0)} s`);
      }, timeoutMs);
    }
    void exited.then((how) => {
      if (!lineWatchers.has(watcher)) return;
      stop();
      ended(`${name} ${describeExit(how)} first:\n${tail.trim()}`);
    });
  };

  return {
    proc,
    pid: proc.pid ?? -1,
    output: lines,
    tail: () => tail,
    exited,
    isRunning: () => running,
    waitForLine(pattern, timeoutMs, what) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => watchLines(pattern, timeoutMs, resolve, (why) => reject(new Error(`${what}: ${why}`))));
    },
    nextLine(pattern, timeoutMs) {
      return new Promise((resolve) => watchLines(pattern, timeoutMs, resolve, () => resolve(undefined)));
    },
    onLine(listener) {
      lineWatchers.add(listener);
      return () => lineWatchers.delete(listener);
    },
    kill(signal = 'SIGTERM') {
      proc.kill(signal);
      return exited;
    },
    async stop(graceMs = 15_000) {
      if (!running) return;
      proc.kill('SIGTERM');
      try {
        await withTimeout(exited, graceMs, `stopping ${name}`);
      } catch {
        proc.kill('SIGKILL');
        await withTimeout(exited, 5000, `killing ${name}`);
      }
    },
  };
}
