import { describe, expect, it } from 'vitest';
import { formatSummary, parseOptions, type Summary, UsageError, usage } from '../../src/sim/simulate.ts';

describe('facegate simulate options', () => {
  it('has the defaults the README lists', () => {
    expect(parseOptions([])).toEqual({
      url: 'mqtt://127.0.0.1:1883',
      terminals: 3,
      prefix: 'SIM',
      heartbeatMs: 10_000,
      recordsMs: 5000,
      strangerRatio: 0.2,
      rejectedRatio: 0.1,
      count: undefined,
      qos: 1,
      username: undefined,
      password: undefined,
      uplink: 'fungxi_{sn}_upLink',
      downlink: 'fungxi_{sn}_downLink',
      replyField: undefined,
      replyDelayMs: 0,
      silent: [],
      personFailures: 0,
      roster: false,
      quiet: false,
    });
  });

  it('reads every option', () => {
    const args = [
      '--url',
      'mqtts://broker:8883',
      '--terminals',
      '12',
      '--prefix',
      'GATE',
      '--heartbeat',
      '0.5',
      '--records-every',
      '0',
      '--stranger-ratio',
      '0',
      '--rejected-ratio',
      '1',
    ];
    args.push('--count', '40', '--qos', '0', '--username', 'u', '--password', 'p', '--uplink', 'up/{sn}', '--downlink', 'down/{sn}', '--quiet');
    args.push('--reply-field', 'tag', '--reply-delay', '1.5s', '--silent', 'openDoorD, setParamD', '--person-failures', '0.25', '--roster');
    expect(parseOptions(args)).toEqual({
      url: 'mqtts://broker:8883',
      terminals: 12,
      prefix: 'GATE',
      heartbeatMs: 500,
      recordsMs: 0,
      strangerRatio: 0,
      rejectedRatio: 1,
      count: 40,
      qos: 0,
      username: 'u',
      password: 'p',
      uplink: 'up/{sn}',
      downlink: 'down/{sn}',
      replyField: 'tag',
      replyDelayMs: 1500,
      silent: ['openDoorD', 'setParamD'],
      personFailures: 0.25,
      roster: true,
      quiet: true,
    });
  });

  it("takes the topics from the bridge's UPLINK_TOPIC and DOWNLINK_TOPIC unless told", () => {
    const env = { UPLINK_TOPIC: 'site/{sn}/up', DOWNLINK_TOPIC: 'site/{sn}/down' };
    expect(parseOptions([], env)).toMatchObject({ uplink: 'site/{sn}/up', downlink: 'site/{sn}/down' });
    expect(parseOptions(['--uplink', 'u/{sn}'], env)).toMatchObject({ uplink: 'u/{sn}', downlink: 'site/{sn}/down' });
  });

  it("takes how it answers from REPLY_FIELD (the bridge's variable), SIM_REPLY_DELAY and SIM_SILENT unless told; empty counts as unset", () => {
    const env = { REPLY_FIELD: 'messageId', SIM_REPLY_DELAY: '250ms', SIM_SILENT: 'openDoorD' };
    expect(parseOptions([], env)).toMatchObject({ replyField: 'messageId', replyDelayMs: 250, silent: ['openDoorD'] });
    expect(parseOptions(['--reply-field', 'tag', '--reply-delay', '0', '--silent', 'getVersionD'], env)).toMatchObject({
      replyField: 'tag',
      replyDelayMs: 0,
      silent: ['getVersionD'],
    });
    expect(parseOptions([], { REPLY_FIELD: '', SIM_REPLY_DELAY: '', SIM_SILENT: '' })).toMatchObject({ replyField: undefined, replyDelayMs: 0, silent: [] });
    // A bare number is seconds, as in the bridge's variables.
    expect(parseOptions([], { SIM_REPLY_DELAY: '2' })).toMatchObject({ replyDelayMs: 2000 });
  });

  it('takes the share of enrolments refused from SIM_PERSON_FAILURES unless told; empty counts as unset', () => {
    expect(parseOptions([], { SIM_PERSON_FAILURES: '0.1' })).toMatchObject({ personFailures: 0.1 });
    expect(parseOptions(['--person-failures', '1'], { SIM_PERSON_FAILURES: '0.1' })).toMatchObject({ personFailures: 1 });
    expect(parseOptions(['--person-failures', '0'], { SIM_PERSON_FAILURES: '0.1' })).toMatchObject({ personFailures: 0 });
    expect(parseOptions([], { SIM_PERSON_FAILURES: '' })).toMatchObject({ personFailures: 0 });
  });

  it.each([
    [{ REPLY_FIELD: 'two words' }, 'invalid REPLY_FIELD="two words": expected a field name of 1 to 64 letters, digits and _, other than cmd, code, msg, sn'],
    [{ REPLY_FIELD: 'a-b' }, 'invalid REPLY_FIELD="a-b": expected a field name of 1 to 64 letters, digits and _, other than cmd, code, msg, sn'],
    [{ REPLY_FIELD: 'cmd' }, 'invalid REPLY_FIELD="cmd": expected a field name of 1 to 64 letters, digits and _, other than cmd, code, msg, sn'],
    [
      { REPLY_FIELD: 'x'.repeat(65) },
      `invalid REPLY_FIELD="${'x'.repeat(65)}": expected a field name of 1 to 64 letters, digits and _, other than cmd, code, msg, sn`,
    ],
    [{ SIM_REPLY_DELAY: 'soon' }, 'invalid SIM_REPLY_DELAY="soon": expected a duration such as 500ms or 2s, at most 1h'],
    [{ SIM_REPLY_DELAY: '2h' }, 'invalid SIM_REPLY_DELAY="2h": expected a duration such as 500ms or 2s, at most 1h'],
    [{ SIM_REPLY_DELAY: '-1s' }, 'invalid SIM_REPLY_DELAY="-1s": expected a duration such as 500ms or 2s, at most 1h'],
    [
      { SIM_SILENT: 'openDoor' },
      'invalid SIM_SILENT="openDoor": expected up to 100 command names a terminal answers, comma-separated, each ending in D (openDoorD)',
    ],
    [
      { SIM_SILENT: 'openDoorD,,setParamD' },
      'invalid SIM_SILENT="openDoorD,,setParamD": expected up to 100 command names a terminal answers, comma-separated, each ending in D (openDoorD)',
    ],
    [
      { SIM_SILENT: 'heartD' },
      'invalid SIM_SILENT="heartD": expected up to 100 command names a terminal answers, comma-separated, each ending in D (openDoorD)',
    ],
    [{ SIM_SILENT: Array.from({ length: 101 }, (_, i) => `c${i}D`).join(',') }, /^invalid SIM_SILENT=".*": expected up to 100 command names/],
    [{ SIM_PERSON_FAILURES: 'some' }, 'invalid SIM_PERSON_FAILURES="some": expected a number from 0 to 1'],
    [{ SIM_PERSON_FAILURES: '1.01' }, 'invalid SIM_PERSON_FAILURES="1.01": expected a number from 0 to 1'],
    [{ SIM_PERSON_FAILURES: ' ' }, 'invalid SIM_PERSON_FAILURES=" ": expected a number from 0 to 1'],
  ])('refuses the environment %j, naming the variable', (env, message) => {
    expect(() => parseOptions([], env)).toThrow(message);
    expect(() => parseOptions([], env)).toThrow(UsageError);
  });

  it('names the option, not the variable, when the bad value came from the option', () => {
    expect(() => parseOptions(['--reply-delay', 'soon'], { SIM_REPLY_DELAY: '1s' })).toThrow(
      new UsageError('--reply-delay soon: expected a duration such as 500ms or 2s, at most 1h'),
    );
    expect(() => parseOptions(['--silent', 'a b'])).toThrow(/^--silent a b: expected up to 100 command names/);
    expect(() => parseOptions(['--reply-field', 'sn'])).toThrow(/^--reply-field sn: expected a field name/);
    expect(() => parseOptions(['--person-failures', 'NaN'], { SIM_PERSON_FAILURES: '0.5' })).toThrow(
      new UsageError('--person-failures NaN: expected a number from 0 to 1'),
    );
  });

  it('gives undefined for --help, and the usage names every option', () => {
    expect(parseOptions(['--help'])).toBeUndefined();
    expect(parseOptions(['-h'])).toBeUndefined();
    for (const flag of [
      '--url',
      '--terminals',
      '--prefix',
      '--heartbeat',
      '--records-every',
      '--stranger-ratio',
      '--rejected-ratio',
      '--count',
      '--qos',
      '--username',
      '--uplink',
      '--reply-field',
      '--reply-delay',
      '--silent',
      '--person-failures',
      '--roster',
      '--quiet',
    ]) {
      expect(usage()).toContain(`  ${flag} `);
    }
  });

  it.each([
    [['--terminals', '10000'], '--terminals 10000: expected a number from 1 to 9999'],
    [['--terminals', '1.5'], '--terminals 1.5: expected a whole number from 1 to 9999'],
    [['--heartbeat', '0'], '--heartbeat 0: expected a number from 0.1 to 86400'],
    [['--records-every', ' '], '--records-every  : expected a number from 0 to 86400'],
    [['--stranger-ratio', 'NaN'], '--stranger-ratio NaN: expected a number from 0 to 1'],
    [['--rejected-ratio=-0.1'], '--rejected-ratio -0.1: expected a number from 0 to 1'],
    [['--stranger-ratio', '0.6', '--rejected-ratio', '0.5'], '--stranger-ratio and --rejected-ratio add up to more than 1'],
    [['--count', '0'], '--count 0: expected a number from 1 to 9007199254740991'],
    [['--qos', '2'], '--qos 2: expected 0 or 1'],
    [['--url', 'nonsense'], '--url nonsense: expected an mqtt://, mqtts://, ws:// or wss:// URL'],
    [['--prefix', 'a/b'], '--prefix a/b: expected text without / + # or spaces'],
    [['--downlink', 'down/{sn}/{sn}'], '--downlink down/{sn}/{sn}: expected a topic holding {sn} exactly once and no + or #'],
    [['--uplink', 'up/#'], '--uplink up/#: expected a topic holding {sn} exactly once and no + or #'],
  ])('refuses %j', (args, message) => {
    expect(() => parseOptions(args)).toThrow(new UsageError(message));
  });

  it('refuses positional arguments, unknown options and a value taken for an option, in one line', () => {
    for (const args of [['SIM0001'], ['--terminal', '3'], ['--rejected-ratio', '-0.1'], ['--count']]) {
      expect(() => parseOptions(args), args.join(' ')).toThrow(UsageError);
      try {
        parseOptions(args);
      } catch (err) {
        expect((err as Error).message).not.toContain('\n');
      }
    }
  });
});

