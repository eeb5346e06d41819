import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, spawnCli, startCli } from '../../src/kit/cli.ts';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { localTimestamp } from '../../src/lib/units.ts';

// README §Backup and restore, §Doctor, §Configuration (.env): the operator's
// commands, run as the operator runs them, beside a running bridge or not.

const TOKEN = 'ops-test-token-0123456789';
const RECORDS = 20;

let bridge: CliProcess | undefined;
let dirs: string[] = [];
let servers: Server[] = [];

afterEach(async () => {
  await bridge?.kill('SIGKILL');
  bridge = undefined;
  for (const server of servers) server.close();
  servers = [];
  for (const dir of dirs) removeTempDir(dir);
  dirs = [];
});

function tempDir(): string {
  const dir = makeTempDir('facegate-ops-');
  dirs.push(dir);
  return dir;
}

async function environment(dataDir = tempDir()) {
  return { DATA_DIR: dataDir, PORT: String(await freePort()), BROKER_PORT: String(await freePort()), ADMIN_TOKEN: TOKEN };
}

/** A one-shot command of the CLI: its exit code and its lines. */
async function run(env: Record<string, string>, args: string[], cwd?: string) {
  const child = spawnCli(env, args, { cwd });
  const code = await child.exited;
  return { code, lines: child.output.filter(Boolean) };
}

async function eventCount(port: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/api/events?type=face.verified&limit=500`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await response.json()) as { items: unknown[] }).items.length;
}

/** Stores face records through a terminal, acknowledged each, their times `aheadMs` ahead of the site's clock. */
async function storeRecords(env: { BROKER_PORT: string }, count = RECORDS, aheadMs = 0) {
  const t = await connectTerminal(`mqtt://127.0.0.1:${env.BROKER_PORT}`, 'OPS1', { reconnectPeriod: 0 });
  for (let i = 0; i < count; i += 1) {
    const time = localTimestamp(new Date(Date.now() + aheadMs));
    await t.send(verifiedRecordU([verifiedRecord({ num: String(2000 + i), time, verifiedCode: aheadMs ? 1 : 0 })]), 1);
  }
  await t.client.endAsync();
}

