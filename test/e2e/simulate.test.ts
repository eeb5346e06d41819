import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, spawnCli } from '../../src/kit/cli.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// `facegate simulate` as a user runs it (README §Try it without hardware):
// the compiled CLI in a process of its own, against the real bridge.

let bridge: TestBridge | undefined;
let sim: CliProcess | undefined;

afterEach(async () => {
  await sim?.stop();
  sim = undefined;
  await bridge?.stop();
  bridge = undefined;
});

function simulate(args: string[]): CliProcess {
  return spawnCli({}, ['simulate', ...args]);
}

/** The figures of the summary printed on exit, by the label of their line. */
function summaryOf(output: string[]) {
  const line = (label: string) => {
    const found = output.find((l) => l.startsWith(`  ${label} `));
    expect(found, `summary line "${label}" in:\n${output.join('\n')}`).toBeDefined();
    return found!.slice(label.length + 2).trim();
  };
  const records = line('records sent').match(/^(\d+) \((\d+) verified, (\d+) refused, (\d+) strangers?\)$/);
  expect(records).not.toBeNull();
  const [total, verified, refused, strangers] = records!.slice(1).map(Number);
  return {
    stopped: output.some((l) => /^stopped after \d+\.\d s$/.test(l)),
    total,
    verified,
    refused,
    strangers,
    heartbeats: Number(line('heartbeats sent')),
    heartD: Number(line('heartD received').match(/^\d+/)![0]),
    commands: Number(line('commands answered')),
    failures: Number(line('publish failures')),
  };
}

async function heartUsReceived(b: TestBridge): Promise<number> {
  const match = (await b.metric('facegate_messages_in_total')).match(/^facegate_messages_in_total\{cmd="heartU"\} (\d+)$/m);
  return match ? Number(match[1]) : 0;
}

