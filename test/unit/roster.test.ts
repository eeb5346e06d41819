import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { reply, SAMPLE_IMAGE } from '../../src/kit/records.ts';
import {
  isRosterCommand,
  MAX_FIELDS_BYTES,
  MAX_NAME_CHARS,
  MAX_NUM_CHARS,
  MAX_PHOTO_BYTES,
  PERSON_CODES,
  QUERY_NUMS,
  Roster,
  refusedOnPurpose,
} from '../../src/kit/roster.ts';

// The people a simulated terminal holds (README §Simulator), as the default
// enrolment commands of SPEC §"People on the terminals" change them.

const JPEG = readFileSync(new URL('../../fixtures/face-1.jpg', import.meta.url));
const PHOTO = JPEG.toString('base64');
const HASH = createHash('sha256').update(JPEG).digest('hex').slice(0, 12);

const add = (fields: Record<string, unknown>) => ({ cmd: 'addPersonD' as const, ...fields });
const del = (fields: Record<string, unknown>) => ({ cmd: 'deletePersonD' as const, ...fields });
const query = { cmd: 'queryPersonD' as const };

describe('a roster', () => {
  it('adds a person with their photo’s size and hash and their other fields, never the photo', () => {
    const roster = new Roster();
    expect(roster.answer(add({ num: '1001', name: 'Zhang San', photo: PHOTO, cardNo: '88', validTo: '2027-01-01' }))).toEqual({
      num: '1001',
      code: 0,
      msg: 'ok',
    });
    const person = roster.people.get('1001');
    expect(person).toEqual({ num: '1001', name: 'Zhang San', photoBytes: JPEG.length, photoHash: HASH, fields: { cardNo: '88', validTo: '2027-01-01' } });
    expect(JSON.stringify(person)).not.toContain(PHOTO.slice(0, 100));
  });

  it('replaces a person enrolled again, keeping their place; without a photo field there is no photo', () => {
    const roster = new Roster();
    roster.answer(add({ num: '1', name: 'A', photo: PHOTO }));
    roster.answer(add({ num: '2', name: 'B' }));
    expect(roster.answer(add({ num: '1', name: 'A2' }))).toMatchObject({ code: 0 });
    expect([...roster.people.values()]).toEqual([
      { num: '1', name: 'A2', photoBytes: 0, photoHash: undefined, fields: {} },
      { num: '2', name: 'B', photoBytes: 0, photoHash: undefined, fields: {} },
    ]);
  });

  it('removes a person, and answers code 0 also for one it did not hold', () => {
    const roster = new Roster();
    roster.answer(add({ num: '1', name: 'A' }));
    expect(roster.answer(del({ num: '1' }))).toEqual({ num: '1', code: 0, msg: 'ok' });
    expect(roster.people.size).toBe(0);
    expect(roster.answer(del({ num: '1' }))).toEqual({ num: '1', code: 0, msg: 'ok' });
    expect(roster.answer(del({ num: 'never' }))).toEqual({ num: 'never', code: 0, msg: 'ok' });
  });

  it('lists the first 1,000 nums and how many it holds in all', () => {
    const roster = new Roster();
    expect(roster.answer(query)).toEqual({ code: 0, msg: 'ok', nums: [], total: 0 });
    for (let i = 0; i < QUERY_NUMS + 5; i++) roster.answer(add({ num: `p${i}`, name: `P ${i}` }));
    roster.answer(del({ num: 'p3' }));
    const answer = roster.answer({ ...query, nums: 'hostile', total: 5 });
    expect(answer.total).toBe(QUERY_NUMS + 4);
    expect(answer.nums).toHaveLength(QUERY_NUMS);
    expect((answer.nums as string[]).slice(0, 4)).toEqual(['p0', 'p1', 'p2', 'p4']);
  });

  it('keeps neither the command’s name nor its reply field among the other fields', () => {
    const roster = new Roster({ replyField: 'tag' });
    roster.answer(add({ num: '1', name: 'A', tag: 'cmd_x', door: 2 }));
    expect(roster.people.get('1')!.fields).toEqual({ door: 2 });
  });

  it('refuses a photo that is not a JPEG, or empty, with a code of its own, whatever the failure share', () => {
    const roster = new Roster({ personFailures: 0 });
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]).toString('base64');
    for (const photo of [
      '',
      png,
      'not base64!',
      `${PHOTO.slice(0, 40)}*`,
      'y'.repeat(1000),
      12,
      null,
      { data: PHOTO },
      [PHOTO],
      `data:image/jpeg;base64,${PHOTO}`,
    ]) {
      expect(roster.answer(add({ num: '1', name: 'A', photo })), JSON.stringify(photo)?.slice(0, 40)).toEqual({
        num: '1',
        code: PERSON_CODES.notJpeg,
        msg: 'photo is not a JPEG',
      });
    }
    expect(roster.people.size).toBe(0);
  });

  it('takes base64 with or without its padding, and nothing Node would decode by skipping what is not base64', () => {
    const roster = new Roster();
    expect(PHOTO.endsWith('==')).toBe(true);
    expect(roster.answer(add({ num: '1', photo: PHOTO.replace(/=+$/, '') }))).toMatchObject({ code: 0 });
    expect(roster.people.get('1')).toMatchObject({ photoBytes: JPEG.length, photoHash: HASH });
    const url = JPEG.toString('base64url');
    expect(url).toMatch(/[-_]/);
    for (const photo of [url, `${PHOTO.slice(0, 76)}\n${PHOTO.slice(76)}`, ` ${PHOTO}`, `${PHOTO.slice(0, -2)}=`, `${PHOTO}=`]) {
      expect(roster.answer(add({ num: '2', photo })), photo.slice(0, 20)).toMatchObject({ code: PERSON_CODES.notJpeg });
    }
    expect(roster.people.has('2')).toBe(false);
  });

  it('refuses a photo larger than its bound without decoding it', () => {
    const roster = new Roster();
    const big = Buffer.alloc(MAX_PHOTO_BYTES + 3, 0xff);
    big[1] = 0xd8;
    expect(roster.answer(add({ num: '1', name: 'A', photo: big.toString('base64') }))).toEqual({
      num: '1',
      code: PERSON_CODES.photoTooLarge,
      msg: `photo is larger than ${MAX_PHOTO_BYTES} bytes`,
    });
    // At the bound it is a photo.
    expect(roster.answer(add({ num: '1', name: 'A', photo: big.subarray(0, MAX_PHOTO_BYTES).toString('base64') }))).toMatchObject({ code: 0 });
    expect(roster.people.get('1')!.photoBytes).toBe(MAX_PHOTO_BYTES);
  });

  it('answers hostile fields with a failure naming the field, and holds nobody for them', () => {
    const roster = new Roster();
    const numMsg = `num: expected a string of 1 to ${MAX_NUM_CHARS} characters`;
    for (const num of [undefined, 1001, '', 'n'.repeat(MAX_NUM_CHARS + 1), ['1'], { toString: '1' }, null, true]) {
      expect(roster.answer(add({ num, name: 'A' }))).toEqual({ code: PERSON_CODES.invalid, msg: numMsg });
      expect(roster.answer(del({ num }))).toEqual({ code: PERSON_CODES.invalid, msg: numMsg });
    }
    const nameMsg = `name: expected a string of at most ${MAX_NAME_CHARS} characters`;
    for (const name of ['x'.repeat(MAX_NAME_CHARS + 1), 'x'.repeat(1_000_000), 7, null, ['A'], { first: 'A' }]) {
      expect(roster.answer(add({ num: '1', name }))).toEqual({ num: '1', code: PERSON_CODES.invalid, msg: nameMsg });
    }
    expect(roster.answer(add({ num: '1', name: 'A', note: 'z'.repeat(MAX_FIELDS_BYTES) }))).toEqual({
      num: '1',
      code: PERSON_CODES.invalid,
      msg: `other fields: more than ${MAX_FIELDS_BYTES} bytes of JSON`,
    });
    // Nested deeper than JSON.stringify can go, as JSON.parse takes it from the downLink.
    const deep = JSON.parse(`{"cmd":"addPersonD","num":"1","x":${'['.repeat(200_000)}${']'.repeat(200_000)}}`);
    expect(roster.answer(deep)).toMatchObject({ num: '1', code: PERSON_CODES.invalid });
    // A key that would be an object's prototype is a field like any other.
    const proto = JSON.parse('{"cmd":"addPersonD","num":"2","__proto__":{"polluted":1}}');
    expect(roster.answer(proto)).toMatchObject({ code: 0 });
    expect(Object.hasOwn(roster.people.get('2')!.fields, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect([...roster.people.keys()]).toEqual(['2']);
    // A name is the only one that may be missing: an empty one.
    expect(roster.answer(add({ num: '3' }))).toMatchObject({ code: 0 });
    expect(roster.people.get('3')!.name).toBe('');
  });

  it('refuses past its capacity, except a person it holds already', () => {
    const roster = new Roster({ capacity: 2 });
    roster.answer(add({ num: '1', name: 'A' }));
    roster.answer(add({ num: '2', name: 'B' }));
    expect(roster.answer(add({ num: '3', name: 'C' }))).toEqual({ num: '3', code: PERSON_CODES.full, msg: 'full: 2 people held' });
    expect(roster.answer(add({ num: '2', name: 'B2' }))).toMatchObject({ code: 0 });
    roster.answer(del({ num: '1' }));
    expect(roster.answer(add({ num: '3', name: 'C' }))).toMatchObject({ code: 0 });
    expect([...roster.people.keys()]).toEqual(['2', '3']);
  });

  it('refuses the share of people it is told, the same ones every time and on every terminal', () => {
    const nums = Array.from({ length: 2000 }, (_, i) => String(100_000 + i));
    const refusedBy = (roster: Roster) => nums.filter((num) => roster.answer(add({ num, name: 'X', photo: SAMPLE_IMAGE })).code === PERSON_CODES.badPhoto);
    const first = refusedBy(new Roster({ personFailures: 0.25 }));
    // About a quarter (a hash spreads them evenly: 2000 draws stay well within ±5 points).
    expect(first.length).toBeGreaterThan(400);
    expect(first.length).toBeLessThan(600);
    expect(refusedBy(new Roster({ personFailures: 0.25 }))).toEqual(first);
    expect(first.every((num) => refusedOnPurpose(num, 0.25))).toBe(true);
    // A larger share refuses those and more.
    const more = refusedBy(new Roster({ personFailures: 0.5 }));
    expect(more).toEqual(expect.arrayContaining(first));
    expect(more.length).toBeGreaterThan(first.length);
    expect(refusedBy(new Roster({ personFailures: 0 }))).toEqual([]);
    expect(refusedBy(new Roster({ personFailures: 1 }))).toEqual(nums);
    // Refused, they are not held; the answer is the terminal's for a bad photo.
    const roster = new Roster({ personFailures: 1 });
    expect(roster.answer(add({ num: '1', name: 'A', photo: PHOTO }))).toEqual({ num: '1', code: PERSON_CODES.badPhoto, msg: 'bad photo' });
    expect(roster.people.size).toBe(0);
  });

  it('refuses options out of their bounds', () => {
    expect(() => new Roster({ personFailures: 1.5 })).toThrow(RangeError);
    expect(() => new Roster({ personFailures: Number.NaN })).toThrow(RangeError);
    expect(() => new Roster({ capacity: -1 })).toThrow(RangeError);
  });

  it('answers the three commands of the default enrolment, and no other', () => {
    expect(['addPersonD', 'deletePersonD', 'queryPersonD'].every(isRosterCommand)).toBe(true);
    expect(['addPersonU', 'openDoorD', 'deleteAllPersonD', 'heartD'].some(isRosterCommand)).toBe(false);
  });
});

describe('a reply with an outcome', () => {
  it('carries the outcome’s fields, the echo of the reply field, and the serial', () => {
    const command = { cmd: 'addPersonD', num: '1', tag: 'cmd_1' };
    expect(reply(command, 'SN1', 'tag', { num: '1', code: 1001, msg: 'bad photo' })).toEqual({
      cmd: 'addPersonU',
      tag: 'cmd_1',
      num: '1',
      code: 1001,
      msg: 'bad photo',
      sn: 'SN1',
    });
    expect(reply(command, 'SN1')).toEqual({ cmd: 'addPersonU', code: 0, msg: 'ok', sn: 'SN1' });
  });
});
