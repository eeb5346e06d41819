import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { refusedOnPurpose } from '../../src/kit/roster.ts';
import { connectTerminal, type Terminal, type TerminalOptions } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §People on a simulated terminal: the kit's terminal holding the
// people the real bridge's commands enrol and remove, each command sent as
// the people sync sends it (POST /api/devices/{sn}/commands) and its answer
// taken as the command's reply (README §Commands with replies).

let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.stop(0)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
});

const JPEG = readFileSync(new URL('../../fixtures/face-4.jpg', import.meta.url));
const PHOTO = JPEG.toString('base64');
const HASH = createHash('sha256').update(JPEG).digest('hex').slice(0, 12);

/** An answering terminal that is online: connected, subscribed, its first heartbeat stored as device.online. */
async function online(b: TestBridge, sn: string, answer: TerminalOptions['answer']): Promise<Terminal> {
  const t = await connectTerminal(b.brokerUrl, sn, { answer });
  terminals.push(t);
  const came = b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === sn);
  await t.send({ cmd: 'heartU' });
  await came;
  return t;
}

/** Sends `body` to `sn` and waits for its reply: the reply, the command replied. */
async function replyTo(b: TestBridge, sn: string, body: object): Promise<Record<string, any>> {
  const res = await b.api('POST', `/api/devices/${sn}/commands?wait=5s`, body);
  expect(res.status, res.text).toBe(200);
  expect(res.json.status).toBe('replied');
  return res.json.reply;
}

