import { setTimeout as sleep } from 'node:timers/promises';
import * as v from 'valibot';
import { type Cluster, localCluster } from '../cluster/cluster.ts';
import { randomId } from '../events/ids.ts';
import type { Replied } from '../ingest/interpret.ts';
import { isJsonObject, jsonObject, MAX_JSON_DEPTH, nestsWithin } from '../lib/json-object.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import { createRateLimiter } from '../lib/rate-limit.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import type { CommandError, NewCommand, Store } from '../store/store.ts';
import type { Presence } from '../terminals/presence.ts';
import type { Transport } from '../transport/transport.ts';
import { createDispatcher } from './dispatcher.ts';
import type { HeldReplies } from './held-replies.ts';
import { createReplies } from './replies.ts';

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
    readonly reason: 'rate_limited' | CommandError,
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
  store: Pick<Store, 'write' | 'queuedCommands' | 'queuedSerials' | 'personPhoto'>;
  metrics: Metrics;
  log: Logger;
  rate: { perSecond: number; burst: number };
  /** REPLY_FIELD: each command without it carries its id in it. */
  replyField?: string;
  /** README §Running several replicas: which terminals' queues this replica drains, and how the others are told. */
  cluster?: Pick<Cluster, 'owns' | 'announce'>;
  /** Replies held for the record of a publish (held-replies.ts): told of each, as the other replicas are. */
  held?: Pick<HeldReplies, 'published'>;
}

/** How a command is sent: `ttl` keeps it for a terminal that is not reachable; `wait` holds the answer for its reply (ms). */
export interface SendOptions {
  ttlMs?: number;
  waitMs?: number;
  /** The request's: a client that goes away stops waiting. */
  signal?: AbortSignal;
  /** Who sends it (README §Tokens and roles). */
  actor?: string | null;
}

/** What a single POST answers (README §Commands with replies). */
export type Sent = { id: string; device_sn: string; status: 'published' | 'queued' } | { id: string; device_sn: string; status: 'replied'; reply: unknown };

/** One item of a fan-out: its command and its state once accepted. */
export interface FannedOut {
  id: string;
  device_sn: string;
  status: 'queued' | 'failed';
  error: CommandError | null;
}

const REFUSED: Record<CommandError, string> = {
  unknown_device: 'no such terminal is known',
  device_offline: 'the terminal is not online',
  broker_unavailable: 'the broker is unreachable',
  interrupted: 'the bridge stopped before it went out',
};

/**
 * Commands to terminals (README §Commands with replies). Every command is a
 * row first (queued, or failed when refused at once), then the dispatcher
 * publishes it; a reply matched by the store wakes whoever waits for it.
 */
