import * as v from 'valibot';
import { randomId } from '../events/ids.ts';
import { isJsonObject, jsonObject, MAX_JSON_DEPTH, nestsWithin } from '../lib/json-object.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import { createRateLimiter } from '../lib/rate-limit.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import type { Store } from '../store/store.ts';
import type { Presence } from '../terminals/presence.ts';
import { BrokerUnavailable, type Transport } from '../transport/transport.ts';

// valibot leaves these keys out of the object it passes on (they could reach a
// prototype): a command holding one would reach the terminal, and the history,
// without it. It is refused instead of altered.
const DROPPED_KEYS = ['__proto__', 'constructor', 'prototype'];
const droppedKey = (value: unknown) => (isJsonObject(value) ? DROPPED_KEYS.find((key) => Object.hasOwn(value, key)) : undefined);

/** A JSON object for a terminal with these typed fields and any others, all sent as they came. */
export function commandObject<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(
    v.unknown(),
    v.check(
      (value) => droppedKey(value) === undefined,
      (issue) => `${droppedKey(issue.input)} is not allowed as a field name`,
    ),
    v.check((value) => nestsWithin(value), `body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep`),
    jsonObject(entries, 'body must be a JSON object'),
  );
}

/** A command for a terminal: a JSON object with a non-empty string `cmd`; every other field goes along untouched. */
export const CommandSchema = commandObject({ cmd: v.pipe(v.string('cmd must be a string'), v.nonEmpty('cmd must not be empty')) });

/** Why a command did not go out; the HTTP API answers 404, 429 or 503 for it. */
export class CommandNotSent extends Error {
  constructor(
    readonly reason: 'unknown_device' | 'rate_limited' | 'device_offline' | 'broker_unavailable',
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export interface CommandDeps {
  transport: Transport;
  downlink: TopicTemplate;
  presence: Presence;
  /** Only its writes: jobs committed durably. */
  store: Pick<Store, 'write'>;
  metrics: Metrics;
  log: Logger;
  rate: { perSecond: number; burst: number };
}

export function createCommands({ transport, downlink, presence, store, metrics, log, rate }: CommandDeps) {
  const limiter = createRateLimiter(rate);

  /** Publishes at QoS 1 and answers only once the broker acknowledged it; never queues it for later. */
  async function send(sn: string, command: Record<string, unknown>) {
    if (!presence.knows(sn)) throw new CommandNotSent('unknown_device', `no terminal ${sn} is known`);
    const wait = limiter.take(sn);
    if (wait > 0) {
      metrics.commands.inc({ outcome: 'rate_limited' });
      throw new CommandNotSent('rate_limited', `more than ${rate.perSecond} commands per second for ${sn}`, Math.ceil(wait / 1000));
    }
    const id = randomId('cmd');
    const body = JSON.stringify(command);
    const topic = downlink.topicOf(sn);
    let error: string | null = null;
    let reason: 'broker_unavailable' | 'device_offline' = 'broker_unavailable';
    if (transport.listening(topic) === false) {
      reason = 'device_offline';
      error = `terminal ${sn} is not connected`;
    } else {
      try {
        await transport.publish(topic, body, 1);
      } catch (err) {
        if (!(err instanceof BrokerUnavailable)) throw err;
        error = err.message;
      }
    }
    const status = error === null ? 'published' : 'failed';
    metrics.commands.inc({ outcome: status });
    log.info({ command: id, device: sn, cmd: command.cmd, status }, 'command');
    await store.write({ kind: 'command', id, sn, body, status, error, at: Date.now() }).catch((err: Error) => {
      // The terminal has it (or the broker refused it) either way; the history is what is missing.
      log.error({ command: id, err: err.message }, 'command not recorded');
    });
    if (error !== null) throw new CommandNotSent(reason, `command not sent: ${error}`);
    return { id, device_sn: sn, status };
  }

  return { send };
}

export type Commands = ReturnType<typeof createCommands>;
