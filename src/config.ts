import { accessSync, constants, readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import * as v from 'valibot';
import { secretProblem } from './delivery/sign.ts';
import { webhookUrlProblem } from './delivery/webhook-url.ts';
import { withoutPassword } from './lib/secrets.ts';
import { DURATION, parseDuration, parseSize } from './lib/units.ts';
import { DEFAULT_PERSON_COMMANDS, type PersonCommands, parsePersonCommands } from './people/person-commands.ts';
import { isSerial, SERIAL_RULE } from './protocol/serial.ts';
import { DEFAULT_MAX_RECORDS } from './protocol/uplink.ts';

// Every variable is a string in the environment; each schema below starts from
// that string, carries its default and its help line, and ends as the typed
// value the code uses. `facegate --help` is generated from these same schemas.

/** README §Running several replicas: slots a process may hold; each is an MQTT connection and a session at the broker. */
export const MAX_SLOTS = 64;
/** A share name [MQTT-4.8.2-2] (no /, + or #), short enough that `<group>-slot-<n>` stays within 23 characters plus a margin brokers accept. */
const SHARE_NAME = /^[A-Za-z0-9_-]{1,40}$/;

const SIZE = /^\d+(?:\.\d+)?(?:b|kb|mb|gb)?$/i;

const text = (fallback: string, description: string) => v.pipe(v.optional(v.string(), fallback), v.description(description));
const optionalText = (description: string) => v.pipe(v.optional(v.string()), v.description(description));

const integer = (fallback: string, description: string, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.regex(/^\d+$/, `expected a whole number from ${min} to ${max}`),
    v.transform(Number),
    v.minValue(min, `expected a whole number from ${min} to ${max}`),
    v.maxValue(max, `expected a whole number from ${min} to ${max}`),
  );

const port = (fallback: string, description: string) => integer(fallback, description, 0, 65535);

const duration = (fallback: string, description: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.regex(DURATION, 'expected a duration such as 500ms, 15s, 2m or 1h'),
    v.transform(parseDuration),
    v.minValue(1, 'expected a duration above zero'),
    // Node's timers (and AbortSignal.timeout) take 2^31 - 1 ms at most and fire at once beyond.
    v.maxValue(2 ** 31 - 1, 'expected a duration of at most 24 days'),
  );

/** A span compared with stored times, never given to a timer: not bound by Node's 24 days. */
const age = (fallback: string, description: string, min: { ms: number; text: string }) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.regex(DURATION, 'expected a duration such as 30d, 12h or 90m'),
    v.transform(parseDuration),
    v.minValue(min.ms, `expected a duration of at least ${min.text}`),
    v.maxValue(36_500 * 86_400_000, 'expected a duration of at most 36500 days'),
  );

const size = (fallback: string, description: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.regex(SIZE, 'expected a size such as 512kb, 1mb or 8mb'),
    v.transform(parseSize),
    v.minValue(1, 'expected a size above zero'),
  );

const choice = <const T extends readonly [string, ...string[]]>(options: T, description: string) =>
  v.pipe(v.optional(v.picklist(options, `expected one of: ${options.join(', ')}`), options[0]), v.description(description));

const flag = (fallback: 'true' | 'false', description: string) =>
  v.pipe(
    v.optional(v.picklist(['true', 'false', '1', '0', 'yes', 'no'], 'expected true or false'), fallback),
    v.description(description),
    v.transform((s) => s === 'true' || s === '1' || s === 'yes'),
  );

const url = (protocols: RegExp, expected: string, description: string) =>
  v.pipe(
    v.optional(v.string()),
    v.description(description),
    v.check((s) => s === undefined || (URL.canParse(s) && protocols.test(new URL(s).protocol)), `expected ${expected}`),
  );

const file = (description: string) =>
  v.pipe(
    v.optional(v.string()),
    v.description(description),
    v.check((path) => path === undefined || isReadable(path), 'expected the path of a readable file'),
  );

