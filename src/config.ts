import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import * as v from 'valibot';
import { secretProblem } from './delivery/sign.ts';
import { DEFAULT_MAX_RECORDS } from './protocol/uplink.ts';
import { withoutPassword } from './secrets.ts';
import { parseDuration, parseSize } from './units.ts';

// Every variable is a string in the environment; each schema below starts from
// that string, carries its default and its help line, and ends as the typed
// value the code uses. `facegate --help` is generated from these same schemas.

const DURATION = /^\d+(?:\.\d+)?(?:ms|s|m|h|d)?$/i;
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

const size = (fallback: string, description: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.regex(SIZE, 'expected a size such as 512kb, 1mb or 8mb'),
    v.transform(parseSize),
    v.minValue(1, 'expected a size above zero'),
  );

const choice = <const T extends readonly [string, ...string[]]>(options: T, description: string) =>
  v.pipe(
    v.optional(v.picklist(options, `expected one of: ${options.join(', ')}`), options[0]),
    v.description(description),
  );

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

const serialList = v.pipe(
  v.optional(v.string(), ''),
  v.description('comma list of terminal serials to register and subscribe at start'),
  v.transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== '')),
  v.check((list) => list.every((sn) => /^[^/+#\s]+$/.test(sn)), 'expected serials without / + # or spaces'),
);

const topicTemplate = (fallback: string, description: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.description(description),
    v.check((t) => t.split('{sn}').length === 2, 'expected a topic holding {sn} exactly once'),
    v.check((t) => !/[+#]/.test(t), 'expected a topic without the wildcards + and #'),
  );

const schedule = v.pipe(
  v.optional(v.string(), '1s,5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,16h'),
  v.description('ceilings of the random delay before each retry (full jitter); after the last one a delivery is dead'),
  v.transform((s) => s.split(',').map((x) => x.trim())),
  v.check((list) => list.length > 0 && list.every((d) => DURATION.test(d)), 'expected a comma list of durations such as 1s,5s,30s'),
  v.transform((list) => list.map(parseDuration)),
);

const rate = v.pipe(
  v.optional(v.string(), '5/s'),
  v.description('commands accepted per terminal (burst twice that); more get 429'),
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
  MQTT_CLIENT_ID: text(`facegate-${hostname()}`, 'client id at the external broker, which keeps a persistent session for it'),
  BROKER_PORT: port('1883', 'port of the embedded broker'),
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
  DEFAULT_DEVICE: optionalText('target of the compatibility route POST /'),
  WEBHOOK_URL: url(/^https?:$/, 'an http:// or https:// URL', 'default webhook endpoint; receives face.verified events'),
  WEBHOOK_SECRET: v.pipe(
    v.optional(v.string()),
    v.description('signing secret of the default endpoint (whsec_<base64> or any string of 16 characters or more)'),
    v.check((secret) => secret === undefined || !secretProblem(secret), (issue) => `expected a usable secret: ${secretProblem(issue.input as string)}`),
  ),
  DELIVERY_SCHEDULE: schedule,
  DELIVERY_TIMEOUT: duration('15s', 'time limit of one delivery attempt'),
  DELIVERY_CONCURRENCY: integer('8', 'requests in flight per webhook endpoint', 1, 256),
  BODY_LIMIT: size('1mb', 'largest HTTP request body'),
  MAX_PAYLOAD: size('8mb', 'largest MQTT message accepted from a terminal'),
  MAX_RECORDS: integer(String(DEFAULT_MAX_RECORDS), 'records a verifiedRecordU or strangerRecordU may hold; one holding more is one reject', 1, 100_000),
  COMMAND_RATE: rate,
  FORWARD: choice(['passed', 'all'], 'passed: face.verified only for personType 1 with verifiedCode 0; all: every verified record'),
  IMAGES: choice(['inline', 'omit'], 'inline: webhooks carry the face image; omit: no image leaves the bridge'),
  ADMIN_TOKEN: v.pipe(
    v.optional(v.string()),
    v.description('bearer token of the API; unset = generated once and kept in DATA_DIR'),
    v.check((s) => s === undefined || s.length >= 16, 'expected at least 16 characters'),
  ),
  DATA_DIR: text('./data', 'folder of the SQLite database and the generated token'),
  SQLITE_SYNC: choice(['full', 'normal'], 'full: every acknowledged message survives a power cut; normal: it survives a process crash'),
  HEARTBEAT_TIMEOUT: integer('90', 'seconds without any message before a terminal counts as offline', 1, 86400),
  RETENTION_DAYS: integer('30', 'days events and images are kept', 1, 36500),
  LOG_LEVEL: choice(['info', 'debug', 'warn', 'error', 'silent'], 'log level'),
});

export type Config = Readonly<v.InferOutput<typeof ConfigSchema>>;

export class ConfigError extends Error {}

/** Two variables that mean something only with each other. */
function together(config: Config, a: keyof Config, b: keyof Config, what: string) {
  if ((config[a] === undefined) === (config[b] === undefined)) return;
  const [given, missing] = config[a] === undefined ? [b, a] : [a, b];
  throw new ConfigError(`invalid ${missing}="": expected ${what} together (${given} is set)`);
}

const SECRETS = new Set(['ADMIN_TOKEN', 'WEBHOOK_SECRET', 'MQTT_PASSWORD', 'BROKER_PASSWORD']);

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
  return Object.freeze(config);
}

/** The text of `facegate --help`, built from the schemas above so it never drifts from them. */
export function helpText(): string {
  const rows = Object.entries(ConfigSchema.entries).map(([name, schema]) => {
    const fallback = v.getDefault(schema.pipe[0] as v.OptionalSchema<v.GenericSchema, unknown>);
    const shown = name === 'MQTT_CLIENT_ID' ? 'facegate-<hostname>' : fallback;
    return `  ${name.padEnd(22)}${v.getDescription(schema) ?? ''}${shown ? ` (default ${shown})` : ''}`;
  });
  return [
    'facegate: bridges face-recognition door terminals (MQTT) to a backend (signed webhooks)',
    '',
    'Usage:',
    '  facegate                 run the bridge',
    '  facegate simulate        run simulated terminals against a broker (see facegate simulate --help)',
    '  facegate bench           measure the bridge on this machine (see facegate bench --help)',
    '  facegate --help          this text',
    '',
    'Environment variables:',
    ...rows,
  ].join('\n');
}
