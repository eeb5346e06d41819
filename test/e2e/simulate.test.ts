import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, spawnCli } from '../../src/kit/cli.ts';
import { refusedOnPurpose } from '../../src/kit/roster.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// `facegate simulate` as a user runs it (README §Simulator):
// the compiled CLI in a process of its own, against the real bridge.

let bridge: TestBridge | undefined;
let sim: CliProcess | undefined;

afterEach(async () => {
  await sim?.stop();
  sim = undefined;
  await bridge?.stop();
  bridge = undefined;
});

function simulate(args: string[], env: Record<string, string> = {}): CliProcess {
  return spawnCli(env, ['simulate', ...args]);
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
    unanswered: Number(line('commands unanswered')),
    enrolmentsRefused: Number(line('enrolments refused')),
    peopleHeld: Number(line('people held')),
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

  /** The simulator's terminals `prefix`0001… connected, and known to the bridge (from their first heartbeat on). */
  async function connected(b: TestBridge, prefix: string, count: number) {
    await sim!.waitForLine(new RegExp(` ${count} terminals? connected to mqtt://127\\.0\\.0\\.1:\\d+: ${prefix}0001`), 20_000, 'the simulator connecting');
    await b.eventsStored(count, (e) => e.type === 'device.online' && e.deviceSn.startsWith(prefix));
  }

  // The whole flow of README §Commands with replies: the simulator's answer is the command's reply.
  it("answers a command sent to a simulated terminal, and the bridge records the answer as the command's reply", async () => {
    const b = (bridge = await startBridge());
    sim = simulate(['--url', b.brokerUrl, '--terminals', '2', '--prefix', 'SIMD', '--records-every', '0', '--heartbeat', '60']);
    await connected(b, 'SIMD', 2);

    const answered = sim.waitForLine(/ SIMD0002 → openDoorU code 0$/, undefined, 'the reply to openDoorD');
    const sent = await b.api('POST', '/api/devices/SIMD0002/commands', { cmd: 'openDoorD', door: 1 });
    expect(sent.status).toBe(202);
    expect(sent.json).toMatchObject({ device_sn: 'SIMD0002', status: 'published' });
    await sim.waitForLine(/ SIMD0002 ← openDoorD door=1$/, undefined, 'the command arriving');
    await answered;
    const [replied] = await b.eventsStored(1, (e) => (e.type as string) === 'command.replied'); // a type of the commands' side
    expect(replied.deviceSn).toBe('SIMD0002');
    const command = (await b.api('GET', `/api/commands/${sent.json.id}`)).json;
    expect(command).toMatchObject({ status: 'replied', reply: { cmd: 'openDoorU', code: 0, msg: 'ok', sn: 'SIMD0002' } });
    expect((await b.api('GET', `/api/events/${replied.id}`)).json).toMatchObject({ command_id: sent.json.id, device_sn: 'SIMD0002', cmd: 'openDoorD' });

    expect(await sim.kill('SIGTERM')).toBe(0);
    const summary = summaryOf(sim.output);
    expect(summary).toMatchObject({ stopped: true, total: 0, commands: 1, unanswered: 0, failures: 0 });
    // A matched reply is the command's, not also a device message.
    expect(b.count('events', "type = 'device.message'")).toBe(0);
  });

  it("echoes the bridge's REPLY_FIELD, so a reply is matched by its command's id", async () => {
    const b = (bridge = await startBridge({ REPLY_FIELD: 'tag' }));
    sim = simulate(['--url', b.brokerUrl, '--terminals', '1', '--prefix', 'SIMT', '--records-every', '0', '--heartbeat', '60'], { REPLY_FIELD: 'tag' });
    await sim.waitForLine(/^\S+ replies echo tag$/, undefined, 'the simulator naming the field it echoes');
    await connected(b, 'SIMT', 1);

    const sent = await b.api('POST', '/api/devices/SIMT0001/commands?wait=10s', { cmd: 'openDoorD' });
    expect(sent.status).toBe(200);
    expect(sent.json).toMatchObject({ id: expect.stringMatching(/^cmd_/), status: 'replied', reply: { cmd: 'openDoorU', tag: sent.json.id, code: 0 } });
    await sim.waitForLine(new RegExp(` SIMT0001 → openDoorU code 0 tag="${sent.json.id}"$`), undefined, 'the echo printed');
    expect(await sim.kill('SIGTERM')).toBe(0);
  });

  it('stays silent to the commands SIM_SILENT names, answers after SIM_REPLY_DELAY, and exits at once with a reply still owed', async () => {
    const b = (bridge = await startBridge());
    sim = simulate(['--url', b.brokerUrl, '--terminals', '1', '--prefix', 'SIMS', '--records-every', '0', '--heartbeat', '60'], {
      SIM_SILENT: 'openDoorD',
      SIM_REPLY_DELAY: '1h',
    });
    await sim.waitForLine(/^\S+ replies 3600000 ms late; no reply to openDoorD$/, undefined, 'the simulator saying how it answers');
    await connected(b, 'SIMS', 1);

    expect((await b.api('POST', '/api/devices/SIMS0001/commands', { cmd: 'openDoorD' })).status).toBe(202);
    await sim.waitForLine(/ SIMS0001 {3}openDoorD is silenced: no reply$/, undefined, 'the command left unanswered');
    expect((await b.api('POST', '/api/devices/SIMS0001/commands', { cmd: 'setParamD' })).status).toBe(202);
    await sim.waitForLine(/ SIMS0001 ← setParamD$/, undefined, 'the command whose answer waits an hour');
    // Stopped, it sends none of the answers it still owed, and does not wait for them.
    expect(await sim.kill('SIGTERM')).toBe(0);
    expect(summaryOf(sim.output)).toMatchObject({ stopped: true, commands: 0, unanswered: 1, failures: 0 });
    expect(sim.output.some((l) => l.includes('→ setParamU'))).toBe(false);
  });

  // README §People on a simulated terminal, through the bridge as its people sync would send the commands.
  it('enrols and removes people, refuses the share SIM_PERSON_FAILURES names by num, and lists them with --roster', async () => {
    const b = (bridge = await startBridge({ REPLY_FIELD: 'tag' }));
    sim = simulate(['--url', b.brokerUrl, '--terminals', '2', '--prefix', 'SIMP', '--records-every', '0', '--heartbeat', '60', '--roster'], {
      REPLY_FIELD: 'tag',
      SIM_PERSON_FAILURES: '0.5',
    });
    await sim.waitForLine(/^\S+ replies echo tag; enrolments refused at a share of 0\.5$/, undefined, 'the simulator saying how it answers');
    await connected(b, 'SIMP', 2);

    const jpeg = readFileSync(new URL('../../fixtures/face-2.jpg', import.meta.url));
    const hash = createHash('sha256').update(jpeg).digest('hex').slice(0, 12);
    const nums = ['1001', '1002', '1003', '1004', '1005', '1006'];
    const refused = nums.filter((num) => refusedOnPurpose(num, 0.5));
    // The hash refuses some of these and takes the others: both answers are seen.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(nums.length);
    const send = async (body: object) => {
      const answer = await b.api('POST', '/api/devices/SIMP0001/commands?wait=10s', body);
      expect(answer.status).toBe(200);
      return answer.json.reply;
    };
    for (const num of nums) {
      expect(await send({ cmd: 'addPersonD', num, name: `Person ${num}`, photo: jpeg.toString('base64'), cardNo: `C${num}` })).toMatchObject(
        refused.includes(num) ? { cmd: 'addPersonU', num, code: 1001, msg: 'bad photo' } : { cmd: 'addPersonU', num, code: 0 },
      );
    }
    const held = nums.filter((num) => !refused.includes(num));
    const removed = held[0];
    expect(await send({ cmd: 'deletePersonD', num: removed })).toMatchObject({ cmd: 'deletePersonU', num: removed, code: 0 });
    expect(await send({ cmd: 'addPersonD', num: '2001', name: 'No JPEG', photo: Buffer.from('plain text').toString('base64') })).toMatchObject({
      code: 1002,
      msg: 'photo is not a JPEG',
    });
    expect(await send({ cmd: 'queryPersonD' })).toMatchObject({ cmd: 'queryPersonU', code: 0, nums: held.slice(1), total: held.length - 1 });
    await sim.waitForLine(
      new RegExp(` SIMP0001 → addPersonU code 1001 num "${refused[0]}" \\(bad photo\\), \\d+ held tag="cmd_`),
      undefined,
      'a refusal printed',
    );

    expect(await sim.kill('SIGTERM')).toBe(0);
    expect(summaryOf(sim.output)).toMatchObject({ commands: nums.length + 3, enrolmentsRefused: refused.length + 1, peopleHeld: held.length - 1, failures: 0 });
    const at = sim.output.findIndex((l) => l.startsWith('  people held '));
    expect(sim.output.slice(at + 1, at + 2 + held.length)).toEqual([
      `    SIMP0001          ${held.length - 1}`,
      ...held.slice(1).map((num) => `      "${num}" "Person ${num}" photo ${jpeg.length} bytes ${hash} {"cardNo":"C${num}"}`),
      '    SIMP0002          0',
    ]);
  });

  it('prints its options with --help', async () => {
    sim = simulate(['--help']);
    expect(await sim.exited).toBe(0);
    expect(sim.output[0]).toBe('Usage: facegate simulate [options]');
    for (const flag of [
      '--url',
      '--terminals',
      '--count',
      '--records-every',
      '--stranger-ratio',
      '--qos',
      '--uplink',
      '--reply-field',
      '--reply-delay',
      '--silent',
      '--person-failures',
      '--roster',
    ])
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
    [['--person-failures', '2'], /^facegate simulate: --person-failures 2: expected a number from 0 to 1 \(try facegate simulate --help\)$/],
    [
      ['--reply-delay', 'soon'],
      /^facegate simulate: --reply-delay soon: expected a duration such as 500ms or 2s, at most 1h \(try facegate simulate --help\)$/,
    ],
  ])('exits with code 2 and one line for %j', async (args, line) => {
    sim = simulate(args);
    expect(await sim.exited).toBe(2);
    expect(sim.output.filter(Boolean)).toHaveLength(1);
    expect(sim.output[0]).toMatch(line);
  });

  it.each([
    [
      { SIM_REPLY_DELAY: '5 s' },
      /^facegate simulate: invalid SIM_REPLY_DELAY="5 s": expected a duration such as 500ms or 2s, at most 1h \(try facegate simulate --help\)$/,
    ],
    [{ SIM_SILENT: 'openDoor' }, /^facegate simulate: invalid SIM_SILENT="openDoor": expected up to 100 command names /],
    [{ REPLY_FIELD: 'a.b' }, /^facegate simulate: invalid REPLY_FIELD="a\.b": expected a field name /],
    [
      { SIM_PERSON_FAILURES: 'half' },
      /^facegate simulate: invalid SIM_PERSON_FAILURES="half": expected a number from 0 to 1 \(try facegate simulate --help\)$/,
    ],
  ])('exits with code 2 and one line naming the variable for %j', async (env, line) => {
    sim = simulate([], env);
    expect(await sim.exited).toBe(2);
    expect(sim.output.filter(Boolean)).toHaveLength(1);
    expect(sim.output[0]).toMatch(line);
  });
});
