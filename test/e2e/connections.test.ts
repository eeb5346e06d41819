import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { generate } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, spawnCli, startCli } from '../../src/kit/cli.ts';
import { freePort } from '../../src/kit/ports.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';

// README §Connections and memory, as an operator runs the bridge: the
// compiled CLI in a process of its own, with the open-file limit of a small
// box, against a flood of idle MQTT connections.

const TOKEN = 'connections-test-token-0123';

let bridge: CliProcess | undefined;
let dataDir: string | undefined;
let sockets: Socket[] = [];
let terminals: Terminal[] = [];

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets = [];
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  terminals = [];
  await bridge?.kill('SIGKILL');
  bridge = undefined;
  if (dataDir) removeTempDir(dataDir);
  dataDir = undefined;
});

async function environment() {
  dataDir = makeTempDir('facegate-connections-');
  return { DATA_DIR: dataDir, PORT: String(await freePort()), BROKER_PORT: String(await freePort()), ADMIN_TOKEN: TOKEN };
}

/** An idle MQTT client: a raw socket that sends its CONNECT (keepalive 0, "never check") and nothing more. */
function idleClient(port: number, clientId: string): { socket: Socket; outcome: Promise<'connack' | 'closed'> } {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {}); // closed at once by the broker: a reset, at times
  socket.once('connect', () => socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 })));
  const outcome = new Promise<'connack' | 'closed'>((resolve) => {
    socket.once('data', () => resolve('connack'));
    socket.once('close', () => resolve('closed'));
  });
  return { socket, outcome };
}

/** The JSON log lines the bridge wrote so far. */
function logs(b: CliProcess): any[] {
  return b.output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
}

async function metrics(port: string): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function gauge(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
}

describe('the connection bound', () => {
  it('holds what the open-file limit allows, closes the rest at once, and /healthz and a terminal still get through', async () => {
    const env = await environment();
    bridge = spawnCli(env, [], { fileLimit: 512 });
    await bridge.started;
    // The start says the file limit, not MAX_CONNECTIONS, bounds the broker, and how to raise it.
    const warning = logs(bridge).find((line) => line.fileLimit === 512);
    expect(warning?.msg).toMatch(/LimitNOFILE=.*ulimit -n/);
    const cap: number = warning.brokerConnections;
    expect(cap).toBeGreaterThan(0);
    expect(cap + warning.httpConnections).toBeLessThan(512);

    // The attack: more idle connections than the process has descriptors.
    const attempts = 600;
    const port = Number(env.BROKER_PORT);
    const outcomes = await Promise.all(Array.from({ length: attempts }, (_, i) => idleClient(port, `idle-${i}`).outcome));
    const admitted = outcomes.filter((o) => o === 'connack').length;
    console.log(`connections: file limit 512, ${attempts} idle connections: ${admitted} admitted (bound ${cap}), ${attempts - admitted} closed at once`);
    expect(admitted).toBe(cap);

    const health = await fetch(`http://127.0.0.1:${env.PORT}/healthz`);
    expect(health.status).toBe(200);
    const text = await metrics(env.PORT);
    expect(gauge(text, 'facegate_broker_connections')).toBe(cap);
    expect(gauge(text, 'facegate_broker_connections_refused_total')).toBe(attempts - cap);
    // Hundreds of refusals, one warning line (at most one a minute).
    expect(logs(bridge).filter((line) => line.msg?.startsWith('MQTT connection refused'))).toHaveLength(1);

    // A terminal over the bound is closed at once.
    const over = idleClient(port, 'terminal-OVER1');
    expect(await over.outcome).toBe('closed');

    // Once an idle connection is gone, a terminal takes its place and is served.
    sockets.find((socket) => !socket.destroyed)!.destroy();
    await until(async () => gauge(await metrics(env.PORT), 'facegate_broker_connections') === cap - 1);
    const t = await connectTerminal(`mqtt://127.0.0.1:${port}`, 'FREE1', { reconnectPeriod: 0 });
    terminals.push(t);
    const answer = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' }, 0);
    await answer;
  });

  it('keeps serving when the process runs out of descriptors, and answers again once it has some', async () => {
    const env = await environment();
    bridge = await startCli(env);
    const pid = bridge.proc.pid!;
    // Lower the running process's limit to its lowest free descriptor: every
    // one below is in use, so no accept can succeed, not even by way of the
    // descriptor libuv keeps in reserve for this case (it lies above).
    const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
    let lowestFree = 0;
    while (open.has(lowestFree)) lowestFree += 1;
    expect(lowestFree).toBeGreaterThan(2);
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${lowestFree}:`]);

    // Neither server can take a connection now: each waits in the kernel's
    // backlog, unanswered (Node 20), or is accepted on libuv's reserve
    // descriptor and closed at once (Node 24): refused either way. A
    // descriptor closed since the limit was set lets one connection in: idle
    // MQTT clients probe until none gets through, and each one admitted holds
    // its descriptor for good (keepalive 0), so no probe frees one again. An
    // answered HTTP request would (at its keep-alive timeout), so HTTP is
    // probed once, at the end.
    const within1s = (p: Promise<unknown>) =>
      Promise.race([
        p.then(
          () => 'answered',
          () => 'failed',
        ),
        new Promise((resolve) => setTimeout(resolve, 1000, 'unanswered')),
      ]);
    const mqttClient = () =>
      idleClient(Number(env.BROKER_PORT), `starved-${sockets.length}`).outcome.then((o) => (o === 'connack' ? o : Promise.reject(new Error(o))));
    await until(async () => (await within1s(mqttClient())) !== 'answered');
    const healthz = fetch(`http://127.0.0.1:${env.PORT}/healthz`, { signal: AbortSignal.timeout(1000) });
    await expect(healthz).rejects.toThrow(/aborted|timeout|fetch failed/i);
    expect(bridge.proc.exitCode).toBeNull();

    execFileSync('prlimit', [`--pid=${pid}`, '--nofile=4096:']);
    await until(() =>
      fetch(`http://127.0.0.1:${env.PORT}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status === 200,
        () => false,
      ),
    );
    const t = await connectTerminal(`mqtt://127.0.0.1:${env.BROKER_PORT}`, 'BACK1', { reconnectPeriod: 0 });
    terminals.push(t);
    const answer = t.next((m) => m.cmd === 'heartD');
    await t.send({ cmd: 'heartU' }, 0);
    await answer;
    expect(bridge.proc.exitCode).toBeNull();
  });
});