function isReadable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** README §People on the terminals: the file of the enrolment commands, read and checked once; unset = the built-in default. */
const personCommands = v.pipe(
  // '' stands for unset (an empty value never reaches the schema): the key must be there for the default to be made.
  v.optional(v.string(), ''),
  v.description('JSON file of the enrolment command templates, their replies and the rule of success; unset = addPersonD/deletePersonD, code 0'),
  v.rawTransform(({ dataset, addIssue, NEVER }): PersonCommands => {
    const path = dataset.value;
    if (path === '') return DEFAULT_PERSON_COMMANDS;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      addIssue({ message: `expected a readable file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})` });
      return NEVER;
    }
    const parsed = parsePersonCommands(text);
    if (parsed.ok) return parsed.value;
    addIssue({ message: `expected a file of enrolment commands: ${parsed.problem}` });
    return NEVER;
  }),
);

const serialList = v.pipe(
  v.optional(v.string(), ''),
  v.description('comma list of terminal serials to register and subscribe at start'),
  v.transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  ),
  v.check((list) => list.every(isSerial), `expected serials of ${SERIAL_RULE}`),
);

const serial = (description: string) =>
  v.pipe(
    v.optional(v.string()),
    v.description(description),
    v.check((sn) => sn === undefined || isSerial(sn), `expected a serial of ${SERIAL_RULE}`),
  );

