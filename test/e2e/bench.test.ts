import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { spawnCli } from '../../src/kit/cli.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { withTimeout } from '../../src/kit/wait.ts';

const RUN_LIMIT_MS = 45_000;

let dir: string | undefined;

afterEach(() => {
  if (dir) removeTempDir(dir);
  dir = undefined;
});

/** `facegate bench` as a user runs it (compiled, as `npm run bench` does, in the caller's environment); resolves with its exit code and output, or kills it after the limit. */
async function bench(args: string[], limitMs = RUN_LIMIT_MS): Promise<{ code: number | string; output: string }> {
  const run = spawnCli({}, ['bench', ...args], { baseEnv: process.env });
  const code = await withTimeout(run.exited, limitMs, 'facegate bench').catch(() => run.kill('SIGKILL'));
  return { code, output: run.output.join('\n') };
}

// The figures themselves depend on the machine: only their shape is checked.
it('bench --quick --only heartbeats prints the table and writes well-formed JSON', async () => {
  dir = makeTempDir('facegate-bench-test-');
  const out = join(dir, 'figures.json');
  // Twice the work of one scenario: the echo of each load runs first.
  const run = await bench(['--quick', '--only', 'heartbeats', '--terminals', '50,200', '--out', out], 2 * RUN_LIMIT_MS);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toMatch(/^scenario\s+transport\s+terminals\s+connect s\s+messages\s+p50 ms\s+p99 ms\s+max ms\s+1st p99\s+later p99\s+missing/m);

  const report = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  expect(report).toHaveProperty('startedAt');
  expect(report.machine).toMatchObject({ cores: expect.any(Number), node: expect.any(String) });
  const results = report.results as Record<string, unknown>[];
  expect(results.length).toBeGreaterThanOrEqual(1);
  for (const result of results) {
    expect(result).toMatchObject({
      scenario: 'heartbeats',
      transport: expect.stringMatching(/^(embedded|mosquitto)$/),
      terminals: expect.any(Number),
      figures: {
        missing: expect.any(Number),
        connected: expect.any(Number),
        connectSeconds: expect.any(Number),
        roundTrip: { p50Ms: expect.any(Number), p99Ms: expect.any(Number) },
        firstBeat: { p99Ms: expect.any(Number) },
        laterBeats: { p99Ms: expect.any(Number) },
      },
    });
  }
  expect(results.map((r) => r.transport)).toContain('embedded');
  // The bridge's CPU time by thread: its main one and its database writer, found by the OS thread id it logs.
  for (const { process } of results as { process: Record<string, number> }[]) {
    expect(process.bridgeMainCpuSeconds).toBeGreaterThan(0);
    expect(process.bridgeWriterCpuSeconds).toBeGreaterThanOrEqual(0);
  }
  // One run for each count asked for.
  expect(new Set(results.map((r) => r.terminals))).toEqual(new Set([50, 200]));
  // And the echo of each, just before it, and no other ceiling: what the heartbeats are read against.
  const ceilings = report.ceilings as { ceiling: string; transport: string; before?: { plan: number }; figures: { terminals: number; roundTrip: unknown } }[];
  expect(ceilings.map((c) => c.ceiling)).toEqual(['echo', 'echo']);
  expect(ceilings.map((c) => c.before?.plan)).toEqual([1, 2]);
  expect(ceilings.map((c) => c.figures.terminals)).toEqual([50, 200]);
  for (const echo of ceilings) expect(echo.figures.roundTrip).toMatchObject({ p99Ms: expect.any(Number) });
  expect(run.output).toMatch(/against the ceilings:\n\s+heartbeats embedded 50 terminals: p99 ms .* vs echo p99 ms /);
}, 120_000);

it('bench --quick --only store-scale builds the store, waits for the purge and times each read', async () => {
  dir = makeTempDir('facegate-bench-test-');
  const out = join(dir, 'figures.json');
  const run = await bench(['--quick', '--only', 'store-scale', '--scale-events', '5000', '--out', out]);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toMatch(/^store-scale\s+n\s+p50 ms\s+p99 ms\s+max ms\s+status\s+KB$/m);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { results: { scenario: string; figures: any }[] };
  const [result] = report.results;
  expect(result.scenario).toBe('store-scale');
  expect(result.figures).toMatchObject({
    waiting: 5000,
    purge: { removed: result.figures.purgeable, steps: expect.any(Number), longestStepMs: expect.any(Number) },
  });
  // The purge looked at every old event, a thousand at most per step.
  expect(result.figures.purge.steps).toBeGreaterThanOrEqual(5);
  expect(result.figures.requests.map((r: any) => r.status)).toEqual(result.figures.requests.map(() => [200]));
  expect(result.figures.requests.every((r: any) => r.latency.count === 20)).toBe(true);
}, 60_000);

