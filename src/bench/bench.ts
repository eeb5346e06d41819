import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FIXTURES_DIR } from '../sim/fixtures.ts';
import type { Sync } from '../store/open.ts';
import { startBridge, type BridgeProcess } from './bridge.ts';
import { encodeRecords, runBurst } from './burst.ts';
import { measureCpu, ownCpuSeconds } from './cpu.ts';
import { runHeartbeats } from './heartbeats.ts';
import { findMosquitto, startMosquitto, type Mosquitto } from './mosquitto.ts';
import { type BenchOptions, parseBenchOptions, type Scenario, type TransportName, usage, UsageError } from './options.ts';
import { cleanUp } from './proc.ts';
import { formatTable, machine, type ProcessFigures, type Result } from './report.ts';
import { awaitHeartD } from './terminals.ts';

// `facegate bench`: the figures a site needs before it trusts the bridge with
// its doors: how fast a heartbeat is answered under many terminals, and how
// many face records a second it stores durably, with either broker and either
// durability setting. The bridge runs as a site runs it: a process of its own.

const HEARTBEAT_INTERVAL_MS = 1000;
/** The image terminals send in a burst: ~27 KB, a typical capture. */
const BURST_IMAGE = 'face-2.jpg';
/** A burst is given this long plus this much per record (a rate far below any healthy bridge's) before it is cut short. */
const BURST_BASE_MS = 10_000;
const BURST_PER_RECORD_MS = 8;

interface Plan {
  scenario: Scenario;
  transport: TransportName;
  sync: Sync;
}

export async function runBench(args: string[]): Promise<void> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchOptions(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`facegate bench: ${err.message} (try facegate bench --help)`);
    process.exitCode = 2;
    return;
  }
  if (options === undefined) {
    console.log(usage());
    return;
  }

  const mosquitto = findMosquitto();
  if (options.transport === 'mosquitto' && !mosquitto) {
    console.error('facegate bench: --transport mosquitto, but there is no mosquitto on PATH');
    process.exitCode = 2;
    return;
  }
  const transports: TransportName[] = options.transport ? [options.transport] : mosquitto ? ['embedded', 'mosquitto'] : ['embedded'];
  if (!mosquitto && !options.transport) progress('mosquitto is not on PATH: measuring the embedded broker only');

  const plans: Plan[] = [];
  if (options.only !== 'burst') for (const transport of transports) plans.push({ scenario: 'heartbeats', transport, sync: 'full' });
  if (options.only !== 'heartbeats') {
    for (const transport of transports) for (const sync of ['full', 'normal'] as const) plans.push({ scenario: 'burst', transport, sync });
  }

  // Stopped by a signal, the children and their files go too.
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping`);
    cleanUp();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const image = await readFile(new URL(BURST_IMAGE, FIXTURES_DIR));
  const payloads = options.only === 'heartbeats' ? [] : encodeRecords(image, options.records, options.burstTerminals);
  const startedAt = new Date();
  const results: Result[] = [];
  for (const [i, plan] of plans.entries()) {
    progress(`[${i + 1}/${plans.length}] ${plan.scenario}, ${plan.transport} broker, SQLITE_SYNC=${plan.sync}`);
    try {
      results.push(await runPlan(plan, options, payloads, mosquitto, i + 1));
    } catch (err) {
      progress(`  failed: ${(err as Error).message}`);
      results.push({ ...plan, error: (err as Error).message.split('\n')[0] });
    }
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  console.log(formatTable(results));
  const out = resolve(options.out);
  const report = {
    startedAt: startedAt.toISOString(),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    machine: machine(),
    options: { ...options, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, burstImage: BURST_IMAGE, burstImageBytes: image.length },
    results,
  };
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  progress(`figures written to ${out}`);
  // A connection abandoned after a timeout may still hold the event loop open: the run is over either way.
  process.exit(results.some((r) => 'error' in r) ? 1 : 0);
}

/** One scenario against a fresh bridge (and a fresh Mosquitto), both stopped and their files removed afterwards. */
async function runPlan(plan: Plan, options: BenchOptions, payloads: Buffer[][], mosquittoPath: string | undefined, n: number): Promise<Result> {
  let broker: Mosquitto | undefined;
  let bridge: BridgeProcess | undefined;
  try {
    if (plan.transport === 'mosquitto') broker = await startMosquitto(mosquittoPath!);
    bridge = await startBridge({ sync: plan.sync, mqttUrl: broker?.url, clientId: `facegate-bench-${n}` });
    await awaitHeartD(bridge.brokerUrl);
    const { span, percent } = measureCpu({
      bridge: bridge.cpuSeconds,
      mosquitto: () => broker?.cpuSeconds(),
      bench: ownCpuSeconds,
    });
    const url = bridge.brokerUrl;
    const measured =
      plan.scenario === 'heartbeats'
        ? {
            scenario: 'heartbeats' as const,
            figures: await runHeartbeats({ url, terminals: options.terminals, seconds: options.seconds, intervalMs: HEARTBEAT_INTERVAL_MS, span }),
          }
        : {
            scenario: 'burst' as const,
            figures: await runBurst({ url, dbPath: bridge.dbPath, payloads, window: options.window, timeoutMs: BURST_BASE_MS + options.records * BURST_PER_RECORD_MS, span }),
          };
    // Figures from a bridge that died on the way measure nothing.
    bridge.assertRunning();
    const used: ProcessFigures = {
      bridgePeakRssBytes: bridge.peakRssBytes(),
      bridgeCpuPercent: percent('bridge'),
      mosquittoPeakRssBytes: broker?.peakRssBytes(),
      mosquittoCpuPercent: percent('mosquitto'),
      benchCpuPercent: percent('bench'),
    };
    return { ...plan, ...measured, process: used };
  } finally {
    await bridge?.dispose();
    await broker?.dispose();
  }
}

/** Progress goes to stderr: stdout carries the table alone. */
function progress(line: string): void {
  process.stderr.write(`facegate bench: ${line}\n`);
}