describe('people on a terminal, through the bridge', () => {
  it('enrols, replaces, removes and lists, each answer the reply of its command, matched by REPLY_FIELD', async () => {
    const b = (bridge = await startBridge({ REPLY_FIELD: 'tag' }));
    const t = await online(b, 'ROS1', { replyField: 'tag' });

    const added = await b.api('POST', '/api/devices/ROS1/commands?wait=5s', {
      cmd: 'addPersonD',
      num: '1001',
      name: 'Zhang San',
      photo: PHOTO,
      cardNo: '88',
      validTo: '2027-12-31',
    });
    expect(added.status).toBe(200);
    // The bridge gave the command its id in `tag`; the terminal echoed it, and kept neither it nor the photo.
    expect(added.json.reply).toEqual({ cmd: 'addPersonU', tag: added.json.id, num: '1001', code: 0, msg: 'ok', sn: 'ROS1' });
    expect(await replyTo(b, 'ROS1', { cmd: 'addPersonD', num: '1002', name: 'Li Si' })).toMatchObject({ num: '1002', code: 0 });
    expect(await replyTo(b, 'ROS1', { cmd: 'addPersonD', num: '1002', name: 'Li Si', photo: PHOTO })).toMatchObject({ num: '1002', code: 0 });
    expect([...t.roster().values()]).toEqual([
      { num: '1001', name: 'Zhang San', photoBytes: JPEG.length, photoHash: HASH, fields: { cardNo: '88', validTo: '2027-12-31' } },
      { num: '1002', name: 'Li Si', photoBytes: JPEG.length, photoHash: HASH, fields: {} },
    ]);

    expect(await replyTo(b, 'ROS1', { cmd: 'deletePersonD', num: '1001' })).toMatchObject({ cmd: 'deletePersonU', num: '1001', code: 0 });
    expect(await replyTo(b, 'ROS1', { cmd: 'deletePersonD', num: '1001' })).toMatchObject({ cmd: 'deletePersonU', num: '1001', code: 0 });
    expect([...t.roster().keys()]).toEqual(['1002']);
    expect(await replyTo(b, 'ROS1', { cmd: 'queryPersonD' })).toMatchObject({ cmd: 'queryPersonU', code: 0, nums: ['1002'], total: 1 });

    // Every answer is its command's reply, none a device message of its own.
    expect(b.count('commands', "device_sn = 'ROS1' and status = 'replied'")).toBe(6);
    expect(b.count('events', "type = 'device.message'")).toBe(0);
  });

  it('refuses the share it is told by num, bad photos and hostile fields, holding nobody for them, and answers on', async () => {
    // Sixteen commands to one terminal back to back: more than the default COMMAND_RATE lets through.
    const b = (bridge = await startBridge({ COMMAND_RATE: '100/s' }));
    const t = await online(b, 'ROS2', { personFailures: 0.5, rosterCapacity: 3 });
    // Without REPLY_FIELD, replies are matched by name: one enrolment in flight at a time, as the sync sends them.
    const nums = Array.from({ length: 8 }, (_, i) => String(7000 + i));
    const refused = nums.filter((num) => refusedOnPurpose(num, 0.5));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(nums.length - 3);
    for (const num of nums) {
      const reply = await replyTo(b, 'ROS2', { cmd: 'addPersonD', num, name: `P${num}`, photo: PHOTO });
      const accepted = nums.filter((n) => !refused.includes(n));
      const place = accepted.indexOf(num);
      if (refused.includes(num)) expect(reply).toEqual({ cmd: 'addPersonU', num, code: 1001, msg: 'bad photo', sn: 'ROS2' });
      else if (place < 3) expect(reply).toEqual({ cmd: 'addPersonU', num, code: 0, msg: 'ok', sn: 'ROS2' });
      else expect(reply).toEqual({ cmd: 'addPersonU', num, code: 1004, msg: 'full: 3 people held', sn: 'ROS2' });
    }
    const held = nums.filter((n) => !refused.includes(n)).slice(0, 3);
    expect([...t.roster().keys()]).toEqual(held);

    // Hostile commands, each within the bridge's BODY_LIMIT: answered with a failure code, nothing applied.
    expect(await replyTo(b, 'ROS2', { cmd: 'addPersonD', num: 1001, name: 'A number' })).toEqual({
      cmd: 'addPersonU',
      code: 1000,
      msg: 'num: expected a string of 1 to 64 characters',
      sn: 'ROS2',
    });
    expect(await replyTo(b, 'ROS2', { cmd: 'addPersonD', num: held[0], name: 'n'.repeat(500_000) })).toMatchObject({
      num: held[0],
      code: 1000,
      msg: 'name: expected a string of at most 128 characters',
    });
    expect(await replyTo(b, 'ROS2', { cmd: 'addPersonD', num: held[0], name: 'A', photo: '' })).toMatchObject({ code: 1002, msg: 'photo is not a JPEG' });
    expect(await replyTo(b, 'ROS2', { cmd: 'addPersonD', num: held[0], name: 'A', photo: 'iVBORw0KGgo=' })).toMatchObject({
      code: 1002,
      msg: 'photo is not a JPEG',
    });
    expect(await replyTo(b, 'ROS2', { cmd: 'deletePersonD', num: ['1'] })).toMatchObject({ cmd: 'deletePersonU', code: 1000 });
    expect(await replyTo(b, 'ROS2', { cmd: 'deletePersonD' })).toMatchObject({ cmd: 'deletePersonU', code: 1000 });
    expect(t.roster().get(held[0])).toMatchObject({ name: `P${held[0]}`, photoHash: HASH });
    expect(await replyTo(b, 'ROS2', { cmd: 'queryPersonD' })).toMatchObject({ code: 0, nums: held, total: 3 });
    // The refused commands are replied, their failures in their replies for whoever reads them.
    const failedReplies = b
      .db()
      .prepare("select count(*) as n from commands where device_sn = 'ROS2' and status = 'replied' and json_extract(reply, '$.code') <> 0")
      .get() as { n: number };
    expect(failedReplies.n).toBe(nums.length - 3 + 6);
  });

  it('holds what a fan-out enrols on each terminal, the same people refused on both', async () => {
    const b = (bridge = await startBridge());
    const [one, two] = [await online(b, 'ROS3', { personFailures: 0.5 }), await online(b, 'ROS4', { personFailures: 0.5 })];
    const nums = ['1001', '1004'];
    // 1001 is taken and 1004 refused at a share of 0.5 (a hash of the num).
    expect(nums.map((num) => refusedOnPurpose(num, 0.5))).toEqual([false, true]);
    for (const num of nums) {
      const res = await b.api('POST', '/api/commands', { devices: ['ROS3', 'ROS4'], command: { cmd: 'addPersonD', num, name: `P${num}`, photo: PHOTO } });
      expect(res.status).toBe(202);
      const batch = res.json.batch;
      // A fan-out's items change state on their own: no event of the test's says when both are replied.
      const items = await until(async () => {
        const listed: any[] = (await b.api('GET', `/api/commands?batch=${batch}`)).json.items;
        return listed.length === 2 && listed.every((item) => item.status === 'replied') ? listed : undefined;
      });
      for (const item of items) expect(item.reply).toMatchObject({ cmd: 'addPersonU', num, code: num === '1001' ? 0 : 1001 });
    }
    expect([...one.roster().keys()]).toEqual(['1001']);
    expect([...two.roster().keys()]).toEqual(['1001']);
  });
});
