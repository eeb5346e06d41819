import { describe, expect, it } from 'vitest';
import { stampJpeg } from '../../src/kit/jpeg.ts';
import {
  encodeLoad,
  encodeLoadRecord,
  FIRST_NUM,
  heartU,
  loadRecord,
  PEOPLE,
  reply,
  replyCmd,
  SAMPLE_IMAGE,
  SAMPLE_TIME,
  strangerRecord,
  strangerRecordU,
  verifiedRecord,
  verifiedRecordU,
} from '../../src/kit/records.ts';
import { localTimestamp } from '../../src/lib/units.ts';

// The records the simulator, the benchmark and the tests send: built from
// their inputs alone, so the same inputs give the same bytes.

const JPEG = Buffer.from(SAMPLE_IMAGE, 'base64');
const AT = new Date(2026, 10, 22, 9, 59, 58);

describe('record builders', () => {
  it('builds a passing recognition of Zhang San unless told otherwise, fields in the terminal order', () => {
    expect(verifiedRecord()).toEqual({ num: '1001', name: 'Zhang San', liveImageBase64: SAMPLE_IMAGE, verifiedCode: 0, time: SAMPLE_TIME, personType: '1' });
    expect(Object.keys(verifiedRecord({ verifiedCode: 1, extra: 'x' }))).toEqual([
      'num',
      'name',
      'liveImageBase64',
      'verifiedCode',
      'time',
      'personType',
      'extra',
    ]);
    expect(verifiedRecord({ verifiedCode: 1, personType: 2 })).toMatchObject({ verifiedCode: 1, personType: 2 });
    expect(strangerRecord()).toEqual({ liveImageBase64: SAMPLE_IMAGE, time: SAMPLE_TIME });
    expect(strangerRecord({ time: 'now' }).time).toBe('now');
  });

  it('wraps records in the upLink messages, and answers commands as a terminal does', () => {
    expect(verifiedRecordU([1, 2])).toEqual({ cmd: 'verifiedRecordU', data: [1, 2] });
    expect(strangerRecordU([])).toEqual({ cmd: 'strangerRecordU', data: [] });
    expect(heartU()).toEqual({ cmd: 'heartU' });
    expect(replyCmd('openDoorD')).toBe('openDoorU');
    expect(reply({ cmd: 'openDoorD', door: 1 }, 'SIM0001')).toEqual({ cmd: 'openDoorU', code: 0, msg: 'ok', sn: 'SIM0001' });
  });

  it('answers only xxxD, never heartD (the answer to a heartbeat), and names nothing else', () => {
    for (const cmd of ['heartD', 'D', 'reboot', 'openDoorU', 'opendoord', '']) expect(replyCmd(cmd), cmd).toBeUndefined();
    expect(replyCmd('setParamD')).toBe('setParamU');
    expect(() => reply({ cmd: 'heartD' }, 'SIM0001')).toThrow('heartD is not a command a terminal answers');
  });

  it('echoes the REPLY_FIELD value of the command, after cmd, when the command carries it', () => {
    const answer = reply({ cmd: 'openDoorD', tag: 'cmd_abc', door: 1 }, 'SIM0001', 'tag');
    expect(answer).toEqual({ cmd: 'openDoorU', tag: 'cmd_abc', code: 0, msg: 'ok', sn: 'SIM0001' });
    expect(Object.keys(answer)).toEqual(['cmd', 'tag', 'code', 'msg', 'sn']);
    // Any JSON value is echoed as it came (a firmware's numeric message id).
    expect(reply({ cmd: 'openDoorD', messageId: 42 }, 'S', 'messageId')).toMatchObject({ messageId: 42 });
    // A command without the field gets a reply without it: the bridge then matches by name.
    expect(reply({ cmd: 'openDoorD' }, 'SIM0001', 'tag')).toEqual({ cmd: 'openDoorU', code: 0, msg: 'ok', sn: 'SIM0001' });
  });

  it('numbers the records of a load by person, each at the given time, with or without an image', () => {
    expect(loadRecord(7, AT)).toEqual({
      num: String(FIRST_NUM + 7),
      name: PEOPLE[7 % PEOPLE.length].name,
      verifiedCode: 0,
      time: localTimestamp(AT),
      personType: '1',
    });
    const withImage = loadRecord(7, AT, { jpeg: JPEG, label: 'burst' });
    expect(Buffer.from(withImage.liveImageBase64 as string, 'base64')).toEqual(stampJpeg(JPEG, 'burst #7'));
    expect(encodeLoadRecord(7, AT, { jpeg: JPEG, label: 'burst' })).toEqual(Buffer.from(JSON.stringify(verifiedRecordU([withImage]))));
  });

  it('gives the same bytes for the same inputs, and other bytes for another number or label', () => {
    const image = { jpeg: JPEG, label: 'run a' };
    expect(encodeLoadRecord(3, AT, image)).toEqual(encodeLoadRecord(3, new Date(AT), { jpeg: JPEG, label: 'run a' }));
    expect(encodeLoadRecord(3, AT, image)).not.toEqual(encodeLoadRecord(4, AT, image));
    expect(encodeLoadRecord(3, AT, image)).not.toEqual(encodeLoadRecord(3, AT, { jpeg: JPEG, label: 'run b' }));
  });

  it('deals a load out to terminals in turn, every record once', () => {
    const lists = encodeLoad(7, 3, AT);
    expect(lists.map((list) => list.length)).toEqual([3, 2, 2]);
    expect(lists[1].map((bytes) => JSON.parse(bytes.toString()).data[0].num)).toEqual([String(FIRST_NUM + 1), String(FIRST_NUM + 4)]);
    const nums = lists.flat().map((bytes) => Number(JSON.parse(bytes.toString()).data[0].num) - FIRST_NUM);
    expect(nums.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('numbers a load from its first record, so that one after another never share a record', () => {
    const nums = encodeLoad(4, 2, AT, undefined, 20).map((list) => list.map((bytes) => Number(JSON.parse(bytes.toString()).data[0].num) - FIRST_NUM));
    expect(nums).toEqual([
      [20, 22],
      [21, 23],
    ]);
  });
});

describe('stampJpeg', () => {
  it('puts the label in a comment segment after the JFIF header, leaving the rest as it was', () => {
    const stamped = stampJpeg(JPEG, 'SIM0001 #1');
    const app0End = 4 + JPEG.readUInt16BE(4);
    expect(stamped.subarray(0, app0End)).toEqual(JPEG.subarray(0, app0End));
    expect(stamped.subarray(app0End, app0End + 4)).toEqual(Buffer.from([0xff, 0xfe, 0, 12]));
    expect(stamped.subarray(app0End + 4, app0End + 14).toString('latin1')).toBe('SIM0001 #1');
    expect(stamped.subarray(app0End + 14)).toEqual(JPEG.subarray(app0End));
  });

  it('puts it right after the start marker when there is no JFIF header', () => {
    const bare = Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0, 2]);
    expect(stampJpeg(bare, 'x')).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xfe, 0, 3, 0x78, 0xff, 0xdb, 0, 2]));
  });
});
