import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PERSON_COMMANDS,
  PHOTO_MARKER,
  parsePersonCommands,
  renderCommand,
  replyOutcome,
  splicePhoto,
  wantsPhoto,
} from '../../src/people/person-commands.ts';

// The pure parts of people on the terminals (README §People on the
// terminals): templates, the photo's place, and what a reply says.

const person = { num: '1001', name: 'Zhang San', hasPhoto: true, fields: { card: 7788, valid: { from: '2026-01-01' }, note: 'a "quoted" note' } };

describe('renderCommand', () => {
  it('renders the built-in upsert with num, name, the photo marker and every other field', () => {
    const { cmd, body } = renderCommand(DEFAULT_PERSON_COMMANDS, 'upsert', person);
    expect(cmd).toBe('addPersonD');
    expect(JSON.parse(body)).toEqual({ cmd: 'addPersonD', num: '1001', name: 'Zhang San', photo: PHOTO_MARKER, ...person.fields });
    expect(wantsPhoto(body)).toBe(true);
  });

  it('renders the built-in delete with num alone', () => {
    expect(JSON.parse(renderCommand(DEFAULT_PERSON_COMMANDS, 'delete', person).body)).toEqual({ cmd: 'deletePersonD', num: '1001' });
  });

  it('leaves out a field the person does not have, a photo included', () => {
    const body = renderCommand(DEFAULT_PERSON_COMMANDS, 'upsert', { num: '7', name: 'A', hasPhoto: false, fields: {} }).body;
    expect(JSON.parse(body)).toEqual({ cmd: 'addPersonD', num: '7', name: 'A' });
    expect(wantsPhoto(body)).toBe(false);
  });

  it('gives a lone placeholder the JSON type of its field, and replaces others as text; a custom file passes only what it names', () => {
    const custom = {
      upsert: {
        command: { cmd: 'enrolD', id: '{{num}}', card: '{{card}}', label: 'card {{card}} of {{name}}', valid: '{{valid}}', list: ['{{card}}', '{{nothing}}'] },
        reply: 'enrolU',
      },
      delete: { command: { cmd: 'removeD', id: '{{num}}' }, reply: 'removeU' },
      success: { field: 'result', equals: 'ok' },
    };
    expect(JSON.parse(renderCommand(custom, 'upsert', person).body)).toEqual({
      cmd: 'enrolD',
      id: '1001',
      card: 7788,
      label: 'card 7788 of Zhang San',
      valid: { from: '2026-01-01' },
      list: [7788, null],
    });
  });
});

describe('splicePhoto', () => {
  it('puts the base64 where the marker stands, and nowhere else', () => {
    const { body } = renderCommand(
      {
        ...DEFAULT_PERSON_COMMANDS,
        passRest: false,
        upsert: { command: { cmd: 'addPersonD', photo: '{{photo}}', uri: 'data:image/jpeg;base64,{{photo}}' }, reply: 'addPersonU' },
      },
      'upsert',
      { ...person, fields: { trap: '\\u0000photo' } },
    );
    const sent = JSON.parse(splicePhoto(body, '/9j/AAA='));
    expect(sent).toEqual({ cmd: 'addPersonD', photo: '/9j/AAA=', uri: 'data:image/jpeg;base64,/9j/AAA=' });
    // The default passes fields along; a field that spells the marker's text stays as it was.
    const passed = JSON.parse(splicePhoto(renderCommand(DEFAULT_PERSON_COMMANDS, 'upsert', { ...person, fields: { trap: '\\u0000photo' } }).body, 'X'));
    expect(passed).toMatchObject({ photo: 'X', trap: '\\u0000photo' });
  });
});

describe('replyOutcome', () => {
  const rule = DEFAULT_PERSON_COMMANDS;
  it('is success when the field equals the value, a number and its string alike', () => {
    expect(replyOutcome(rule, { cmd: 'addPersonU', code: 0 })).toEqual({ ok: true });
    expect(replyOutcome(rule, { cmd: 'addPersonU', code: '0' })).toEqual({ ok: true });
    expect(replyOutcome({ success: { field: 'result', equals: 'ok' } }, { result: 'ok' })).toEqual({ ok: true });
  });

  it('is a failure with the code and message_field, else msg, else message', () => {
    expect(replyOutcome(rule, { code: 3, msg: 'no face in photo' })).toEqual({ ok: false, code: 3, message: 'no face in photo' });
    expect(replyOutcome({ success: rule.success }, { code: 4, message: 'full' })).toEqual({ ok: false, code: 4, message: 'full' });
    expect(replyOutcome({ success: rule.success, message_field: 'err' }, { code: 5, err: 'x', msg: 'y' })).toEqual({ ok: false, code: 5, message: 'x' });
    expect(replyOutcome(rule, { cmd: 'addPersonU' })).toEqual({ ok: false, code: null, message: null });
    expect(replyOutcome(rule, 'not an object')).toEqual({ ok: false, code: null, message: null });
    expect(replyOutcome(rule, { code: '' })).toEqual({ ok: false, code: '', message: null });
  });

  it('shows a NUL in the message as U+FFFD, which both stores can hold', () => {
    expect(replyOutcome(rule, { code: 3, msg: 'no\u0000face' })).toEqual({ ok: false, code: 3, message: 'no\uFFFDface' });
  });
});

describe('parsePersonCommands', () => {
  it('takes the SPEC example, and refuses a file over 64 KB', () => {
    const spec = {
      upsert: { command: { cmd: 'addPersonD', num: '{{num}}', name: '{{name}}', photo: '{{photo}}' }, reply: 'addPersonU' },
      delete: { command: { cmd: 'deletePersonD', num: '{{num}}' }, reply: 'deletePersonU' },
      success: { field: 'code', equals: 0 },
      message_field: 'msg',
    };
    expect(parsePersonCommands(JSON.stringify(spec))).toEqual({ ok: true, value: spec });
    expect(parsePersonCommands(JSON.stringify({ ...spec, pad: 'x'.repeat(70_000) }))).toEqual({ ok: false, problem: 'the file is over 64 KB' });
  });
});