describe('the summary printed on exit', () => {
  it('sums up records by kind, heartbeats with their round trips, commands and failures', () => {
    const text = formatSummary({
      seconds: 12.34,
      verified: 5,
      rejected: 2,
      strangers: 1,
      heartbeats: 4,
      heartD: 3,
      roundTripsMs: [4, 1, 2],
      commands: 1,
      unanswered: 2,
      enrolmentsRefused: 0,
      rosters: [],
      failures: 0,
    });
    expect(text.split('\n')).toEqual([
      'stopped after 12.3 s',
      '  records sent        8 (5 verified, 2 refused, 1 stranger)',
      '  heartbeats sent     4',
      '  heartD received     3 (round trip p50 2.0 ms, p99 4.0 ms)',
      '  commands answered   1',
      '  commands unanswered 2',
      '  enrolments refused  0',
      '  people held         0',
      '  publish failures    0',
    ]);
  });

  it('leaves out the round trips when no heartD came', () => {
    const text = formatSummary({
      seconds: 0,
      verified: 0,
      rejected: 0,
      strangers: 2,
      heartbeats: 1,
      heartD: 0,
      roundTripsMs: [],
      commands: 0,
      unanswered: 0,
      enrolmentsRefused: 0,
      rosters: [],
      failures: 1,
    });
    expect(text).toContain('  records sent        2 (0 verified, 0 refused, 2 strangers)\n');
    expect(text).toContain('  heartD received     0\n');
  });
});

