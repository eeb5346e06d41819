import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { topicTemplate } from '../protocol/topics.ts';
import { type Reply, reply, replyCmd } from './records.ts';
import { isRosterCommand, Roster, type RosterPerson } from './roster.ts';

// A door terminal as the bridge sees one: an MQTT client that publishes on
// its own upLink and listens on its own downLink (README §Topics). The
// simulator's terminals and the tests' are this one.

/** The default topic templates (README §Configuration, UPLINK_TOPIC and DOWNLINK_TOPIC). */
export const UPLINK = topicTemplate('fungxi_{sn}_upLink');
export const DOWNLINK = topicTemplate('fungxi_{sn}_downLink');

/** Messages of the downLink kept in `received`: the most recent ones. */
const RECEIVED_KEPT = 1000;

export interface TerminalOptions extends IClientOptions {
  /** Topic templates, `{sn}` marking the serial; the defaults unless given. */
  uplink?: string;
  downlink?: string;
  /** QoS of what `send` publishes unless it is told (1 by default); the downLink is always subscribed at QoS 1. */
  qos?: 0 | 1;
  /** Connection changes after the first connect: losses, reconnects, errors. */
  onStatus?: (status: string) => void;
  /**
   * Answer every command `xxxD` of the downLink with `xxxU` as a terminal
   * does (README §Commands with replies), and keep the people that
   * `addPersonD` and `deletePersonD` enrol and remove (README §Simulator).
   * Unset, the terminal answers nothing and holds nobody: what a test
   * expects of its double unless it asks.
   */
  answer?: Answering;
}

/** How a terminal answers the commands of its downLink. */
export interface Answering {
  /** REPLY_FIELD: the field of a command whose value the reply echoes; unset, none is. */
  replyField?: string;
  /** Milliseconds between a command's arrival and its answer (0 by default): a slow terminal. */
  delayMs?: number;
  /** Names of commands left unanswered: a terminal whose firmware ignores them (an enrolment left unanswered is not applied either). */
  silent?: readonly string[];
  /** Share of enrolments refused with code 1001 "bad photo" (0 to 1, 0 by default), the same people every time (src/kit/roster.ts). */
  personFailures?: number;
  /** Most people the terminal holds (100,000 by default); past it an enrolment is refused with code 1004. */
  rosterCapacity?: number;
  /** Each answer once published (its PUBACK at QoS 1), with the command it answers. */
  onAnswered?: (answer: Reply & Record<string, unknown>, command: Record<string, any>) => void;
  /** An answer that could not be published (the connection is gone). */
  onAnswerFailed?: (answer: Reply & Record<string, unknown>, err: Error) => void;
}

/** A message from the downLink. `cmd` and `body` are undefined when it is not a JSON object with a string cmd. */
export interface Downlink {
  cmd: string | undefined;
  body: Record<string, any> | undefined;
  size: number;
  /** performance.now() on arrival, for round-trip times. */
  receivedAt: number;
}

export interface Terminal {
  readonly sn: string;
  readonly client: MqttClient;
  /** The bodies of the JSON objects that came on the downLink, oldest first (the last 1,000). */
  readonly received: Record<string, any>[];
  /** The people it holds, by num, as its answers to `addPersonD` and `deletePersonD` left them (empty unless it answers). */
  roster(): ReadonlyMap<string, RosterPerson>;
  /** Publishes on the upLink (an object as JSON): resolves on the PUBACK at QoS 1, once written at QoS 0. */
  send(payload: string | Buffer | object, qos?: 0 | 1): Promise<void>;
  /** The body of the next JSON object from the downLink that matches. */
  next(match?: (body: Record<string, any>) => boolean): Promise<Record<string, any>>;
  /** Calls `listener` with every message from the downLink; returns the function that removes it. */
  onMessage(listener: (message: Downlink) => void): () => void;
  /** Waits up to `waitMs` for unacknowledged publishes, then disconnects (at once when the broker is gone). */
  stop(waitMs?: number): Promise<void>;
  /** stop() with its default wait. */
  end(): Promise<void>;
}

/**
 * One terminal, one MQTT connection (client id `terminal-{sn}` unless
 * `options.clientId` says otherwise, which a device's own serial is), with
 * any other MQTT.js option. Resolves once connected and subscribed to its
 * downLink; rejects, with the client closed, when the broker refuses it or
 * does not answer within `connectTimeout` (10 s by default), or refuses the
 * subscription.
 */
