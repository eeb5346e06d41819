import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadFixtures } from '../kit/fixtures.ts';
import { stampJpeg } from '../kit/jpeg.ts';
import { heartU, PEOPLE, replyCmd, strangerRecord, strangerRecordU, verifiedRecord, verifiedRecordU } from '../kit/records.ts';
import { isRosterCommand, type RosterPerson } from '../kit/roster.ts';
import { connectTerminals, serials as serialsOf, type Terminal } from '../kit/terminal.ts';
import { localTimestamp, parseDuration } from '../lib/units.ts';
import { topicTemplate } from '../protocol/topics.ts';

// `facegate simulate`: a few terminals doing what real ones do, so the whole
// flow (heartbeats, records with images, commands and their replies, people
// enrolled and removed) can be watched against a running bridge without any
// hardware.

const HELP: [flag: string, text: string][] = [
  ['--url URL', 'broker to connect to (default mqtt://127.0.0.1:1883)'],
  ['--terminals N', 'simulated terminals, one connection each (default 3)'],
  ['--prefix TEXT', 'serial prefix: SIM gives SIM0001, SIM0002… (default SIM)'],
  ['--heartbeat S', 'seconds between heartbeats of a terminal (default 10)'],
  ['--records-every S', 'seconds between face records of a terminal; 0 = none (default 5)'],
  ['--stranger-ratio R', 'share of records that are strangers (default 0.2)'],
  ['--rejected-ratio R', 'share of records refused, verifiedCode 1 (default 0.1)'],
  ['--count N', 'stop after N records in all, once acknowledged (default: run until Ctrl-C)'],
  ['--qos 0|1', 'QoS of what the terminals publish (default 1)'],
  ['--username U, --password P', 'credentials for the broker'],
  ['--uplink T, --downlink T', 'topic templates, {sn} marks the serial (default UPLINK_TOPIC/DOWNLINK_TOPIC or fungxi_{sn}_upLink / fungxi_{sn}_downLink)'],
  ['--reply-field F', "field of a command whose value each reply echoes, as the bridge's REPLY_FIELD (default REPLY_FIELD, else none)"],
  ['--reply-delay D', 'time before each reply: 500ms, 2s, up to 1h (default SIM_REPLY_DELAY, else 0)'],
  ['--silent CMDS', 'commands left unanswered, a comma list such as openDoorD,setParamD (default SIM_SILENT, else none)'],
  [
    '--person-failures R',
    'share of enrolments (addPersonD) refused with code 1001 "bad photo", the same people each run (default SIM_PERSON_FAILURES, else 0)',
  ],
  ['--roster', 'list the people each terminal holds in the summary (how many each holds is always there)'],
  ['--quiet', 'print only connection changes, failures and the summary'],
  ['--help', 'this text'],
];

export interface SimulatorOptions {
  url: string;
  terminals: number;
  prefix: string;
  heartbeatMs: number;
  recordsMs: number;
  strangerRatio: number;
  rejectedRatio: number;
  count: number | undefined;
  qos: 0 | 1;
  username: string | undefined;
  password: string | undefined;
  uplink: string;
  downlink: string;
  /** REPLY_FIELD: the field each reply echoes; undefined for none. */
  replyField: string | undefined;
  replyDelayMs: number;
  /** Commands left unanswered. */
  silent: string[];
  /** Share of enrolments refused on purpose, by a hash of the num (README §People on a simulated terminal). */
  personFailures: number;
  /** List each terminal's people in the summary. */
  roster: boolean;
  quiet: boolean;
}

/** Longest --reply-delay: past any REPLY_WINDOW worth testing. */
const MAX_REPLY_DELAY_MS = 3_600_000;
/** Most names in --silent. */
const MAX_SILENT = 100;
/** Fields of the reply itself, which an echo would overwrite (src/kit/records.ts reply). */
const REPLY_OWN_FIELDS = ['cmd', 'code', 'msg', 'sn'];

