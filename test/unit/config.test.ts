import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ConfigSchema, helpText, parseConfig } from '../../src/config.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { DEFAULT_PERSON_COMMANDS } from '../../src/people/person-commands.ts';

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('parseConfig', () => {
  describe('defaults', () => {
    const config = parseConfig({});

    it.each([
      ['PORT', 6699],
      ['HOST', '0.0.0.0'],
      ['MQTT_URL', undefined],
      ['MQTT_USERNAME', undefined],
      ['MQTT_PASSWORD', undefined],
      ['MQTT_CLIENT_ID', undefined],
      ['BROKER_PORT', 1883],
      ['BROKER_HOST', '127.0.0.1'],
      ['BROKER_ANONYMOUS', false],
      ['MAX_CONNECTIONS', 11_000],
      ['BROKER_USERNAME', undefined],
      ['BROKER_PASSWORD', undefined],
      ['UPLINK_TOPIC', 'fungxi_{sn}_upLink'],
      ['DOWNLINK_TOPIC', 'fungxi_{sn}_downLink'],
      ['DEVICES', []],
      ['DISCOVERY', true],
      ['DEFAULT_DEVICE', undefined],
      ['WEBHOOK_URL', undefined],
      ['WEBHOOK_SECRET', undefined],
      ['DATABASE_URL', undefined],
      ['DELIVERY_TIMEOUT', 15_000],
      ['BODY_LIMIT', 1024 * 1024],
      ['MAX_PAYLOAD', 8 * 1024 * 1024],
      ['MAX_RECORDS', 1000],
      ['COMMAND_RATE', { perSecond: 5, burst: 10 }],
      ['REPLY_FIELD', undefined],
      ['REPLY_WINDOW', 30_000],
      ['PERSON_COMMANDS', DEFAULT_PERSON_COMMANDS],
      ['MAX_TERMINALS', 10_000],
      ['DISCOVERY_RATE', { perSecond: 100, burst: 200 }],
      ['FORWARD', 'passed'],
      ['IMAGES', 'inline'],
      ['ADMIN_TOKEN', undefined],
      ['DATA_DIR', './data'],
      ['HEARTBEAT_TIMEOUT', 90],
      ['RETENTION_DAYS', 30],
      ['FORGET_AFTER', 30 * 86_400_000],
      ['LOG_LEVEL', 'info'],
    ])('%s defaults to %j', (name, expected) => {
      expect((config as Record<string, unknown>)[name]).toEqual(expected);
    });

    it('DELIVERY_SCHEDULE defaults to retries from about 1 s spanning about a day', () => {
      const schedule = config.DELIVERY_SCHEDULE;
      expect(schedule[0]).toBeLessThanOrEqual(2000);
      const total = schedule.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(12 * 3_600_000);
      expect(total).toBeLessThan(48 * 3_600_000);
      expect([...schedule].sort((a, b) => a - b)).toEqual(schedule);
    });
  });

  it('treats empty strings as unset', () => {
    const config = parseConfig({ PORT: '', MQTT_URL: '', FORWARD: '', DEVICES: '', ADMIN_TOKEN: '', DELIVERY_SCHEDULE: '' });
    expect(config.PORT).toBe(6699);
    expect(config.MQTT_URL).toBeUndefined();
    expect(config.FORWARD).toBe('passed');
    expect(config.DEVICES).toEqual([]);
    expect(config.ADMIN_TOKEN).toBeUndefined();
    expect(config.DELIVERY_SCHEDULE).toEqual(parseConfig({}).DELIVERY_SCHEDULE);
  });

  it('ignores variables it does not know', () => {
    expect(() => parseConfig({ PATH: '/usr/bin', FACEGATE_PORT: 'abc' })).not.toThrow();
  });

  it('returns a frozen config', () => {
    const config = parseConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { PORT: number }).PORT = 1;
    }).toThrow(TypeError);
  });

  describe('values', () => {
    it('reads ports, host and broker settings', () => {
      const config = parseConfig({ PORT: '8080', HOST: '127.0.0.1', BROKER_PORT: '0', MQTT_CLIENT_ID: 'bridge-1' });
      expect(config).toMatchObject({ PORT: 8080, HOST: '127.0.0.1', BROKER_PORT: 0, MQTT_CLIENT_ID: 'bridge-1' });
    });

    it.each(['mqtt://broker:1883', 'mqtts://broker', 'ws://broker/mqtt', 'wss://broker/mqtt'])('accepts MQTT_URL %s', (url) => {
      expect(parseConfig({ MQTT_URL: url }).MQTT_URL).toBe(url);
    });

    it.each(['postgres://facegate:s3cret@db:5432/facegate', 'postgresql://db/facegate?sslmode=require'])('accepts DATABASE_URL %s', (url) => {
      expect(parseConfig({ DATABASE_URL: url }).DATABASE_URL).toBe(url);
    });

    it.each(['http://backend:6688/api/user/mqtt_msg', 'https://backend.example/hook'])('accepts WEBHOOK_URL %s', (url) => {
      expect(parseConfig({ WEBHOOK_URL: url }).WEBHOOK_URL).toBe(url);
    });

    it('splits DEVICES on commas and trims', () => {
      expect(parseConfig({ DEVICES: ' 123456789, A-2 ,,B_3' }).DEVICES).toEqual(['123456789', 'A-2', 'B_3']);
    });

    it.each([
      ['true', true],
      ['false', false],
      ['1', true],
      ['0', false],
      ['yes', true],
      ['no', false],
    ])('reads DISCOVERY=%s as %s', (text, value) => {
      expect(parseConfig({ DISCOVERY: text }).DISCOVERY).toBe(value);
    });

    it('reads FORWARD and IMAGES', () => {
      expect(parseConfig({ FORWARD: 'all', IMAGES: 'omit' })).toMatchObject({ FORWARD: 'all', IMAGES: 'omit' });
    });

    it('parses COMMAND_RATE 5/s to 5 per second with a burst of 10', () => {
      expect(parseConfig({ COMMAND_RATE: '5/s' }).COMMAND_RATE).toEqual({ perSecond: 5, burst: 10 });
    });

    it('parses COMMAND_RATE 60/m to 1 per second', () => {
      expect(parseConfig({ COMMAND_RATE: '60/m' }).COMMAND_RATE.perSecond).toBe(1);
    });

    it('parses DELIVERY_SCHEDULE to milliseconds', () => {
      expect(parseConfig({ DELIVERY_SCHEDULE: '1s, 5s,30s,2m,1h,500ms' }).DELIVERY_SCHEDULE).toEqual([1000, 5000, 30_000, 120_000, 3_600_000, 500]);
    });

    it('parses durations and sizes', () => {
      const config = parseConfig({ DELIVERY_TIMEOUT: '2m', BODY_LIMIT: '512kb', MAX_PAYLOAD: '16MB' });
      expect(config).toMatchObject({ DELIVERY_TIMEOUT: 120_000, BODY_LIMIT: 512 * 1024, MAX_PAYLOAD: 16 * 1024 * 1024 });
    });

    it('accepts multi-level topic templates', () => {
      const config = parseConfig({ UPLINK_TOPIC: 'site/{sn}/up', DOWNLINK_TOPIC: 'site/{sn}/down' });
      expect(config).toMatchObject({ UPLINK_TOPIC: 'site/{sn}/up', DOWNLINK_TOPIC: 'site/{sn}/down' });
    });

    it('accepts an ADMIN_TOKEN of 16 characters', () => {
      expect(parseConfig({ ADMIN_TOKEN: 'a'.repeat(16) }).ADMIN_TOKEN).toBe('a'.repeat(16));
    });
  });

  describe('bad values', () => {
    it.each([
      ['PORT', 'abc', /whole number/],
      ['PORT', '70000', /65535/],
      ['PORT', '-1', /whole number/],
      ['BROKER_PORT', '18.83', /whole number/],
      ['HEARTBEAT_TIMEOUT', '0', /whole number/],
      ['DELIVERY_TIMEOUT', '15x', /duration/],
      ['DELIVERY_SCHEDULE', '1s,soon,5s', /duration/],
      ['DELIVERY_SCHEDULE', '1s,,5s', /duration/],
      ['BODY_LIMIT', 'big', /size/],
      ['MAX_PAYLOAD', '0', /size/],
      ['MAX_RECORDS', '0', /from 1 to 100000/],
      ['MAX_RECORDS', '100001', /from 1 to 100000/],
      ['MAX_RECORDS', 'many', /whole number/],
      ['MQTT_SLOTS', '0', /from 1 to 64/],
      ['MQTT_SLOTS', '65', /from 1 to 64/],
      ['MQTT_SLOTS', 'four', /from 1 to 64/],
      ['MQTT_SHARE_GROUP', 'site/a', /share name/],
      ['MQTT_SHARE_GROUP', 'a+b', /share name/],
      ['MQTT_SHARE_GROUP', 'g'.repeat(41), /share name/],
      ['COMMAND_RATE', 'fast', /rate/],
      ['COMMAND_RATE', '5/h', /rate/],
      ['REPLY_FIELD', 'my-tag', /field name of 1 to 64 letters, digits and _/],
      ['REPLY_FIELD', 'x'.repeat(65), /field name of 1 to 64/],
      ['REPLY_WINDOW', 'soon', /duration/],
      ['REPLY_WINDOW', '0', /above zero/],
      ['FORWARD', 'some', /passed, all/],
      ['IMAGES', 'none', /inline, omit/],
      ['LOG_LEVEL', 'loud', /info/],
      ['DISCOVERY', 'maybe', /true or false/],
      ['MQTT_URL', 'http://x', /mqtt:\/\//],
      ['MQTT_URL', 'broker:1883x', /mqtt:\/\//],
      ['WEBHOOK_URL', 'ftp://x', /http:\/\//],
      ['WEBHOOK_URL', 'not a url', /http:\/\//],
      ['WEBHOOK_URL', 'http://50%off@backend/hook', /percent-encoded/],
      ['DATABASE_URL', 'mysql://db/facegate', /postgres:\/\//],
      ['DATABASE_URL', 'postgres://u:p@ss w@', /postgres:\/\//],
      ['UPLINK_TOPIC', 'fungxi_upLink', /\{sn\}/],
      ['UPLINK_TOPIC', '{sn}/{sn}', /\{sn\}/],
      ['DOWNLINK_TOPIC', 'fungxi/+/{sn}', /wildcard/],
      ['DOWNLINK_TOPIC', 'fungxi/{sn}/#', /wildcard/],
      ['ADMIN_TOKEN', 'short', /16 characters/],
      ['WEBHOOK_SECRET', 'short', /16 characters/],
      ['WEBHOOK_SECRET', 'whsec_my secret passphrase!', /base64/],
      ['WEBHOOK_SECRET', 'whsec_c2hvcnQ=', /16 bytes/],
      ['DELIVERY_TIMEOUT', '25d', /24 days/],
      ['DEVICES', '123,45/6', /serials/],
      ['DEVICES', 'a+b', /serials/],
      ['UPLINK_TOPIC', '$SYS/{sn}/up', /start with \$/],
      ['MAX_CONNECTIONS', '0', /whole number from 1/],
      ['MAX_CONNECTIONS', 'many', /whole number/],
      ['BROKER_ANONYMOUS', 'maybe', /true or false/],
      ['DEVICES', `A1,${'x'.repeat(65)}`, /serials of 1 to 64/],
      ['DEVICES', 'A1,-B2', /serials of 1 to 64/],
      ['DEVICES', 'A1,门禁', /serials of 1 to 64/],
      ['DEFAULT_DEVICE', 'a b', /a serial of 1 to 64/],
      ['DEFAULT_DEVICE', 'café', /a serial of 1 to 64/],
      ['MAX_TERMINALS', '0', /1 to 1000000/],
      ['MAX_TERMINALS', 'lots', /whole number/],
      ['DISCOVERY_RATE', '0/s', /rate such as/],
      ['DISCOVERY_RATE', '100', /rate such as/],
      ['DISCOVERY_RATE', '5/h', /rate such as/],
      ['FORGET_AFTER', '30s', /at least 1 minute/],
      ['FORGET_AFTER', 'soon', /duration such as 30d/],
      ['FORGET_AFTER', '36501d', /at most 36500 days/],
    ])('%s=%j throws a ConfigError naming variable, value and expectation', (name, value, expectation) => {
      const error = configError({ [name]: value });
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).not.toContain('\n');
      expect(error.message).toContain(name);
      // The line goes to the journal: a secret is named by its length only.
      if (['ADMIN_TOKEN', 'WEBHOOK_SECRET', 'DATABASE_URL'].includes(name)) expect(error.message).toContain(`"<${value.length} characters, not shown>"`);
      else expect(error.message).toContain(value);
      expect(error.message).toContain('expected');
      expect(error.message).toMatch(expectation);
    });

    it('keeps the message on one line when the value holds a newline', () => {
      const error = configError({ PORT: '80\n80' });
      expect(error.message).not.toMatch(/[\r\n]/);
      expect(error.message).toContain('PORT');
    });

    it('names the bad variable when others are fine', () => {
      const error = configError({ PORT: '8080', FORWARD: 'all', WEBHOOK_URL: 'ftp://x' });
      expect(error.message).toContain('WEBHOOK_URL');
      expect(error.message).not.toContain('PORT');
    });

    it('shows no password of a URL in the error line', () => {
      const error = configError({ MQTT_URL: 'http://svc:hunter2-pw@broker:1883' });
      expect(error.message).toContain('svc:***@broker');
      expect(error.message).not.toContain('hunter2');
    });

    it.each([
      [{ BROKER_USERNAME: 'door' }, 'BROKER_PASSWORD'],
      [{ BROKER_PASSWORD: 'open-sesame-42' }, 'BROKER_USERNAME'],
    ])('wants BROKER_USERNAME and BROKER_PASSWORD together: %j', (env, missing) => {
      expect(configError(env).message).toMatch(new RegExp(`^invalid ${missing}="": expected a user name and a password together`));
    });

    it('takes a FORGET_AFTER of a minute or more, in days beyond what a timer could hold', () => {
      expect(parseConfig({ FORGET_AFTER: '1m' }).FORGET_AFTER).toBe(60_000);
      expect(parseConfig({ FORGET_AFTER: '400d' }).FORGET_AFTER).toBe(400 * 86_400_000);
    });

    it('wants no more serials in DEVICES and DEFAULT_DEVICE than MAX_TERMINALS', () => {
      expect(configError({ DEVICES: 'A1,A2,A3', MAX_TERMINALS: '2' }).message).toBe(
        'invalid DEVICES="<3 serials with DEFAULT_DEVICE>": expected at most MAX_TERMINALS (2) serials',
      );
      expect(configError({ DEVICES: 'A1,A2', DEFAULT_DEVICE: 'A3', MAX_TERMINALS: '2' }).message).toMatch(/^invalid DEVICES=.*MAX_TERMINALS \(2\)/);
      expect(parseConfig({ DEVICES: 'A1,A2', DEFAULT_DEVICE: 'A2', MAX_TERMINALS: '2' }).MAX_TERMINALS).toBe(2);
    });

    it('takes MQTT_SLOTS 1 (the single client) unless set, 4 in cluster mode (DATABASE_URL)', () => {
      expect(parseConfig({}).MQTT_SLOTS).toBe(1);
      expect(parseConfig({ MQTT_SLOTS: '8' }).MQTT_SLOTS).toBe(8);
      expect(parseConfig({ DATABASE_URL: 'postgres://db/facegate' }).MQTT_SLOTS).toBe(4);
      expect(parseConfig({}).MQTT_SHARE_GROUP).toBe('facegate');
    });

    it('wants an MQTT_CLIENT_ID that can name the share group of one process with several slots', () => {
      expect(configError({ MQTT_SLOTS: '4', MQTT_CLIENT_ID: 'site/bridge' }).message).toMatch(
        /^invalid MQTT_CLIENT_ID="site\/bridge": expected 1 to 40 letters, digits, _ and - with MQTT_SLOTS=4/,
      );
      expect(parseConfig({ MQTT_CLIENT_ID: 'site/bridge' }).MQTT_CLIENT_ID).toBe('site/bridge');
    });

    it('rejects a COMMAND_RATE of zero (it would refuse every command with an infinite Retry-After)', () => {
      expect(() => parseConfig({ COMMAND_RATE: '0/s' })).toThrow(ConfigError);
    });
  });
});

describe('BROKER_HOST and BROKER_ANONYMOUS', () => {
  const CREDENTIALS = { BROKER_USERNAME: 'door', BROKER_PASSWORD: 'open-sesame-42' };
  const dir = makeTempDir('facegate-config-');
  const logins = join(dir, 'terminals');
  writeFileSync(logins, 'T1:first-door-secret\n');
  afterAll(() => removeTempDir(dir));

  it.each([
    ['anonymous', {}, '127.0.0.1'],
    ['anonymous, BROKER_ANONYMOUS=true', { BROKER_ANONYMOUS: 'true' }, '0.0.0.0'],
    ['BROKER_USERNAME and BROKER_PASSWORD', CREDENTIALS, '0.0.0.0'],
    ['BROKER_CREDENTIALS', { BROKER_CREDENTIALS: logins }, '0.0.0.0'],
  ])('listens by default, %s, on %s', (_name, env, host) => {
    expect(parseConfig(env).BROKER_HOST).toBe(host);
  });

  it.each(['127.0.0.1', '127.0.1.1', '::1', 'localhost', '::ffff:127.0.0.1'])('lets an anonymous broker listen on loopback %s', (host) => {
    expect(parseConfig({ BROKER_HOST: host }).BROKER_HOST).toBe(host);
  });

  it.each([
    ['BROKER_ANONYMOUS=true', { BROKER_ANONYMOUS: 'true' }],
    ['credentials', CREDENTIALS],
    ['per-terminal logins', { BROKER_CREDENTIALS: logins }],
    ['an external broker (no embedded one runs)', { MQTT_URL: 'mqtt://broker.lan' }],
  ])('lets it listen on another interface with %s', (_name, env) => {
    expect(parseConfig({ ...env, BROKER_HOST: '192.168.10.2' }).BROKER_HOST).toBe('192.168.10.2');
  });

  it.each([
    [{ BROKER_HOST: '0.0.0.0' }, '""'],
    [{ BROKER_HOST: '192.168.10.2', BROKER_ANONYMOUS: 'no' }, '"no"'],
    [{ BROKER_HOST: '::' }, '""'],
  ])('refuses an anonymous broker on a network interface without BROKER_ANONYMOUS=true: %j', (env, shown) => {
    const error = configError(env);
    expect(error.message).not.toContain('\n');
    expect(error.message).toMatch(new RegExp(`^invalid BROKER_ANONYMOUS=${shown}: expected true to let terminals in without credentials on BROKER_HOST=`));
    expect(error.message).toContain(env.BROKER_HOST);
    expect(error.message).toContain('BROKER_CREDENTIALS');
  });
});

describe('PERSON_COMMANDS', () => {
  const dir = makeTempDir('facegate-config-');
  afterAll(() => removeTempDir(dir));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const custom = {
    upsert: { command: { cmd: 'enrolD', id: '{{num}}', who: '{{name}}' }, reply: 'enrolU' },
    delete: { command: { cmd: 'removeD', id: '{{num}}' }, reply: 'removeU' },
    success: { field: 'result', equals: 'ok' },
  };

  it('reads a file of templates, reply names and the rule of success', () => {
    expect(parseConfig({ PERSON_COMMANDS: file('custom.json', JSON.stringify(custom)) }).PERSON_COMMANDS).toEqual(custom);
  });

  it.each([
    ['not JSON', '{"upsert":', /not JSON/],
    ['not an object', '[1]', /expected a JSON object with upsert, delete and success/],
    [
      'a template without cmd',
      JSON.stringify({ ...custom, upsert: { command: { id: '{{num}}' }, reply: 'enrolU' } }),
      /upsert\.command must have a cmd ending in D/,
    ],
    [
      'a cmd not ending in D',
      JSON.stringify({ ...custom, delete: { command: { cmd: 'remove' }, reply: 'removeU' } }),
      /delete\.command must have a cmd ending in D/,
    ],
    ['a reply the correlation does not pair', JSON.stringify({ ...custom, upsert: { ...custom.upsert, reply: 'enrolAck' } }), /upsert\.reply must be enrolU/],
    ['no success', JSON.stringify({ upsert: custom.upsert, delete: custom.delete }), /success/],
  ])('stops the start with one line naming PERSON_COMMANDS for %s', (name, text, expectation) => {
    const path = file(`${name.replace(/ /g, '-')}.json`, text);
    const error = configError({ PERSON_COMMANDS: path });
    expect(error.message).not.toMatch(/[\r\n]/);
    expect(error.message).toMatch(new RegExp(`^invalid PERSON_COMMANDS="${path}": expected`));
    expect(error.message).toMatch(expectation);
  });

  it('names a file it cannot read', () => {
    expect(configError({ PERSON_COMMANDS: join(dir, 'missing.json') }).message).toMatch(
      /^invalid PERSON_COMMANDS=".*missing\.json": expected a readable file \(ENOENT\)$/,
    );
  });

  it('is listed by --help', () => {
    expect(helpText()).toMatch(/^\s+PERSON_COMMANDS\s.*addPersonD/m);
  });
});

describe('README §Configuration', () => {
  it('has a row for every variable', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration\n'), readme.indexOf('\n## ', readme.indexOf('## Configuration\n') + 1));
    const named = new Set(
      table.split('\n').flatMap((line) => (line.startsWith('| `') ? [...line.split(' | ')[0].matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]) : [])),
    );
    expect(Object.keys(ConfigSchema.entries).filter((name) => !named.has(name))).toEqual([]);
  });
});

describe('helpText', () => {
  const SPEC_VARIABLES = [
    'PORT',
    'HOST',
    'MQTT_URL',
    'MQTT_USERNAME',
    'MQTT_PASSWORD',
    'MQTT_CLIENT_ID',
    'BROKER_PORT',
    'BROKER_USERNAME',
    'BROKER_PASSWORD',
    'UPLINK_TOPIC',
    'DOWNLINK_TOPIC',
    'DEVICES',
    'DISCOVERY',
    'DEFAULT_DEVICE',
    'WEBHOOK_URL',
    'WEBHOOK_SECRET',
    'DELIVERY_SCHEDULE',
    'DELIVERY_TIMEOUT',
    'BODY_LIMIT',
    'MAX_PAYLOAD',
    'COMMAND_RATE',
    'FORWARD',
    'IMAGES',
    'ADMIN_TOKEN',
    'DATA_DIR',
    'HEARTBEAT_TIMEOUT',
    'RETENTION_DAYS',
    'LOG_LEVEL',
  ];

  it.each(SPEC_VARIABLES)('lists %s', (name) => {
    expect(helpText()).toMatch(new RegExp(`^\\s+${name}\\s`, 'm'));
  });

  it.each(['MAX_TERMINALS', 'DISCOVERY_RATE', 'FORGET_AFTER'])('lists %s, which bounds discovery', (name) => {
    expect(helpText()).toMatch(new RegExp(`^\\s+${name}\\s`, 'm'));
  });

  it('shows the defaults', () => {
    const text = helpText();
    expect(text).toMatch(/DISCOVERY_RATE\s.*\(default 100\/s\)/);
    expect(text).toMatch(/MAX_TERMINALS\s.*\(default 10000\)/);
    expect(text).toMatch(/FORGET_AFTER\s.*\(default 30d\)/);
    expect(text).toMatch(/PORT\s.*\(default 6699\)/);
    expect(text).toMatch(/UPLINK_TOPIC\s.*\(default fungxi_\{sn\}_upLink\)/);
    expect(text).toMatch(/COMMAND_RATE\s.*\(default 5\/s\)/);
    expect(text).toMatch(/MAX_PAYLOAD\s.*\(default 8mb\)/);
    expect(text).toMatch(/MAX_CONNECTIONS\s.*\(default 11000\)/);
    expect(text).toMatch(/BROKER_HOST\s.*127\.0\.0\.1 while it is anonymous, else 0\.0\.0\.0/);
    expect(text).toMatch(/MAX_RECORDS\s.*\(default 1000\)/);
  });

  it('says the client id is kept in DATA_DIR, not taken from this machine', () => {
    expect(helpText()).toMatch(/MQTT_CLIENT_ID\s.*kept in DATA_DIR/);
  });
});