describe('the people in the summary', () => {
  const summary = (rosters: Summary['rosters']): Summary => ({
    seconds: 1,
    verified: 0,
    rejected: 0,
    strangers: 0,
    heartbeats: 1,
    heartD: 1,
    roundTripsMs: [],
    commands: 4,
    unanswered: 0,
    enrolmentsRefused: 1,
    rosters,
    failures: 0,
  });
  const rosters = [
    {
      sn: 'SIM0001',
      people: new Map([
        ['1001', { num: '1001', name: 'Zhang San', photoBytes: 23_456, photoHash: 'a1b2c3d4e5f6', fields: { cardNo: '7' } }],
        ['1002', { num: '1002', name: 'Li\nSi', photoBytes: 0, photoHash: undefined, fields: {} }],
      ]),
    },
    { sn: 'SIM0002', people: new Map() },
  ];

  it('counts the people each terminal holds, and in all', () => {
    const lines = formatSummary(summary(rosters)).split('\n');
    expect(lines.slice(6, 11)).toEqual([
      '  enrolments refused  1',
      '  people held         2',
      '    SIM0001           2',
      '    SIM0002           0',
      '  publish failures    0',
    ]);
  });

  it('lists them with --roster, one line each, a name of any characters on its line', () => {
    const lines = formatSummary(summary(rosters), true).split('\n');
    expect(lines.slice(7, 12)).toEqual([
      '  people held         2',
      '    SIM0001           2',
      '      "1001" "Zhang San" photo 23456 bytes a1b2c3d4e5f6 {"cardNo":"7"}',
      '      "1002" "Li\\nSi" no photo',
      '    SIM0002           0',
    ]);
  });
});