describe('facegate simulate', () => {
  it('sends exactly --count records from its terminals, each stored as an event, and sums them up on exit', async () => {
    const b = (bridge = await startBridge());
    sim = simulate([
      '--url',
      b.brokerUrl,
      '--terminals',
      '3',
      '--prefix',
      'SIMC',
      '--count',
      '12',
      '--records-every',
      '0.05',
      '--heartbeat',
      '0.5',
      '--stranger-ratio',
      '0.3',
      '--rejected-ratio',
      '0.3',
      '--quiet',
    ]);
    expect(await sim.exited).toBe(0);
    const summary = summaryOf(sim.output);
    expect(summary.stopped).toBe(true);
    expect(summary.total).toBe(12);
    expect(summary.verified + summary.refused + summary.strangers).toBe(12);
    expect(summary.failures).toBe(0);
    expect(summary.commands).toBe(0);

    // It exits once every record is acknowledged, and the bridge acknowledges after the commit (README §Guarantees).
    expect(b.count('events', "type like 'face.%'")).toBe(12);
    expect(b.count('events', "type = 'face.verified'")).toBe(summary.verified);
    expect(b.count('events', "type = 'face.rejected'")).toBe(summary.refused);
    expect(b.count('events', "type = 'face.stranger'")).toBe(summary.strangers);
    const senders = b.db().prepare("select distinct device_sn as sn from events where type like 'face.%' order by sn").all();
    expect(senders).toEqual([{ sn: 'SIMC0001' }, { sn: 'SIMC0002' }, { sn: 'SIMC0003' }]);
    // Each record carries a JPEG of its own.
    const [face] = b.stored.filter((e) => e.type.startsWith('face.'));
    expect((await b.api('GET', `/api/events/${face.id}`)).json).toMatchObject({ has_image: true });

    // Every heartbeat it counts reached the bridge; the answers it counts are at most those (heartD is QoS 0).
    expect(summary.heartbeats).toBeGreaterThanOrEqual(3);
    await until(async () => (await heartUsReceived(b)) === summary.heartbeats);
    expect(summary.heartD).toBeLessThanOrEqual(summary.heartbeats);
  });

  it("answers a command sent to a simulated terminal, the reply stored as the command's command.replied event", async () => {
    const b = (bridge = await startBridge());
    sim = simulate(['--url', b.brokerUrl, '--terminals', '2', '--prefix', 'SIMD', '--records-every', '0', '--heartbeat', '60']);
    await sim.waitForLine(
      / 2 terminals connected to mqtt:\/\/127\.0\.0\.1:\d+: SIMD0001…SIMD0002 \(upLink fungxi_SIMD0001_upLink\)$/,
      undefined,
      'the simulator connecting',
    );
    // A terminal is known to the bridge from its first heartbeat on.
    await b.eventsStored(2, (e) => e.type === 'device.online' && e.deviceSn.startsWith('SIMD'));

    const reply = sim.waitForLine(/ SIMD0002 → openDoorU code 0$/, undefined, 'the reply to openDoorD');
    const sent = await b.api('POST', '/api/devices/SIMD0002/commands', { cmd: 'openDoorD', door: 1 });
    expect(sent.status).toBe(202);
    expect(sent.json).toMatchObject({ device_sn: 'SIMD0002', status: 'published' });
    await sim.waitForLine(/ SIMD0002 ← openDoorD door=1$/, undefined, 'the command arriving');
    await reply;
    const [message] = await b.eventsStored(1, (e) => e.type === 'command.replied');
    expect(message.deviceSn).toBe('SIMD0002');
    expect((await b.api('GET', `/api/events/${message.id}`)).json).toMatchObject({
      command_id: sent.json.id,
      reply: { cmd: 'openDoorU', code: 0, msg: 'ok', sn: 'SIMD0002' },
    });

    expect(await sim.kill('SIGTERM')).toBe(0);
    const summary = summaryOf(sim.output);
    expect(summary).toMatchObject({ stopped: true, total: 0, commands: 1, failures: 0 });
    expect(b.count('events', "type = 'command.replied'")).toBe(1);
    expect(b.count('events', "type = 'device.message'")).toBe(0);
  });

  it('prints its options with --help', async () => {
    sim = simulate(['--help']);
    expect(await sim.exited).toBe(0);
    expect(sim.output[0]).toBe('Usage: facegate simulate [options]');
    for (const flag of ['--url', '--terminals', '--count', '--records-every', '--stranger-ratio', '--qos', '--uplink'])
      expect(sim.output.join('\n')).toContain(`  ${flag} `);
  });

  it.each([
    [['--terminals', '0'], /^facegate simulate: --terminals 0: expected a number from 1 to 9999 \(try facegate simulate --help\)$/],
    [['--count', '2.5'], /^facegate simulate: --count 2\.5: expected a whole number from 1 to \d+ \(try facegate simulate --help\)$/],
    [['--qos', '2'], /^facegate simulate: --qos 2: expected 0 or 1 /],
    [['--url', 'http://127.0.0.1:1883'], /^facegate simulate: --url http:\/\/127\.0\.0\.1:1883: expected an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL /],
    [['--stranger-ratio', '0.7', '--rejected-ratio', '0.5'], /^facegate simulate: --stranger-ratio and --rejected-ratio add up to more than 1 /],
    [['--uplink', 'up/+/{sn}'], /^facegate simulate: --uplink up\/\+\/\{sn\}: expected a topic holding \{sn\} exactly once and no \+ or # /],
    [['--bogus'], /^facegate simulate: Unknown option '--bogus'/],
    [['--rejected-ratio', '-0.1'], /^facegate simulate: Option '--rejected-ratio' argument is ambiguous\. /],
  ])('exits with code 2 and one line for %j', async (args, line) => {
    sim = simulate(args);
    expect(await sim.exited).toBe(2);
    expect(sim.output.filter(Boolean)).toHaveLength(1);
    expect(sim.output[0]).toMatch(line);
  });
});