it('bench --quick --only commands sends commands one by one and one fan-out, and every command is replied', async () => {
  dir = makeTempDir('facegate-bench-test-');
  const out = join(dir, 'figures.json');
  // Two bridges, two loads and the beats before, during and after each: longer than the others.
  const run = await bench(['--quick', '--only', 'commands', '--out', out], 55_000);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toMatch(/^commands\s+transport\s+terminals\s+sent\s+per s\s+replied\s+published\s+refused\s+p50 ms\s+p99 ms\s+max ms/m);
  expect(run.output).toMatch(/^commands\s+transport\s+terminals\s+connect s\s+queued\s+accepted s\s+published s\s+replied s/m);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { results: { scenario: string; part: string; transport: string; figures: any }[] };
  // --quick: one broker, the embedded one; a round trip and a fan-out.
  expect(report.results.map((r) => [r.scenario, r.part, r.transport])).toEqual([
    ['commands', 'round-trip', 'embedded'],
    ['commands', 'fan-out', 'embedded'],
  ]);
  const [roundTrip, fanOut] = report.results.map((r) => r.figures);
  // Every command came back replied within its wait, and each terminal answered each one it got.
  expect(roundTrip).toMatchObject({ commands: 100, replied: 100, published: 0, refused: {}, answered: 100, connected: 100 });
  expect(roundTrip.roundTrip).toMatchObject({ count: 100, p50Ms: expect.any(Number), p99Ms: expect.any(Number) });
  expect(roundTrip.heartbeats).toMatchObject({ missing: 0, roundTrip: { p99Ms: expect.any(Number) } });
  expect(roundTrip.heartbeats.beats).toBeGreaterThanOrEqual(1);
  // The fan-out reached every terminal (the benchmark's probe forgotten first): each queued, published, replied, answered once.
  expect(fanOut).toMatchObject({ connected: 500, queued: 500, failed: {}, published: 500, replied: 500, answered: 500, timedOut: false });
  for (const figure of ['acceptedSeconds', 'publishedSeconds', 'repliedSeconds', 'lastAnswerSeconds']) expect(fanOut[figure]).toEqual(expect.any(Number));
  expect(fanOut.heartbeatsBefore.beats).toBeGreaterThanOrEqual(1);
  expect(fanOut.heartbeatsDuring.beats).toBeGreaterThanOrEqual(1);
  expect(fanOut.heartbeatsDuring.roundTrip).toMatchObject({ p99Ms: expect.any(Number) });
}, 70_000);

it('bench --quick --only people puts people on every terminal and every row is applied while the terminals beat and send records', async () => {
  dir = makeTempDir('facegate-bench-test-');
  const out = join(dir, 'figures.json');
  const run = await bench(['--quick', '--only', 'people', '--out', out], 55_000);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toMatch(/^people\s+transport\s+terminals\s+put\s+rows\s+put s\s+applied s\s+enrol\/s\s+pace\/s\s+applied\s+failed/m);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { results: { scenario: string; transport: string; figures: any }[] };
  expect(report.results.map((r) => [r.scenario, r.transport])).toEqual([['people', 'embedded']]);
  const [{ figures }] = report.results;
  // --quick: 10 beating terminals and 2 sending records, 50 people, each on all 12 (the benchmark's probe forgotten first).
  expect(figures).toMatchObject({ connected: 10, recordTerminals: 2, syncTerminals: 12, people: 50, put: 50, refused: {}, rows: 600, timedOut: false });
  expect(figures.sync).toMatchObject({ applied: 600, pending: 0, sent: 0, failed: 0 });
  // Every enrolment reached its terminal and was answered there.
  expect(figures.answered).toBe(600);
  expect(figures.appliedSeconds).toEqual(expect.any(Number));
  // The heartbeats were answered and the records acknowledged, before the sync and during it.
  for (const beats of [figures.heartbeatsBefore, figures.heartbeatsDuring]) {
    expect(beats.beats).toBeGreaterThanOrEqual(1);
    expect(beats).toMatchObject({ missing: 0, roundTrip: { p99Ms: expect.any(Number) } });
  }
  expect(figures.recordsFailed).toBe(0);
  expect(figures.recordsBefore.sent).toBeGreaterThanOrEqual(1);
  expect(figures.recordsDuring.ack).toMatchObject({ count: figures.recordsDuring.sent });
}, 70_000);

it('bench --only burst --store postgres stores the burst in PostgreSQL and gives its CPU per record beside the bridge and the relay', async () => {
  dir = makeTempDir('facegate-bench-test-');
  const out = join(dir, 'figures.json');
  const run = await bench(['--quick', '--only', 'burst', '--store', 'postgres', '--transport', 'embedded', '--records', '200', '--out', out]);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toMatch(
    /^scenario\s+transport\s+store\s+sync\s+terminals\s+records\s+acked\/s\s+stored\/s.*CPU µs\/rec\s+PG µs\/rec\s+idle MB\s+RSS MB$/m,
  );
  const report = JSON.parse(readFileSync(out, 'utf8')) as { results: any[]; ceilings: any[]; againstCeilings: { figure: string; ceiling: string }[] };
  // SQLITE_SYNC means nothing to PostgreSQL: one run, counted in its database.
  expect(report.results.map((r) => [r.scenario, r.transport, r.store])).toEqual([['burst', 'embedded', 'postgres']]);
  const [{ figures, process }] = report.results;
  // --quick's warm-up went first and is not among the burst's records.
  expect(figures).toMatchObject({ records: 200, stored: 200, lost: 0, duplicates: 0, timedOut: false, warmedUp: 500 });
  expect(process.bridgeCpuSeconds).toBeGreaterThan(0);
  expect(process.postgresCpuSeconds).toBeGreaterThan(0);
  expect(process.bridgeIdleRssBytes).toBeGreaterThan(0);
  // The relay of the same records alone, with its own CPU per record, and the lines that set the two side by side.
  expect(report.ceilings).toEqual([
    expect.objectContaining({ ceiling: 'relay', kind: 'image', figures: expect.objectContaining({ received: 200, warmedUp: 500 }) }),
  ]);
  expect(report.ceilings[0].figures.cpuMicrosPerRecord).toBeGreaterThan(0);
  expect(report.againstCeilings.map((row) => [row.figure, row.ceiling])).toEqual([
    ['stored/s', 'relay msgs/s'],
    ['bridge CPU µs/rec', 'relay CPU µs/rec'],
    ['bridge+PG CPU µs/rec', 'relay CPU µs/rec'],
  ]);
}, 60_000);
