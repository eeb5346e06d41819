import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectTerminal, DOWNLINK, type Terminal, type TerminalOptions, UPLINK } from '../../src/kit/terminal.ts';

// The kit's terminal answering commands as a terminal does (README §Commands
// with replies), on a bare aedes broker: a client in the bridge's
// place publishes on the downLink and reads every upLink, so what the
// terminal sends is seen as it sent it, whatever the bridge would make of it.

let broker: Aedes;
let server: Server;
let url: string;
let bridgeSide: MqttClient;
/** Every upLink message, parsed, in the order the broker relayed them. */
const uplinked: { topic: string; body: Record<string, any> }[] = [];
let terminals: Terminal[] = [];

beforeAll(async () => {
  broker = await Aedes.createBroker();
  server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  bridgeSide = await mqtt.connectAsync(url, { clientId: 'bridge-side' });
  // As the bridge does: the upLinks' wildcard (the whole level), each topic read back to its serial.
  bridgeSide.on('message', (topic, payload) => {
    if (UPLINK.serialOf(topic) !== undefined) uplinked.push({ topic, body: JSON.parse(payload.toString()) });
  });
  await bridgeSide.subscribeAsync(UPLINK.wildcard, { qos: 1 });
});

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.end()));
  terminals = [];
  uplinked.length = 0;
});