describe('the operator’s commands', () => {
  it('--version prints the version', async () => {
    const { code, lines } = await run({}, ['--version']);
    expect(code).toBe(0);
    expect(lines).toEqual([expect.stringMatching(/^facegate \d+\.\d+\.\d+/)]);
  });

  it('backs up while the bridge runs, refuses to restore then, and restores with every event once it is stopped', async () => {
    const env = await environment();
    bridge = await startCli(env);
    await storeRecords(env);
    expect(await eventCount(env.PORT)).toBe(RECORDS);

    const file = join(tempDir(), 'facegate-backup.db');
    const made = await run(env, ['backup', file]);
    expect(made.code).toBe(0);
    expect(made.lines).toEqual([expect.stringMatching(new RegExp(`^facegate backup: wrote .*integrity ok\\): ${RECORDS + 1} events`))]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // A name taken already is refused: a backup never overwrites.
    expect((await run(env, ['backup', file])).code).toBe(1);

    const refused = await run(env, ['restore', file]);
    expect(refused.code).toBe(1);
    expect(refused.lines).toEqual([expect.stringMatching(/^facegate restore: a facegate bridge is running on .*: stop it before restoring/)]);
    expect(await eventCount(env.PORT)).toBe(RECORDS);

    // Into a fresh data dir, once no bridge runs: the same events come back.
    await bridge.stop();
    const elsewhere = await environment();
    const restored = await run(elsewhere, ['restore', file]);
    expect(restored.code).toBe(0);
    expect(restored.lines[0]).toMatch(new RegExp(`^facegate restore: restored .* \\(.*integrity ok\\): ${RECORDS + 1} events`));
    bridge = await startCli(elsewhere);
    expect(await eventCount(elsewhere.PORT)).toBe(RECORDS);
  });

  it('refuses to restore what is not a whole facegate store, and leaves the store as it was', async () => {
    const env = await environment();
    const junk = join(tempDir(), 'junk.db');
    writeFileSync(junk, 'not a database at all');
    const result = await run(env, ['restore', junk]);
    expect(result.code).toBe(1);
    expect(result.lines[0]).toMatch(/^facegate restore: .*junk\.db (cannot be|is not)/);
    expect(existsSync(join(env.DATA_DIR, 'facegate.db'))).toBe(false);
    expect((await run(env, ['restore'])).code).toBe(2);
  });

  it('doctor: a healthy setup passes every check; a port another program holds and a damaged store fail it', async () => {
    const env = await environment();
    bridge = await startCli(env);
    await storeRecords(env);
    const healthy = await run(env, ['doctor']);
    expect(healthy.code).toBe(0);
    const report = healthy.lines.join('\n');
    for (const check of ['Node.js', 'time zone', 'HTTP port', 'broker port', 'open files', 'disk sync', 'database', 'broker'])
      expect(report).toMatch(new RegExp(`^(ok|warn) +${check} `, 'm'));
    expect(report).toMatch(/^ok +HTTP port +.*served by the facegate running now/m);
    expect(report).toMatch(/^ok +database .* \d+ events, quick check ok; image segments: 1, \d+\.\d MB$/m);
    expect(report).toMatch(/^ok +terminal times +the last 20 records agree with /m);
    // Terminals whose times are 8 h ahead of receipt: the zone (or their clocks) is wrong, and doctor says so.
    await storeRecords(env, 30, 8 * 3_600_000);
    expect((await run(env, ['doctor'])).lines.join('\n')).toMatch(
      /^warn +terminal times +the last 50 records carry times 8\.0 h ahead of their receipt in .*: set TZ/m,
    );
    await bridge.stop();
    bridge = undefined;

    // Another program on the broker port, and a store that is not one.
    const taken = createServer();
    servers.push(taken);
    await new Promise<void>((resolve) => taken.listen(Number(env.BROKER_PORT), '127.0.0.1', resolve));
    writeFileSync(join(env.DATA_DIR, 'facegate.db'), Buffer.alloc(8192, 7));
    rmSync(join(env.DATA_DIR, 'facegate.db-wal'), { force: true });
    const broken = await run(env, ['doctor']);
    expect(broken.code).toBe(1);
    const text = broken.lines.join('\n');
    expect(text).toMatch(/^fail +broker port +127\.0\.0\.1:\d+ is taken by another program/m);
    expect(text).toMatch(/^fail +database /m);
    expect(text).toMatch(/^facegate doctor: 2 failed/m);
  });

  it('doctor against Mosquitto: the README’s settings keep queued messages, stock ones fail the broker queue check', async () => {
    const brokers: Mosquitto[] = [];
    try {
      for (const extra of [[], ['max_queued_messages 1000', 'max_inflight_messages 20']]) {
        const broker = await startMosquitto(extra);
        brokers.push(broker);
        const env = { ...(await environment()), MQTT_URL: broker.url };
        const result = await run(env, ['doctor']);
        const text = result.lines.join('\n');
        expect(text).toMatch(/^ok +broker +mqtt:\/\/127\.0\.0\.1:\d+ takes the bridge's connection/m);
        if (extra.length === 0) {
          expect(text).toMatch(/^ok +broker queue +kept all 1200 messages/m);
          expect(result.code).toBe(0);
        } else {
          expect(text).toMatch(/^fail +broker queue +dropped \d+ of 1200 messages .*max_queued_messages 0/m);
          expect(result.code).toBe(1);
        }
      }
    } finally {
      for (const broker of brokers) await broker.dispose();
    }
  });

  it('reads .env from the working directory, and the real environment wins over it', async () => {
    const cwd = tempDir();
    const env = await environment();
    writeFileSync(join(cwd, '.env'), `PORT=${env.PORT}\nBROKER_PORT=1\nADMIN_TOKEN=${TOKEN}\nDATA_DIR=${env.DATA_DIR}\n`);
    bridge = spawnCli({ BROKER_PORT: env.BROKER_PORT }, [], { cwd });
    await bridge.started;
    const health = await fetch(`http://127.0.0.1:${env.PORT}/healthz`);
    expect(health.status).toBe(200);
    const t = await connectTerminal(`mqtt://127.0.0.1:${env.BROKER_PORT}`, 'ENV1', { reconnectPeriod: 0 });
    const answer = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' }, 0);
    await answer;
    await t.client.endAsync();
  });
});

describe('dashboard and alert-rules', () => {
  it('print an importable Grafana dashboard and a Prometheus rule file', async () => {
    const board = await run({}, ['dashboard']);
    expect(board.code).toBe(0);
    const parsed = JSON.parse(board.lines.join('\n'));
    expect(parsed).toMatchObject({ title: 'facegate', templating: { list: [{ name: 'datasource', type: 'datasource' }] } });
    expect(parsed.panels.length).toBeGreaterThan(10);
    const rules = await run({}, ['alert-rules']);
    expect(rules.code).toBe(0);
    expect(rules.lines.slice(0, 3)).toEqual(['groups:', '  - name: facegate', '    rules:']);
    expect(rules.lines.filter((line) => line.startsWith('      - alert: ')).length).toBeGreaterThan(4);
  });
});