export class UsageError extends Error {}

export function usage(): string {
  const width = Math.max(...HELP.map(([flag]) => flag.length)) + 2;
  return ['Usage: facegate simulate [options]', '', ...HELP.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`)].join('\n');
}

/** Command-line arguments → options, or undefined for --help; a UsageError names the bad option. */
export function parseOptions(args: string[], env: Record<string, string | undefined> = {}): SimulatorOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
        terminals: { type: 'string', default: '3' },
        prefix: { type: 'string', default: 'SIM' },
        heartbeat: { type: 'string', default: '10' },
        'records-every': { type: 'string', default: '5' },
        'stranger-ratio': { type: 'string', default: '0.2' },
        'rejected-ratio': { type: 'string', default: '0.1' },
        count: { type: 'string' },
        qos: { type: 'string', default: '1' },
        username: { type: 'string' },
        password: { type: 'string' },
        uplink: { type: 'string', default: env.UPLINK_TOPIC || 'fungxi_{sn}_upLink' },
        downlink: { type: 'string', default: env.DOWNLINK_TOPIC || 'fungxi_{sn}_downLink' },
        // Their defaults come from the environment, and a bad one is named as the variable it came from.
        'reply-field': { type: 'string' },
        'reply-delay': { type: 'string' },
        silent: { type: 'string' },
        'person-failures': { type: 'string' },
        roster: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    // Node's message can run over lines (a value starting with a dash); a bad option gets one line.
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return undefined;

  if (!URL.canParse(values.url) || !/^(mqtt|mqtts|ws|wss|tcp):$/.test(new URL(values.url).protocol)) {
    throw new UsageError(`--url ${values.url}: expected an mqtt://, mqtts://, ws:// or wss:// URL`);
  }
  if (!/^[^/+#\s]+$/.test(values.prefix)) throw new UsageError(`--prefix ${values.prefix}: expected text without / + # or spaces`);
  for (const name of ['uplink', 'downlink'] as const) {
    const t = values[name];
    if (t.split('{sn}').length !== 2 || /[+#]/.test(t)) throw new UsageError(`--${name} ${t}: expected a topic holding {sn} exactly once and no + or #`);
  }
  const strangerRatio = number(values['stranger-ratio'], 'stranger-ratio', 0, 1);
  const rejectedRatio = number(values['rejected-ratio'], 'rejected-ratio', 0, 1);
  if (strangerRatio + rejectedRatio > 1) throw new UsageError('--stranger-ratio and --rejected-ratio add up to more than 1');
  if (values.qos !== '0' && values.qos !== '1') throw new UsageError(`--qos ${values.qos}: expected 0 or 1`);
  const replyField = fromFlagOrEnv(values['reply-field'], 'reply-field', env, 'REPLY_FIELD');
  // The bridge's rule for REPLY_FIELD (src/config.ts), and none of the reply's own fields, which the echo would overwrite.
  if (replyField && (!/^[A-Za-z0-9_]{1,64}$/.test(replyField.value) || REPLY_OWN_FIELDS.includes(replyField.value))) {
    throw new UsageError(`${replyField.named}: expected a field name of 1 to 64 letters, digits and _, other than ${REPLY_OWN_FIELDS.join(', ')}`);
  }
  const replyDelay = fromFlagOrEnv(values['reply-delay'], 'reply-delay', env, 'SIM_REPLY_DELAY');
  let replyDelayMs = 0;
  if (replyDelay) {
    try {
      replyDelayMs = parseDuration(replyDelay.value);
    } catch {
      replyDelayMs = Number.NaN;
    }
    if (!(replyDelayMs <= MAX_REPLY_DELAY_MS)) throw new UsageError(`${replyDelay.named}: expected a duration such as 500ms or 2s, at most 1h`);
  }
  const silentList = fromFlagOrEnv(values.silent, 'silent', env, 'SIM_SILENT');
  const silent = silentList ? silentList.value.split(',').map((name) => name.trim()) : [];
  if (silentList && (silent.length > MAX_SILENT || silent.some((name) => name.length > 64 || replyCmd(name) === undefined))) {
    throw new UsageError(`${silentList.named}: expected up to ${MAX_SILENT} command names a terminal answers, comma-separated, each ending in D (openDoorD)`);
  }
  const failures = fromFlagOrEnv(values['person-failures'], 'person-failures', env, 'SIM_PERSON_FAILURES');
  const personFailures = failures === undefined ? 0 : Number(failures.value);
  if (failures && (failures.value.trim() === '' || !(personFailures >= 0 && personFailures <= 1))) {
    throw new UsageError(`${failures.named}: expected a number from 0 to 1`);
  }

  return {
    url: values.url,
    terminals: whole(values.terminals, 'terminals', 1, 9999),
    prefix: values.prefix,
    heartbeatMs: number(values.heartbeat, 'heartbeat', 0.1, 86_400) * 1000,
    recordsMs: number(values['records-every'], 'records-every', 0, 86_400) * 1000,
    strangerRatio,
    rejectedRatio,
    count: values.count === undefined ? undefined : whole(values.count, 'count', 1, Number.MAX_SAFE_INTEGER),
    qos: values.qos === '0' ? 0 : 1,
    username: values.username,
    password: values.password,
    uplink: values.uplink,
    downlink: values.downlink,
    replyField: replyField?.value,
    replyDelayMs,
    silent,
    personFailures,
    roster: values.roster,
    quiet: values.quiet,
  };
}

/** The option's value, else the variable's (an empty one counts as unset, as for the bridge), with how a message names it. */
function fromFlagOrEnv(flag: string | undefined, name: string, env: Record<string, string | undefined>, variable: string) {
  if (flag !== undefined) return { value: flag, named: `--${name} ${flag}` };
  const value = env[variable];
  return value ? { value, named: `invalid ${variable}=${JSON.stringify(value)}` } : undefined;
}

function number(text: string, name: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} ${text}: expected a number from ${min} to ${max}`);
  return n;
}

function whole(text: string, name: string, min: number, max: number): number {
  const n = number(text, name, min, max);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} ${text}: expected a whole number from ${min} to ${max}`);
  return n;
}

export interface Summary {
  seconds: number;
  verified: number;
  rejected: number;
  strangers: number;
  heartbeats: number;
  heartD: number;
  roundTripsMs: number[];
  commands: number;
  /** Commands that got no answer: left silent, or not a command `xxxD`. */
  unanswered: number;
  /** addPersonD answered with a code other than 0. */
  enrolmentsRefused: number;
  /** The people each terminal held when it stopped. */
  rosters: { sn: string; people: ReadonlyMap<string, RosterPerson> }[];
  failures: number;
}

export interface Simulation {
  /** Resolves once every terminal is stopped: after --count records were acknowledged, or after stop(). */
  readonly finished: Promise<Summary>;
  stop(): void;
}

/** Starts the terminals; rejects (with the started ones stopped) when one cannot connect. */
export async function simulate(options: SimulatorOptions, images: Buffer[], print: (line: string) => void): Promise<Simulation> {
  const uplink = topicTemplate(options.uplink);
  const say = options.quiet ? () => {} : print;
  const serials = serialsOf(options.prefix, options.terminals);
  // In the label stamped into each image, so no two captures, even across runs, have the same bytes.
  const run = randomBytes(4).toString('hex');
  const summary: Summary = {
    seconds: 0,
    verified: 0,
    rejected: 0,
    strangers: 0,
    heartbeats: 0,
    heartD: 0,
    roundTripsMs: [],
    commands: 0,
    unanswered: 0,
    enrolmentsRefused: 0,
    rosters: [],
    failures: 0,
  };
  const startedAt = performance.now();

  // Filled once all are connected; a command can be answered before (a queued one, as soon as its terminal subscribes).
  const bySerial = new Map<string, Terminal>();
  const held = (sn: string) => bySerial.get(sn)?.roster().size;

  // Each one as a device connects: its serial as client id, no session kept.
  const terminals = await connectTerminals(options.url, serials, (sn) => ({
    clientId: sn,
    uplink: options.uplink,
    downlink: options.downlink,
    qos: options.qos,
    username: options.username,
    password: options.password,
    clean: true,
    keepalive: 30,
    connectTimeout: 10_000,
    reconnectPeriod: 1000,
    onStatus: (status) => print(`${sn} ${status}`),
    // Every command xxxD is answered with xxxU and code 0 (README §Commands with replies), unless told otherwise.
    answer: {
      replyField: options.replyField,
      delayMs: options.replyDelayMs,
      silent: options.silent,
      personFailures: options.personFailures,
      onAnswered: (answer, command) => {
        summary.commands++;
        if (command.cmd === 'addPersonD' && answer.code !== 0) summary.enrolmentsRefused++;
        const echo =
          options.replyField !== undefined && Object.hasOwn(answer, options.replyField)
            ? ` ${options.replyField}=${JSON.stringify(answer[options.replyField])}`
            : '';
        say(`${sn} → ${answer.cmd} code ${answer.code}${isRosterCommand(command.cmd) ? rosterDetail(answer, held(sn)) : ''}${echo}`);
      },
      onAnswerFailed: (answer, err) => {
        summary.failures++;
        print(`${sn} ✗ ${answer.cmd} not sent: ${err.message}`);
      },
    },
  }));
  for (const terminal of terminals) bySerial.set(terminal.sn, terminal);
  print(
    `${terminals.length} terminal${terminals.length === 1 ? '' : 's'} connected to ${options.url}: ${serials[0]}${serials.length > 1 ? `…${serials.at(-1)}` : ''} (upLink ${uplink.topicOf(serials[0])})`,
  );
  const answering = [
    options.replyField && `replies echo ${options.replyField}`,
    options.replyDelayMs > 0 && `replies ${options.replyDelayMs} ms late`,
    options.silent.length > 0 && `no reply to ${options.silent.join(', ')}`,
    options.personFailures > 0 && `enrolments refused at a share of ${options.personFailures}`,
  ].filter(Boolean);
  if (answering.length > 0) print(answering.join('; '));

  const timers: NodeJS.Timeout[] = [];
  const pendingRecords = new Set<Promise<unknown>>();
  let issued = 0;
  let stopping = false;
  let finish!: (summary: Summary) => void;
  const finished = new Promise<Summary>((resolve) => (finish = resolve));

  async function stop() {
    if (stopping) return;
    stopping = true;
    for (const timer of timers) clearTimeout(timer);
    await Promise.all(terminals.map((t) => t.stop()));
    summary.rosters = terminals.map((t) => ({ sn: t.sn, people: t.roster() }));
    summary.seconds = (performance.now() - startedAt) / 1000;
    finish(summary);
  }

  function send(terminal: Terminal, message: object, what: string, onAck: () => void): Promise<void> {
    return terminal.send(message).then(onAck, (err: Error) => {
      summary.failures++;
      print(`${terminal.sn} ✗ ${what} not sent: ${err.message}`);
    });
  }

  terminals.forEach((terminal, index) => {
    const sn = terminal.sn;
    const heartbeatsInFlight: number[] = [];
    let seq = 0;

    const beat = () => {
      heartbeatsInFlight.push(performance.now());
      say(`${sn} → heartU`);
      void send(terminal, heartU(), 'heartU', () => summary.heartbeats++);
    };

    const record = () => {
      if (stopping || (options.count !== undefined && issued >= options.count)) return;
      issued++;
      const jpeg = images[Math.floor(Math.random() * images.length)];
      const image = stampJpeg(jpeg, `facegate simulate ${run} ${sn} #${++seq}`).toString('base64');
      const size = `(${Math.round(jpeg.length / 1024)} KB)`;
      const now = new Date();
      const r = Math.random();
      let sent: Promise<void>;
      if (r < options.strangerRatio) {
        say(`${sn} → strangerRecordU ${size}`);
        sent = send(
          terminal,
          strangerRecordU([strangerRecord({ liveImageBase64: image, time: localTimestamp(now) })]),
          'strangerRecordU',
          () => summary.strangers++,
        );
      } else {
        const refused = r < options.strangerRatio + options.rejectedRatio;
        const person = PEOPLE[Math.floor(Math.random() * PEOPLE.length)];
        say(`${sn} → verifiedRecordU ${person.name}${refused ? ', refused (verifiedCode 1)' : ''} ${size}`);
        sent = send(
          terminal,
          verifiedRecordU([verifiedRecord({ ...person, liveImageBase64: image, verifiedCode: refused ? 1 : 0, time: localTimestamp(now) })]),
          'verifiedRecordU',
          () => (refused ? summary.rejected++ : summary.verified++),
        );
      }
      pendingRecords.add(sent);
      void sent.finally(() => pendingRecords.delete(sent));
      if (options.count !== undefined && issued === options.count) {
        void Promise.allSettled(pendingRecords).then(stop);
      }
    };

    terminal.onMessage((message) => {
      if (message.cmd === 'heartD') {
        summary.heartD++;
        // heartD carries no reference to its heartU: pair it with the oldest one
        // still waiting, forgetting those whose answer was lost (heartD is QoS 0).
        while (heartbeatsInFlight.length > 0 && message.receivedAt - heartbeatsInFlight[0] > Math.max(options.heartbeatMs, 5000)) heartbeatsInFlight.shift();
        const sentAt = heartbeatsInFlight.shift();
        const rtt = sentAt === undefined ? undefined : message.receivedAt - sentAt;
        if (rtt !== undefined) summary.roundTripsMs.push(rtt);
        say(`${sn} ← heartD ${String(message.body?.time ?? '')}${rtt === undefined ? '' : ` (${rtt.toFixed(1)} ms)`}`);
        return;
      }
      if (message.cmd === undefined || message.body === undefined) {
        print(`${sn} ← ${message.size} bytes that are not a JSON command: ignored`);
        return;
      }
      say(`${sn} ← ${message.cmd} ${brief(message.body, message.size)}`.trimEnd());
      // The terminal answers the others itself (its `answer` options above).
      if (replyCmd(message.cmd) === undefined) {
        summary.unanswered++;
        say(`${sn}   not a command xxxD: no reply`);
      } else if (options.silent.includes(message.cmd)) {
        summary.unanswered++;
        say(`${sn}   ${message.cmd} is silenced: no reply`);
      }
    });

    beat();
    timers.push(setInterval(beat, options.heartbeatMs));
    if (options.recordsMs > 0) {
      // Spread the terminals over the interval rather than firing all at once.
      const offset = (options.recordsMs * index) / terminals.length;
      timers.push(
        setTimeout(() => {
          record();
          timers.push(setInterval(record, options.recordsMs));
        }, offset),
      );
    }
  });

  return { finished, stop: () => void stop() };
}

/**
 * What an answer to an enrolment command says besides its code: the num
 * (at most 64 characters, the roster's bound), a refusal's msg, a query's
 * total, and how many people the terminal holds now.
 */
function rosterDetail(answer: Record<string, unknown>, held: number | undefined): string {
  const parts = [
    typeof answer.num === 'string' && ` num ${JSON.stringify(answer.num)}`,
    answer.code !== 0 && typeof answer.msg === 'string' && ` (${answer.msg})`,
    typeof answer.total === 'number' && ` total ${answer.total}`,
    held !== undefined && `, ${held} held`,
  ];
  return parts.filter(Boolean).join('');
}

/** The fields of a command other than cmd, short: a photo in an enrolment command is shown as its length. */
function brief(body: Record<string, unknown>, size: number): string {
  const fields = Object.entries(body)
    .filter(([key]) => key !== 'cmd')
    .map(([key, value]) => {
      const text = asJson(value);
      return `${key}=${text.length > 40 ? `<${text.length} chars>` : text}`;
    });
  const line = fields.join(' ');
  const shown = line.length > 120 ? `${line.slice(0, 117)}...` : line;
  return size > 1024 ? `${shown} (${Math.round(size / 1024)} KB)` : shown;
}

/** A field's value as JSON; JSON.stringify throws on what is nested deeper than its stack, which JSON.parse took from the downLink. */
function asJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return '<nested too deep>';
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The summary's lines; with `listPeople` (--roster), each terminal's people under its count. */
export function formatSummary(s: Summary, listPeople = false): string {
  const records = s.verified + s.rejected + s.strangers;
  const sorted = [...s.roundTripsMs].sort((a, b) => a - b);
  const rtt = sorted.length > 0 ? ` (round trip p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms)` : '';
  const held = s.rosters.reduce((sum, r) => sum + r.people.size, 0);
  const rosters = s.rosters.flatMap(({ sn, people }) => [
    `    ${sn.padEnd(17)} ${people.size}`,
    ...(listPeople ? [...people.values()].map((person) => `      ${describePerson(person)}`) : []),
  ]);
  return [
    `stopped after ${s.seconds.toFixed(1)} s`,
    `  records sent        ${records} (${s.verified} verified, ${s.rejected} refused, ${s.strangers} stranger${s.strangers === 1 ? '' : 's'})`,
    `  heartbeats sent     ${s.heartbeats}`,
    `  heartD received     ${s.heartD}${rtt}`,
    `  commands answered   ${s.commands}`,
    `  commands unanswered ${s.unanswered}`,
    `  enrolments refused  ${s.enrolmentsRefused}`,
    `  people held         ${held}`,
    ...rosters,
    `  publish failures    ${s.failures}`,
  ].join('\n');
}

/** One person held, on one line: num and name as JSON (a name may hold any character), the photo's size and hash, the other fields. */
function describePerson(p: RosterPerson): string {
  const photo = p.photoHash === undefined ? 'no photo' : `photo ${p.photoBytes} bytes ${p.photoHash}`;
  const fields = Object.keys(p.fields).length > 0 ? ` ${JSON.stringify(p.fields)}` : '';
  return `${JSON.stringify(p.num)} ${JSON.stringify(p.name)} ${photo}${fields}`;
}

export async function runSimulator(args: string[]): Promise<void> {
  let options: SimulatorOptions | undefined;
  try {
    options = parseOptions(args, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`facegate simulate: ${err.message} (try facegate simulate --help)`);
    process.exitCode = 2;
    return;
  }
  if (options === undefined) {
    console.log(usage());
    return;
  }

  const print = (line: string) => console.log(`${localTimestamp(new Date()).slice(11)} ${line}`);
  let simulation: Simulation;
  try {
    const images = await loadFixtures();
    simulation = await simulate(options, images, print);
  } catch (err) {
    console.error(`facegate simulate: ${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }

  let signalledAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice (the terminal signals the whole process group,
    // and npm or timeout forward it as well): only a later one means "quit now".
    if (signalledAt !== undefined) {
      if (performance.now() - signalledAt > 1000) process.exit(1);
      return;
    }
    signalledAt = performance.now();
    print(`${signal}: stopping (again to quit at once)`);
    simulation.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const summary = await simulation.finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  console.log(formatSummary(summary, options.roster));
  if (summary.failures > 0) process.exitCode = 1;
}
