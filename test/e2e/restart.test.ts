import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort, refused } from '../../src/kit/ports.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { countIn } from '../support/outside-reads.ts';

// README §Quick start: `npm start` builds only when a source changed, so
// after a crash the same command brings the bridge back at once. Readiness
// is asserted here, not time: the time is measured (README §Performance).

const ROOT = new URL('../../', import.meta.url).pathname;
const cleanup = cleanupAfterEach();

// A test that times out must not leave npm and a bridge running behind it.
const groups = new Set<number>();
process.once('exit', () => {
  for (const group of groups) killGroup(group);
});

function killGroup(group: number) {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** `npm start` as the README runs it, in a process group of its own: SIGKILL reaches npm, its shell and the bridge at once. */
function npmStart(env: Record<string, string>) {
  const proc: ChildProcess = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const group = proc.pid!;
  groups.add(group);
  const output: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!]) stream.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n')));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    output,
    async kill() {
      killGroup(group);
      groups.delete(group);
      await exited;
    },
  };
}

async function ready(httpPort: number): Promise<void> {
  await until(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined))?.status === 200);
}

it('is ready again after a SIGKILL through the same npm start, without building', async () => {
  // Built by `npm test` before the suite: a build now would replace dist/ under the other tests' bridges.
  const check = spawnSync(process.execPath, ['src/build-if-changed.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
  expect(check.stderr, 'dist/ must be current (npm run build)').toBe('');
  expect(check.status).toBe(0);
  const builtAt = statSync(join(ROOT, 'dist', '.built')).mtimeMs;

  const dataDir = makeTempDir('facegate-restart-');
  cleanup(() => removeTempDir(dataDir));
  const [httpPort, brokerPort] = [await freePort(), await freePort()];
  const env = { DATA_DIR: dataDir, PORT: String(httpPort), BROKER_PORT: String(brokerPort), ADMIN_TOKEN: 'restart-test-token-0123' };

  const first = npmStart(env);
  cleanup(() => first.kill());
  await ready(httpPort);
  // Acknowledged, so committed: it must be there after the crash.
  const t = await connectTerminal(`mqtt://127.0.0.1:${brokerPort}`, 'RESTART1', { reconnectPeriod: 0 });
  cleanup(() => t.client.endAsync(true));
  await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
  await first.kill();
  await until(async () => (await refused(httpPort)) && (await refused(brokerPort)));

  const startedAt = performance.now();
  const second = npmStart(env);
  cleanup(() => second.kill());
  await ready(httpPort);
  console.log(`restart: /readyz 200 ${Math.round(performance.now() - startedAt)} ms after npm start`);

  // /readyz may answer a moment before the start's last line is written.
  await until(() => second.output.some((line) => line.includes('"facegate started"')));
  expect(second.output.filter((line) => line.includes('npm run build') || line.includes('tsc -p'))).toEqual([]);
  expect(statSync(join(ROOT, 'dist', '.built')).mtimeMs).toBe(builtAt);
  expect(countIn(dataDir, "select count(*) as n from events where type = 'face.verified' and device_sn = 'RESTART1'")).toBe(1);
});