const topicTemplate = (fallback: string, description: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.check((t) => t.split('{sn}').length === 2, 'expected a topic holding {sn} exactly once'),
    v.check((t) => !/[+#]/.test(t), 'expected a topic without the wildcards + and #'),
    // `$` topics are the broker's own; the embedded broker refuses them [MQTT-4.7.2-1].
    v.check((t) => !t.startsWith('$'), 'expected a topic that does not start with $'),
  );

const schedule = v.pipe(
  v.optional(v.string(), '1s,5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,16h'),
  v.description('ceilings of the random delay before each retry (full jitter); after the last one a delivery is dead'),
  v.transform((s) => s.split(',').map((x) => x.trim())),
  v.check((list) => list.length > 0 && list.every((d) => DURATION.test(d)), 'expected a comma list of durations such as 1s,5s,30s'),
  v.transform((list) => list.map(parseDuration)),
);

/** `N/s` or `N/m`, with a burst of 2 × N: COMMAND_RATE and DISCOVERY_RATE, for the token bucket of rate-limit.ts. */
const rate = (fallback: string, description: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.regex(/^[1-9]\d*\/(s|m)$/, 'expected a rate such as 5/s or 60/m'),
    v.transform((s) => {
      const [count, unit] = s.split('/');
      return { perSecond: Number(count) / (unit === 'm' ? 60 : 1), burst: Number(count) * 2 };
    }),
  );

export const ConfigSchema = v.object({
  PORT: port('6699', 'HTTP port of the API'),
  HOST: text('0.0.0.0', 'HTTP bind address'),
  MQTT_URL: url(/^(mqtt|mqtts|ws|wss):$/, 'an mqtt://, mqtts://, ws:// or wss:// URL', 'external broker; unset = run the embedded broker'),
  MQTT_USERNAME: optionalText('user name for the external broker'),
  MQTT_PASSWORD: optionalText('password for the external broker'),
  MQTT_CA: file('CA certificate (PEM) to trust for an mqtts:// or wss:// external broker'),
  BROKER_PROBE: flag(
    'true',
    'against an external broker, find out at start whether it drops queued messages (1,200 small messages on facegate/queue-probe/…) and watch its own count of drops',
  ),
  MQTT_CLIENT_ID: optionalText('client id at the external broker, which keeps a persistent session for it; unset = generated once and kept in DATA_DIR'),
  MQTT_SLOTS: v.pipe(
    v.optional(v.string()),
    v.description(
      'slots of the shared subscription the upLink is read through (1-64), each an MQTT client with a session of its own; unset = 1 (one client, no shared subscription), 4 with DATABASE_URL',
    ),
    v.check((s) => s === undefined || (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= MAX_SLOTS), `expected a whole number from 1 to ${MAX_SLOTS}`),
    v.transform((s) => (s === undefined ? undefined : Number(s))),
  ),
  MQTT_SHARE_GROUP: v.pipe(
    v.optional(v.string(), 'facegate'),
    v.description("share group of the replicas' slots (with DATABASE_URL); one process alone uses its MQTT_CLIENT_ID"),
    v.regex(SHARE_NAME, 'expected a share name of 1 to 40 letters, digits, _ and -'),
  ),
  BROKER_PORT: port('1883', 'port of the embedded broker'),
  BROKER_HOST: optionalText('interface of the embedded broker (plain and mqtts); unset = 127.0.0.1 while it is anonymous, else 0.0.0.0'),
  BROKER_ANONYMOUS: flag('false', 'let terminals in without credentials on an interface other than loopback (BROKER_HOST)'),
  MAX_CONNECTIONS: integer(
    '11000',
    'MQTT connections the embedded broker holds at once (plain and mqtts); fewer when the open-file limit is lower',
    1,
    1_000_000,
  ),
  BROKER_CREDENTIALS: file('file of per-terminal logins, one "serial:password" a line; a terminal logged in as its serial may use only its own topics'),
  BROKER_TLS_CERT: file('certificate chain (PEM) of the embedded broker; with BROKER_TLS_KEY it also listens for mqtts'),
  BROKER_TLS_KEY: file('private key (PEM) of that certificate'),
  BROKER_TLS_PORT: port('8883', 'mqtts port of the embedded broker, when BROKER_TLS_CERT and BROKER_TLS_KEY are set'),
  BROKER_USERNAME: optionalText('user name terminals present to the embedded broker; unset = anonymous'),
  BROKER_PASSWORD: optionalText('password terminals present to the embedded broker'),
  UPLINK_TOPIC: topicTemplate('fungxi_{sn}_upLink', 'topic terminals publish on; {sn} marks the serial'),
  DOWNLINK_TOPIC: topicTemplate('fungxi_{sn}_downLink', 'topic terminals listen on; {sn} marks the serial'),
  DEVICES: serialList,
  DISCOVERY: flag('true', 'also learn new terminals from their traffic'),
  MAX_TERMINALS: integer('10000', 'terminals the bridge knows at most (stored and registered); a new serial beyond is not learned', 1, 1_000_000),
  DISCOVERY_RATE: rate('100/s', 'new serials learned from their traffic (burst twice that); more are not learned for now'),
  DEFAULT_DEVICE: serial('target of the compatibility route POST /'),
  WEBHOOK_URL: v.pipe(
    v.optional(v.string()),
    v.description('default webhook endpoint; receives face.verified events'),
    v.check(
      (s) => s === undefined || !webhookUrlProblem(s),
      'expected an http:// or https:// URL, with any user name and password in it percent-encoded (% as %25)',
    ),
  ),
  WEBHOOK_SECRET: v.pipe(
    v.optional(v.string()),
    v.description('signing secret of the default endpoint (whsec_<base64> or any string of 16 characters or more)'),
    v.check(
      (secret) => secret === undefined || !secretProblem(secret),
      (issue) => `expected a usable secret: ${secretProblem(issue.input as string)}`,
    ),
  ),
  DELIVERY_SCHEDULE: schedule,
  DELIVERY_TIMEOUT: duration('15s', 'time limit of one delivery attempt'),
  DELIVERY_CONCURRENCY: integer('8', 'requests in flight per webhook endpoint', 1, 256),
  BODY_LIMIT: size('1mb', 'largest HTTP request body'),
  MAX_PAYLOAD: size('8mb', 'largest MQTT message accepted from a terminal'),
  MAX_RECORDS: integer(String(DEFAULT_MAX_RECORDS), 'records a verifiedRecordU or strangerRecordU may hold; one holding more is one reject', 1, 100_000),
  COMMAND_RATE: rate('5/s', 'commands accepted per terminal (burst twice that); more get 429'),
  REPLY_FIELD: v.pipe(
    v.optional(v.string()),
    v.description('field a command carries its id in, and a reply echoes it back in (e.g. tag); unset = replies are paired by name only'),
    v.check((name) => name === undefined || /^[A-Za-z0-9_]{1,64}$/.test(name), 'expected a field name of 1 to 64 letters, digits and _'),
  ),
  REPLY_WINDOW: duration('30s', 'how long after it went out a command can still be replied to; then it is unanswered'),
  PERSON_COMMANDS: personCommands,
  FORWARD: choice(['passed', 'all'], 'passed: face.verified only for personType 1 with verifiedCode 0; all: every verified record'),
  IMAGES: choice(['inline', 'omit'], 'inline: webhooks carry the face image; omit: no image leaves the bridge'),
  ADMIN_TOKEN: v.pipe(
    v.optional(v.string()),
    v.description('bearer token of the API; unset = generated once and kept in DATA_DIR'),
    v.check((s) => s === undefined || s.length >= 16, 'expected at least 16 characters'),
  ),
  DATA_DIR: text('./data', 'folder of the SQLite database and its face images (images/, unless DATABASE_URL), the generated token and client id'),
  DATABASE_URL: v.pipe(
    v.optional(v.string()),
    v.description('PostgreSQL to store everything in (postgres://user:password@host:5432/facegate); unset = SQLite in DATA_DIR'),
    v.check((url) => url === undefined || (/^postgres(ql)?:\/\/[^/]/.test(url) && URL.canParse(url)), 'expected a postgres:// or postgresql:// URL'),
  ),
  SQLITE_SYNC: choice(['full', 'normal'], 'full: every acknowledged message survives a power cut; normal: it survives a process crash'),
  HEARTBEAT_TIMEOUT: integer('90', 'seconds without any message before a terminal counts as offline', 1, 86400),
  RETENTION_DAYS: integer('30', 'days events and images are kept', 1, 36500),
  FORGET_AFTER: age('30d', 'terminals learned from their traffic (not in DEVICES), offline and silent this long, are forgotten', {
    ms: 60_000,
    text: '1 minute',
  }),
  CLOCK_SKEW: age('5m', "a face record's time this far from its receipt is a terminal's clock off (device.clock_skew, once an hour per terminal)", {
    ms: 1000,
    text: '1 second',
  }),
  LOG_LEVEL: choice(['info', 'debug', 'warn', 'error', 'silent'], 'log level'),
});

type Parsed = v.InferOutput<typeof ConfigSchema>;

/** BROKER_HOST is always set once parsed: its default depends on the credentials; MQTT_SLOTS too: its default on DATABASE_URL. */
export type Config = Readonly<Omit<Parsed, 'BROKER_HOST' | 'MQTT_SLOTS'> & { BROKER_HOST: string; MQTT_SLOTS: number }>;

export class ConfigError extends Error {}

/** Two variables that mean something only with each other. */
function together(config: Parsed, a: keyof Parsed, b: keyof Parsed, what: string) {
  if ((config[a] === undefined) === (config[b] === undefined)) return;
  const [given, missing] = config[a] === undefined ? [b, a] : [a, b];
  throw new ConfigError(`invalid ${missing}="": expected ${what} together (${given} is set)`);
}

// DATABASE_URL: its password, and a value that is no URL may be one that withoutPassword cannot find.
const SECRETS = new Set(['ADMIN_TOKEN', 'WEBHOOK_SECRET', 'MQTT_PASSWORD', 'BROKER_PASSWORD', 'DATABASE_URL']);

/** A value as the error line shows it: the line goes to the journal, so a secret (or a URL's password) is not in it. */
function shown(name: string, value: string): string {
  return SECRETS.has(name) ? `"<${value.length} characters, not shown>"` : JSON.stringify(withoutPassword(value));
}

/** Parses the environment once, at the edge; throws a ConfigError whose message is one line naming the variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {};
  for (const name of Object.keys(ConfigSchema.entries)) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const result = v.safeParse(ConfigSchema, input, { abortEarly: true });
  if (!result.success) {
    const issue = result.issues[0];
    const name = String(issue.path?.[0]?.key ?? '?');
    throw new ConfigError(`invalid ${name}=${shown(name, input[name] ?? '')}: ${issue.message}`);
  }
  const config = result.output;
  together(config, 'BROKER_TLS_CERT', 'BROKER_TLS_KEY', 'a certificate and its key');
  // A user name alone let terminals in with an empty password.
  together(config, 'BROKER_USERNAME', 'BROKER_PASSWORD', 'a user name and a password');
  // README §Topics: the terminals the bridge knows include those it is told of.
  const listed = new Set([...config.DEVICES, ...(config.DEFAULT_DEVICE ? [config.DEFAULT_DEVICE] : [])]).size;
  if (listed > config.MAX_TERMINALS) {
    throw new ConfigError(`invalid DEVICES="<${listed} serials with DEFAULT_DEVICE>": expected at most MAX_TERMINALS (${config.MAX_TERMINALS}) serials`);
  }
  return Object.freeze({ ...config, BROKER_HOST: brokerHost(config, input.BROKER_ANONYMOUS ?? ''), MQTT_SLOTS: slots(config) });
}

/**
 * README §Running several replicas: 1 (one client, today's) unless set;
 * 4 in cluster mode (DATABASE_URL), where the slots are spread over the
 * replicas. Without a database the share group is MQTT_CLIENT_ID, which must
 * then be a valid share name.
 */
function slots(config: Parsed): number {
  const count = config.MQTT_SLOTS ?? (config.DATABASE_URL ? 4 : 1);
  if (count > 1 && !config.DATABASE_URL && config.MQTT_CLIENT_ID !== undefined && !SHARE_NAME.test(config.MQTT_CLIENT_ID)) {
    throw new ConfigError(
      `invalid MQTT_CLIENT_ID=${shown('MQTT_CLIENT_ID', config.MQTT_CLIENT_ID)}: expected 1 to 40 letters, digits, _ and - with MQTT_SLOTS=${count} (it names the share group)`,
    );
  }
  return count;
}

/**
 * README §Who may connect: an anonymous embedded broker lets any client that
 * reaches it pose as any terminal, so it listens on loopback only unless
 * BROKER_ANONYMOUS=true says the network around it is trusted.
 */
function brokerHost(config: Parsed, anonymousGiven: string): string {
  const anonymous = config.MQTT_URL === undefined && config.BROKER_USERNAME === undefined && config.BROKER_CREDENTIALS === undefined;
  if (config.BROKER_HOST === undefined) return anonymous && !config.BROKER_ANONYMOUS ? '127.0.0.1' : '0.0.0.0';
  if (anonymous && !config.BROKER_ANONYMOUS && !isLoopback(config.BROKER_HOST)) {
    throw new ConfigError(
      `invalid BROKER_ANONYMOUS=${JSON.stringify(anonymousGiven)}: expected true to let terminals in without credentials on BROKER_HOST=${config.BROKER_HOST} ` +
        '(or set BROKER_CREDENTIALS, or BROKER_USERNAME and BROKER_PASSWORD)',
    );
  }
  return config.BROKER_HOST;
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
function isLoopback(host: string): boolean {
  const address = host.toLowerCase();
  if (address === 'localhost' || address === '::1' || address === '0:0:0:0:0:0:0:1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** The text of `facegate --help`, built from the schemas above so it never drifts from them. */
export function helpText(): string {
  const rows = Object.entries(ConfigSchema.entries).map(([name, schema]) => {
    const fallback = v.getDefault(schema.pipe[0] as v.OptionalSchema<v.GenericSchema, unknown>);
    return `  ${name.padEnd(22)}${v.getDescription(schema) ?? ''}${fallback ? ` (default ${fallback})` : ''}`;
  });
  return [
    'facegate: bridges face-recognition door terminals (MQTT) to a backend (signed webhooks)',
    '',
    'Usage:',
    '  facegate                 run the bridge',
    '  facegate simulate        run simulated terminals against a broker (see facegate simulate --help)',
    '  facegate bench           measure the bridge on this machine (see facegate bench --help)',
    '  facegate backup FILE     copy the store to FILE while the bridge runs (consistent, verified)',
    '  facegate restore FILE    put a backup in place of the store (refused while a bridge runs on DATA_DIR)',
    '  facegate doctor          check the time zone, ports, file limit, disk, store, broker and webhook receivers',
    '  facegate dashboard       print a Grafana dashboard of the metrics (JSON, to import)',
    '  facegate alert-rules     print Prometheus alerting rules on the metrics (YAML)',
    '  facegate --version       the version',
    '  facegate --help          this text',
    '',
    'A .env file in the working directory is read first; the real environment wins over it.',
    '',
    'Environment variables:',
    ...rows,
  ].join('\n');
}