export function createCommands({ transport, downlink, presence, store, metrics, log, rate, replyField, cluster = localCluster(), held }: CommandDeps) {
  const limiter = createRateLimiter(rate);
  const replies = createReplies();
  const dispatcher = createDispatcher({
    transport,
    downlink,
    isOnline: presence.isOnline,
    lastSeen: presence.lastSeen,
    store,
    // Queued and fanned-out commands wait for their turn: paced, never refused.
    async token(sn) {
      for (let wait = limiter.take(sn); wait > 0; wait = limiter.take(sn)) await sleep(wait);
    },
    metrics,
    log,
    owns: cluster.owns,
    // A reply held here or at another replica for one of these publishes pairs now (README §Running several replicas).
    recorded(serials) {
      held?.published(serials);
      cluster.announce({ kind: 'published', serials });
    },
  });

  /** A terminal's queue has work: drained here when this replica holds its slot, else by its holder, told. */
  function drain(sn: string): void {
    if (cluster.owns(sn)) dispatcher.wake(sn);
    else cluster.announce({ kind: 'command', sn });
  }

  function accepted(cmd: string, body: Record<string, unknown>, rows: NewCommand[], ttlMs: number | undefined, batch: string | null, actor: string | null) {
    const at = Date.now();
    const queued = rows.filter((row) => row.status === 'queued').length;
    if (queued > 0) metrics.commands.inc({ outcome: 'queued' }, queued);
    if (rows.length > queued) metrics.commands.inc({ outcome: 'failed' }, rows.length - queued);
    return store.write({
      kind: 'commands',
      at,
      cmd,
      body: JSON.stringify(body),
      replyField,
      expiresAt: ttlMs === undefined ? null : at + ttlMs,
      batch,
      actor,
      rows,
    });
  }

  /**
   * One command for one terminal. Without a ttl it is refused unless the
   * terminal is online (503 device_offline) and the broker takes it (503
   * broker_unavailable), recorded `failed` either way; with a ttl it waits
   * (`queued`) for the terminal instead. `wait` holds the answer for the reply.
   */
  async function send(sn: string, command: Record<string, unknown>, { ttlMs, waitMs, signal, actor = null }: SendOptions = {}): Promise<Sent> {
    if (!presence.knows(sn)) throw new CommandNotSent('unknown_device', `no terminal ${sn} is known`);
    const wait = limiter.take(sn);
    if (wait > 0) {
      metrics.commands.inc({ outcome: 'rate_limited' });
      throw new CommandNotSent('rate_limited', `more than ${rate.perSecond} commands per second for ${sn}`, Math.ceil(wait / 1000));
    }
    const id = randomId('cmd');
    // POST / relays any JSON object, with a cmd or without.
    const name = typeof command.cmd === 'string' ? command.cmd : '';
    const online = dispatcher.online(sn);
    if (!online && ttlMs === undefined) {
      await accepted(name, command, [{ id, sn, status: 'failed', error: 'device_offline' }], undefined, null, actor);
      log.info({ command: id, device: sn, cmd: name, status: 'failed', error: 'device_offline' }, 'command');
      throw new CommandNotSent('device_offline', `command not sent: terminal ${sn} is not online`);
    }
    // Waiting from before it goes out: a quick terminal's reply is not missed.
    const waiting = waitMs === undefined ? undefined : replies.wait(id, waitMs, signal);
    try {
      await accepted(name, command, [{ id, sn, status: 'queued', error: null }], ttlMs, null, actor);
      let status: 'published' | 'queued' = 'queued';
      if (online && !cluster.owns(sn)) {
        // Another replica drains this terminal's queue, in order: it is told, the answer says queued (`wait` still gets the reply).
        drain(sn);
        log.info({ command: id, device: sn, cmd: name, status }, 'command');
      } else if (online) {
        const turn = await dispatcher.dispatch(sn, id, true);
        if (turn.status === 'failed') throw new CommandNotSent(turn.error, `command not sent: ${REFUSED[turn.error]}`);
        status = turn.status;
      } else {
        // Kept for later: marked here, or told to the replica that holds the terminal's slot.
        if (cluster.owns(sn)) dispatcher.queued(sn);
        else drain(sn);
        log.info({ command: id, device: sn, cmd: name, status }, 'command');
      }
      const replied = await waiting?.reply;
      if (replied) return { id, device_sn: sn, status: 'replied', reply: JSON.parse(replied.reply) as unknown };
      return { id, device_sn: sn, status };
    } finally {
      waiting?.cancel();
    }
  }

  /**
   * One command for many terminals (POST /api/commands): a row each, in one
   * writer job, under one batch id. Each is queued (its terminal online, or a
   * ttl given) or failed (unknown, or offline without a ttl); the dispatcher
   * paces what goes out.
   */
  async function fanOut(serials: string[], command: Record<string, unknown> & { cmd: string }, ttlMs: number | undefined, actor: string | null = null) {
    const batch = randomId('bat');
    const rows: NewCommand[] = serials.map((sn) => {
      const id = randomId('cmd');
      if (!presence.knows(sn)) return { id, sn, status: 'failed', error: 'unknown_device' };
      if (ttlMs === undefined && !dispatcher.online(sn)) return { id, sn, status: 'failed', error: 'device_offline' };
      return { id, sn, status: 'queued', error: null };
    });
    await accepted(command.cmd, command, rows, ttlMs, batch, actor);
    log.info({ batch, cmd: command.cmd, commands: rows.length, queued: rows.filter((r) => r.status === 'queued').length }, 'commands fanned out');
    for (const row of rows) if (row.status === 'queued') drain(row.sn);
    return { batch, items: rows.map((row): FannedOut => ({ id: row.id, device_sn: row.sn, status: row.status, error: row.error })) };
  }

  return {
    send,
    fanOut,
    /** A reply the store matched (after its commit): whoever waits for it gets it. */
    replied(replied: Replied) {
      metrics.commands.inc({ outcome: 'replied' });
      metrics.commandReply.observe(Math.max(0, replied.repliedAt - replied.publishedAt) / 1000);
      replies.replied(replied);
    },
    /** Another replica stored this reply: whoever waits here gets it (counted where it was stored). */
    answered: (replied: Replied) => replies.replied(replied),
    /** Every message of a terminal (its heartbeats too): a Set lookup, unless commands wait for a word from it. */
    heard: (sn: string) => dispatcher.heard(sn),
    /** A terminal's message waits for this before it goes to the writer, when a command to it is being published (dispatcher.ts). */
    unrecorded: (sn: string) => dispatcher.unrecorded(sn),
    /** Commands were queued for this terminal (a person's): they go out (from the replica that holds its slot). */
    wake: drain,
    /** A terminal turned online: what waits for it goes out (a lookup when nothing does). */
    reachable: (sn: string) => dispatcher.reachable(sn),
    /** Told by another replica: drained here if this one holds the terminal's slot, never passed on. */
    drainHere: (sn: string) => dispatcher.wake(sn),
    /** Online and (embedded) subscribed to its downLink: a command published now reaches it. */
    online: (sn: string) => dispatcher.online(sn),
    /** At start: what waited in the queue goes out as its terminals come online. */
    start: () => dispatcher.wakeAll(),
    stop: () => dispatcher.stop(),
  };
}

export type Commands = ReturnType<typeof createCommands>;
