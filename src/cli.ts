#!/usr/bin/env -S node --max-semi-space-size=4
import { writeSync } from 'node:fs';
import { ConfigError, helpText, parseConfig } from './config.ts';
import { createLogger } from './lib/log.ts';
import { createFacegate, StartAborted } from './lifecycle.ts';

const [command, ...rest] = process.argv.slice(2);

switch (command) {
  case undefined:
    await runBridge();
    break;
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

async function runBridge() {
  let config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`facegate: ${err.message}`);
    process.exit(2);
  }
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