export async function connectTerminal(url: string, sn: string, options: TerminalOptions = {}): Promise<Terminal> {
  const { uplink, downlink, qos = 1, onStatus = () => {}, answer, ...mqttOptions } = options;
  const upTopic = (uplink === undefined ? UPLINK : topicTemplate(uplink)).topicOf(sn);
  const downTopic = (downlink === undefined ? DOWNLINK : topicTemplate(downlink)).topicOf(sn);
  const connectTimeout = mqttOptions.connectTimeout ?? 10_000;
  // Made before connecting, so that bad options throw with no connection left behind.
  const roster = new Roster({ personFailures: answer?.personFailures, capacity: answer?.rosterCapacity, replyField: answer?.replyField });

  const client = mqtt.connect(url, { clientId: `terminal-${sn}`, reconnectPeriod: 100, ...mqttOptions, connectTimeout });
  await firstConnect(client, url, connectTimeout);

  // Reconnection is automatic (and resubscribes); these only say what happens.
  // Listening to 'error' from now on also keeps an error from being thrown.
  let lastError = '';
  client.on('offline', () => onStatus('connection lost, reconnecting'));
  client.on('connect', () => {
    lastError = '';
    onStatus('reconnected');
  });
  client.on('error', (err) => {
    if (err.message !== lastError) onStatus(`error: ${err.message}`);
    lastError = err.message;
  });

  const received: Record<string, any>[] = [];
  const listeners = new Set<(message: Downlink) => void>();
  const waiters: { match: (body: Record<string, any>) => boolean; resolve: (body: Record<string, any>) => void }[] = [];
  client.on('message', (topic, payload) => {
    if (topic !== downTopic) return;
    const message = decode(payload);
    const { body } = message;
    if (body !== undefined) {
      received.push(body);
      if (received.length > RECEIVED_KEPT) received.shift();
      const waiter = waiters.find((w) => w.match(body));
      if (waiter) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(body);
      }
    }
    for (const listener of listeners) listener(message);
  });

  const inflight = new Set<Promise<unknown>>();
  const publish = async (message: string | Buffer | object, publishQos: 0 | 1) => {
    const payload = typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message);
    const sent = client.publishAsync(upTopic, payload, { qos: publishQos });
    inflight.add(sent);
    try {
      await sent;
    } finally {
      inflight.delete(sent);
    }
  };

  // Answers waiting out `delayMs`: a stopping terminal sends none of them, nor any new one.
  const delayed = new Set<NodeJS.Timeout>();
  let stopping = false;
  if (answer !== undefined) {
    const { replyField, delayMs = 0, silent = [], onAnswered = () => {}, onAnswerFailed = () => {} } = answer;
    const send = (command: { cmd: string } & Record<string, unknown>) => {
      // An enrolment is applied when it is answered: a terminal stopped before a late answer holds nobody new.
      const outcome = isRosterCommand(command.cmd) ? roster.answer(command as Parameters<Roster['answer']>[0]) : undefined;
      const message = reply(command, sn, replyField, outcome);
      void publish(message, qos).then(
        () => onAnswered(message, command),
        (err: Error) => onAnswerFailed(message, err),
      );
    };
    listeners.add(({ cmd, body }) => {
      if (stopping || cmd === undefined || replyCmd(cmd) === undefined || silent.includes(cmd)) return;
      const command = body as { cmd: string } & Record<string, unknown>;
      if (delayMs <= 0) {
        send(command);
        return;
      }
      const timer = setTimeout(() => {
        delayed.delete(timer);
        send(command);
      }, delayMs);
      delayed.add(timer);
    });
  }

  // Subscribed only now that every message is heard: a command published the
  // moment the broker has the subscription can arrive in the same read as the
  // SUBACK, and MQTT.js emits it before an `await` on the SUBACK resumes.
  const granted = await client.subscribeAsync(downTopic, { qos: 1 });
  if (granted.some((g) => g.qos === 128)) {
    await client.endAsync(true);
    throw new Error(`${sn}: the broker refused the subscription to ${downTopic}`);
  }

  const stop = async (waitMs = 5000) => {
    stopping = true;
    for (const timer of delayed) clearTimeout(timer);
    delayed.clear();
    if (inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, waitMs)));
      await Promise.race([Promise.allSettled(inflight), timeout]);
      clearTimeout(timer);
    }
    // A graceful end would wait for acks forever if the broker is gone.
    await client.endAsync(!client.connected || inflight.size > 0);
  };

  return {
    sn,
    client,
    received,
    roster: () => roster.people,
    send: (message, publishQos = qos) => publish(message, publishQos),
    next(match = () => true) {
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop,
    end: () => stop(),
  };
}

/**
 * Connects and subscribes them all at once, or none: on a failure the
 * connected ones are stopped and the first failure is thrown. `optionsOf`
 * gives each serial its options (a device's client id is its serial).
 */
export async function connectTerminals(url: string, serials: string[], optionsOf: (sn: string) => TerminalOptions = () => ({})): Promise<Terminal[]> {
  const started = await Promise.allSettled(serials.map((sn) => connectTerminal(url, sn, optionsOf(sn))));
  const terminals = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(terminals.map((t) => t.stop(0)));
    throw failed.reason;
  }
  return terminals;
}

/** `count` serials: prefix SIM gives SIM0001, SIM0002… */
export function serials(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);
}

function firstConnect(client: MqttClient, url: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      cleanup();
      client.end(true);
      reject(err);
    };
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => fail(new Error(`cannot connect to ${url}: ${err.message}`));
    const timer = setTimeout(() => fail(new Error(`no answer from ${url} within ${timeoutMs / 1000} s`)), timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
    }
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}

function decode(payload: Buffer): Downlink {
  const message: Downlink = { cmd: undefined, body: undefined, size: payload.length, receivedAt: performance.now() };
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const body = value as Record<string, unknown>;
      message.body = body;
      if (typeof body.cmd === 'string') message.cmd = body.cmd;
    }
  } catch {
    // Not JSON: reported as a message without cmd.
  }
  return message;
}
