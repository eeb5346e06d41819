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