afterAll(async () => {
  await bridgeSide?.endAsync();
  await new Promise<void>((resolve) => broker?.close(() => resolve()));
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

async function terminal(sn: string, options: TerminalOptions = {}): Promise<Terminal> {
  const t = await connectTerminal(url, sn, options);
  terminals.push(t);
  return t;
}

/** Publishes `commands` on the terminal's downLink, in order, each once the broker has it. */
async function command(sn: string, ...commands: (object | string)[]) {
  for (const c of commands) await bridgeSide.publishAsync(DOWNLINK.topicOf(sn), typeof c === 'string' ? c : JSON.stringify(c), { qos: 1 });
}

/** The upLink bodies of `sn`, once there are `count` of them. */
async function uplinksOf(sn: string, count: number): Promise<Record<string, any>[]> {
  const topic = `fungxi_${sn}_upLink`;
  for (;;) {
    const bodies = uplinked.filter((m) => m.topic === topic).map((m) => m.body);
    if (bodies.length >= count) return bodies;
    await new Promise((resolve) => bridgeSide.once('message', resolve));
  }
}

describe("the kit's terminal", () => {
  it('answers each command xxxD with xxxU and code 0, and nothing else: not heartD, another name, or what is not a command', async () => {
    const answered: string[] = [];
    await terminal('ANS1', { answer: { onAnswered: (answer, cmd) => answered.push(`${cmd.cmd}→${answer.cmd}`) } });
    await command('ANS1', { cmd: 'heartD', time: '2026-11-22 10:00:00' }, { cmd: 'reboot' }, 'not json', { cmd: 42 }, [1, 2]);
    await command('ANS1', { cmd: 'openDoorD', door: 1 }, { cmd: 'setParamD', volume: 3 });
    // One terminal publishes in order: the two answers, and nothing before or between them.
    expect(await uplinksOf('ANS1', 2)).toEqual([
      { cmd: 'openDoorU', code: 0, msg: 'ok', sn: 'ANS1' },
      { cmd: 'setParamU', code: 0, msg: 'ok', sn: 'ANS1' },
    ]);
    expect(answered).toEqual(['openDoorD→openDoorU', 'setParamD→setParamU']);
  });

  it('answers nothing unless told to: the tests’ terminals by default', async () => {
    const quiet = await terminal('ANS2');
    const received = quiet.next((m) => m.cmd === 'openDoorD');
    await command('ANS2', { cmd: 'openDoorD' });
    await received;
    // An answer would have been published when the command arrived, before this.
    await quiet.send({ cmd: 'markU' });
    expect(await uplinksOf('ANS2', 1)).toEqual([{ cmd: 'markU' }]);
  });

  it('echoes the REPLY_FIELD value of a command that carries it, and answers one that does not without it', async () => {
    await terminal('ANS3', { answer: { replyField: 'tag' } });
    await command('ANS3', { cmd: 'openDoorD', tag: 'cmd_b5aInlABrhf5SCbOOMacUw' }, { cmd: 'openDoorD' }, { cmd: 'getVersionD', tag: { nested: [1] } });
    expect(await uplinksOf('ANS3', 3)).toEqual([
      { cmd: 'openDoorU', tag: 'cmd_b5aInlABrhf5SCbOOMacUw', code: 0, msg: 'ok', sn: 'ANS3' },
      { cmd: 'openDoorU', code: 0, msg: 'ok', sn: 'ANS3' },
      { cmd: 'getVersionU', tag: { nested: [1] }, code: 0, msg: 'ok', sn: 'ANS3' },
    ]);
  });

  it('stays silent to the commands it is told, and answers the others', async () => {
    const silent = await terminal('ANS4', { answer: { silent: ['openDoorD'], replyField: 'tag' } });
    const ignored = silent.next((m) => m.cmd === 'openDoorD');
    await command('ANS4', { cmd: 'openDoorD', tag: 'a' }, { cmd: 'setParamD', tag: 'b' });
    await ignored;
    expect(await uplinksOf('ANS4', 1)).toEqual([{ cmd: 'setParamU', tag: 'b', code: 0, msg: 'ok', sn: 'ANS4' }]);
    await silent.send({ cmd: 'markU' });
    // Nothing for openDoorD came before the mark, nor after the answer.
    expect(await uplinksOf('ANS4', 2)).toEqual([{ cmd: 'setParamU', tag: 'b', code: 0, msg: 'ok', sn: 'ANS4' }, { cmd: 'markU' }]);
  });

  it('answers late when told to, each command once, in its own time', async () => {
    const answered: Record<string, any>[] = [];
    await terminal('ANS5', { answer: { delayMs: 200, replyField: 'tag', onAnswered: (answer) => answered.push(answer) } });
    await command('ANS5', { cmd: 'openDoorD', tag: 'a' }, { cmd: 'openDoorD', tag: 'b' });
    const answers = await uplinksOf('ANS5', 2);
    expect(answers.map((a) => a.tag).sort()).toEqual(['a', 'b']);
    expect(answered.map((a) => a.tag).sort()).toEqual(['a', 'b']);
  });
});

describe("the kit's terminal holding people", () => {
  const PHOTO = readFileSync(new URL('../../fixtures/face-3.jpg', import.meta.url));
  const HASH = createHash('sha256').update(PHOTO).digest('hex').slice(0, 12);

  it('enrols, replaces, removes and lists people with the default enrolment commands, echoing the reply field', async () => {
    const t = await terminal('PPL1', { answer: { replyField: 'tag' } });
    await command(
      'PPL1',
      { cmd: 'addPersonD', tag: 'a', num: '1001', name: 'Zhang San', photo: PHOTO.toString('base64'), cardNo: '7' },
      { cmd: 'addPersonD', tag: 'b', num: '1002', name: 'Li Si' },
      { cmd: 'addPersonD', tag: 'c', num: '1002', name: 'Li Si Jr' },
      { cmd: 'deletePersonD', tag: 'd', num: '1001' },
      { cmd: 'deletePersonD', tag: 'e', num: 'nobody' },
      { cmd: 'addPersonD', tag: 'f', num: '1003', name: 'Wang Wu', photo: PHOTO.toString('base64') },
      { cmd: 'queryPersonD', tag: 'g' },
    );
    expect(await uplinksOf('PPL1', 7)).toEqual([
      { cmd: 'addPersonU', tag: 'a', num: '1001', code: 0, msg: 'ok', sn: 'PPL1' },
      { cmd: 'addPersonU', tag: 'b', num: '1002', code: 0, msg: 'ok', sn: 'PPL1' },
      { cmd: 'addPersonU', tag: 'c', num: '1002', code: 0, msg: 'ok', sn: 'PPL1' },
      { cmd: 'deletePersonU', tag: 'd', num: '1001', code: 0, msg: 'ok', sn: 'PPL1' },
      { cmd: 'deletePersonU', tag: 'e', num: 'nobody', code: 0, msg: 'ok', sn: 'PPL1' },
      { cmd: 'addPersonU', tag: 'f', num: '1003', code: 0, msg: 'ok', sn: 'PPL1' },
      { cmd: 'queryPersonU', tag: 'g', code: 0, msg: 'ok', nums: ['1002', '1003'], total: 2, sn: 'PPL1' },
    ]);
    expect([...t.roster().values()]).toEqual([
      { num: '1002', name: 'Li Si Jr', photoBytes: 0, photoHash: undefined, fields: {} },
      { num: '1003', name: 'Wang Wu', photoBytes: PHOTO.length, photoHash: HASH, fields: {} },
    ]);
  });

  it('refuses what a terminal refuses, holding nobody for it, and answers on after hostile commands', async () => {
    const t = await terminal('PPL2', { answer: { rosterCapacity: 1, personFailures: 0 } });
    const deep = `{"cmd":"addPersonD","num":"9","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    await command(
      'PPL2',
      { cmd: 'addPersonD', num: 1001, name: 'Number' },
      { cmd: 'addPersonD', num: '1', name: 'n'.repeat(300_000) },
      { cmd: 'addPersonD', num: '1', name: 'A', photo: Buffer.from('GIF89a').toString('base64') },
      { cmd: 'addPersonD', num: '1', name: 'A', photo: '' },
      deep,
      { cmd: 'deletePersonD', num: { $ne: null } },
      { cmd: 'addPersonD', num: '1', name: 'A' },
      { cmd: 'addPersonD', num: '2', name: 'B' },
    );
    expect(await uplinksOf('PPL2', 8)).toEqual([
      { cmd: 'addPersonU', code: 1000, msg: 'num: expected a string of 1 to 64 characters', sn: 'PPL2' },
      { cmd: 'addPersonU', num: '1', code: 1000, msg: 'name: expected a string of at most 128 characters', sn: 'PPL2' },
      { cmd: 'addPersonU', num: '1', code: 1002, msg: 'photo is not a JPEG', sn: 'PPL2' },
      { cmd: 'addPersonU', num: '1', code: 1002, msg: 'photo is not a JPEG', sn: 'PPL2' },
      { cmd: 'addPersonU', num: '9', code: 1000, msg: 'other fields: more than 4096 bytes of JSON', sn: 'PPL2' },
      { cmd: 'deletePersonU', code: 1000, msg: 'num: expected a string of 1 to 64 characters', sn: 'PPL2' },
      { cmd: 'addPersonU', num: '1', code: 0, msg: 'ok', sn: 'PPL2' },
      { cmd: 'addPersonU', num: '2', code: 1004, msg: 'full: 1 people held', sn: 'PPL2' },
    ]);
    expect([...t.roster().keys()]).toEqual(['1']);
  });

  it('refuses the share of enrolments it is told, by num, the same people on two terminals', async () => {
    const one = await terminal('PPL3', { answer: { personFailures: 0.5 } });
    const two = await terminal('PPL4', { answer: { personFailures: 0.5 } });
    const people = Array.from({ length: 40 }, (_, i) => ({ cmd: 'addPersonD', num: String(5000 + i), name: `P${i}` }));
    await command('PPL3', ...people);
    await command('PPL4', ...people);
    const [answers3, answers4] = await Promise.all([uplinksOf('PPL3', 40), uplinksOf('PPL4', 40)]);
    const refused = answers3.filter((a) => a.code !== 0);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(40);
    for (const a of refused) expect(a).toEqual({ cmd: 'addPersonU', num: a.num, code: 1001, msg: 'bad photo', sn: 'PPL3' });
    expect(answers4.filter((a) => a.code !== 0).map((a) => a.num)).toEqual(refused.map((a) => a.num));
    expect(one.roster().size).toBe(40 - refused.length);
    expect([...two.roster().keys()]).toEqual([...one.roster().keys()]);
  });

  it('applies no enrolment it leaves unanswered, and none before its late answer', async () => {
    const silent = await terminal('PPL5', { answer: { silent: ['addPersonD'] } });
    const ignored = silent.next((m) => m.cmd === 'addPersonD');
    await command('PPL5', { cmd: 'addPersonD', num: '1', name: 'A' }, { cmd: 'queryPersonD' });
    await ignored;
    expect(await uplinksOf('PPL5', 1)).toEqual([{ cmd: 'queryPersonU', code: 0, msg: 'ok', nums: [], total: 0, sn: 'PPL5' }]);
    expect(silent.roster().size).toBe(0);

    const late = await terminal('PPL6', { answer: { delayMs: 60_000 } });
    const arrived = late.next((m) => m.cmd === 'addPersonD');
    await command('PPL6', { cmd: 'addPersonD', num: '1', name: 'A' });
    await arrived;
    expect(late.roster().size).toBe(0);
  });

  it('holds nobody unless it answers', async () => {
    const quiet = await terminal('PPL7');
    const received = quiet.next((m) => m.cmd === 'addPersonD');
    await command('PPL7', { cmd: 'addPersonD', num: '1', name: 'A' });
    await received;
    expect(quiet.roster().size).toBe(0);
  });

  it('refuses roster options out of their bounds before it connects', async () => {
    await expect(connectTerminal(url, 'PPL8', { answer: { personFailures: 2 } })).rejects.toThrow(RangeError);
    await expect(connectTerminal(url, 'PPL8', { answer: { rosterCapacity: 1.5 } })).rejects.toThrow(RangeError);
  });
});
