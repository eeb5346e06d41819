import { fileURLToPath } from 'node:url';
import { moduleUrl, nodeArgs } from '../lib/module-url.ts';
import { type Child, startChild } from './child-process.ts';

// `facegate` as an operator runs it: the CLI in a child process of its own,
// configured by environment variables only, read line by line.

/** The compiled CLI, as `npm run build` leaves it (`npm test` builds first): from source and from dist/ alike. */
const COMPILED = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
/** The CLI of the code that runs now: its sources through tsx, or the compiled one. */
const RUNNING = moduleUrl('../cli', import.meta.url);

export interface CliOptions {
  /** `compiled` (default): dist/cli.js; `running`: the CLI this code belongs to, from source or compiled as it is. */
  cli?: 'compiled' | 'running';
  /** What the settings are added to; by default PATH and HOME alone, so that no setting of the caller's own leaks in. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Node's own flags, before the CLI. */
  nodeFlags?: string[];
  /** A host name of its own: the process gets a UTS namespace with that name, as a recreated container would (unshare). */
  hostname?: string;
  /** Its open-file limit, soft and hard, so that Node cannot raise it (prlimit). */
  fileLimit?: number;
  /** Its working directory (where it looks for .env); the repository's by default. */
  cwd?: string;
}

export interface CliProcess extends Child {
  /** Resolves once the bridge logs that it serves; rejects if it exits first. */
  started: Promise<void>;
}

/**
 * The CLI with `args` in a child process, its environment `env` over
 * `HOST=127.0.0.1` (loopback unless told otherwise) and `LOG_LEVEL=info`.
 */
export function spawnCli(env: Record<string, string>, args: string[] = [], options: CliOptions = {}): CliProcess {
  const { baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME }, nodeFlags = [], hostname, fileLimit, cwd } = options;
  const cli = options.cli === 'running' ? nodeArgs(RUNNING) : [COMPILED];
  // prlimit and unshare (through sh) exec what follows them: the pid is node's.
  const node = [...(fileLimit ? ['prlimit', `--nofile=${fileLimit}:${fileLimit}`] : []), process.execPath, ...nodeFlags, ...cli];
  const [command, ...rest] = hostname ? ['unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', hostname, ...node] : node;
  const child = startChild(command, [...rest, ...args], { cwd, env: { ...baseEnv, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env } });
  const started = child.waitForLine(/"facegate started"/, undefined, 'starting facegate').then(() => {});
  started.catch(() => {}); // a caller expecting a failed start awaits `exited` instead
  return Object.assign(child, { started });
}

/** Starts the bridge's CLI and waits until it serves. */
export async function startCli(env: Record<string, string>, options: CliOptions = {}): Promise<CliProcess> {
  const bridge = spawnCli(env, [], options);
  await bridge.started;
  return bridge;
}
