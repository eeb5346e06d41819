#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4
import { writeSync } from 'node:fs';
import { ConfigError, helpText, parseConfig } from './config.ts';
import { createLogger } from './lib/log.ts';
import { VERSION } from './lib/version.ts';
import { createFacegate, StartAborted } from './lifecycle.ts';
import { loadEnvFile } from './ops/env-file.ts';

const [command, ...rest] = process.argv.slice(2);

try {
  loadEnvFile();
} catch (err) {
  console.error(`facegate: .env cannot be read: ${(err as Error).message}`);
  process.exit(2);
}

switch (command) {
  case undefined:
    await runBridge();
    break;
  case '--version':
  case '-v':
  case 'version':
    console.log(`facegate ${VERSION}`);
    break;
  case 'backup':
  case 'restore':
    await runCopy(command, rest);
    break;
  case 'doctor':
    await runDoctor();
    break;
  case 'dashboard':
  case 'alert-rules': {
    const { dashboard, alertRules } = await import('./ops/dashboard.ts');
    process.stdout.write(command === 'dashboard' ? `${JSON.stringify(dashboard(), null, 2)}\n` : alertRules());
    break;
  }
  case 'simulate':
    await runSimulate(rest);
    break;
  case 'bench':
    await runBench(rest);
    break;
  case '--help':
  case '-h':
  case 'help':
    console.log(helpText());
    break;
  default:
    console.error(`facegate: unknown command "${command}" (try facegate --help)`);
    process.exit(2);
}

async function runSimulate(args: string[]) {
  const { runSimulator } = await import('./sim/simulate.ts');
  await runSimulator(args);
}

async function runBench(args: string[]) {
  const { runBench } = await import('./bench/bench.ts');
  await runBench(args);
}

/** The configuration of the environment (and .env), or exit 2 with the one line that names the bad variable. */
function configOrExit() {
  try {
    return parseConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`facegate: ${err.message}`);
    process.exit(2);
  }
}

/** README §Backup and restore. */
async function runCopy(verb: 'backup' | 'restore', args: string[]) {
  if (args.length !== 1 || args[0].startsWith('-')) {
    console.error(`facegate: usage: facegate ${verb} FILE`);
    process.exit(2);
  }
  if (process.env.DATABASE_URL) {
    console.error(`facegate: ${verb} copies the SQLite store; with DATABASE_URL use PostgreSQL's pg_dump and pg_restore`);
    process.exit(2);
  }
  const config = configOrExit();
  const { backup, restore, CopyRefused } = await import('./ops/backup.ts');
  try {
    const report = verb === 'backup' ? backup(config.DATA_DIR, args[0]) : restore(config.DATA_DIR, args[0]);
    const mb = (report.bytes / 1e6).toFixed(1);
    console.log(
      `facegate ${verb}: ${verb === 'backup' ? `wrote ${args[0]}` : `restored ${args[0]} into ${config.DATA_DIR}`} (${mb} MB, integrity ok): ${report.events} events, ${report.deliveries} deliveries, ${report.commands} commands`,
    );
  } catch (err) {
    if (!(err instanceof CopyRefused)) throw err;
    console.error(`facegate ${verb}: ${err.message}`);
    process.exit(1);
  }
}

async function runDoctor() {
  const config = configOrExit();
  const { runDoctor: doctor } = await import('./ops/doctor.ts');
  process.exitCode = await doctor(config);
}

async function runBridge() {
  const config = configOrExit();
  const log = createLogger(config.LOG_LEVEL);
  const facegate = createFacegate(config, log, { onFatal: () => process.exit(1) });

  let stoppingSince = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppingSince) {
      // Ctrl-C under npm reaches us twice (from the terminal and from npm): only a later one means "now".
      if (Date.now() - stoppingSince < 1000) return;
      writeSync(2, `facegate: second ${signal}: exiting at once\n`);
      // process.exit would wait on (and can abort with) a writer thread stuck
      // in a commit; nothing acknowledged depends on finishing it.
      process.kill(process.pid, 'SIGKILL');
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'stopping');
    facegate.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // systemctl reload: pick up a new token written to DATA_DIR/admin-token.
  process.on('SIGHUP', () => facegate.reloadToken());

  try {
    await facegate.start();
  } catch (err) {
    // A signal during the start: its handler stops what started and exits.
    if (err instanceof StartAborted) return;
    log.fatal({ err: (err as Error).message }, 'start failed');
    await facegate.stop();
    process.exit(1);
  }
}
