import * as v from 'valibot';
import { CommandNotSent, CommandSchema, type Commands, commandObject } from '../commands/commands.ts';
import { DURATION, parseDuration } from '../lib/units.ts';
import { COMMAND_STATUSES, type Command, type ListedCommand } from '../store/store.ts';
import type { AppDeps } from './deps.ts';
import { ApiError, type ErrorCode } from './errors.ts';
import { Limit, listPage, PAGED, Page, shownShort } from './list.ts';
import { content, error, json, type Route, route } from './route.ts';
import { Devices, SerialParam } from './serial-param.ts';

/** README §Commands with replies, Details: `0 < wait ≤ 60s`, `0 < ttl ≤ 7d`. */
export const MAX_WAIT_MS = 60_000;
export const MAX_TTL_MS = 7 * 86_400_000;

/** A duration in the configuration's grammar (`500ms`, `15s`, `2m`, `1h`, `1d`, bare seconds), above zero and at most `max`. */
export const durationUpTo = (name: string, max: number, maxText: string) =>
  v.pipe(
    v.string(`${name} must be a duration`),
    v.regex(DURATION, `${name} must be a duration such as 500ms, 15s, 2m, 1h or 1d`),
    v.transform(parseDuration),
    v.minValue(1, `${name} must be above zero`),
    v.maxValue(max, `${name} must be at most ${maxText}`),
  );

const Wait = durationUpTo('wait', MAX_WAIT_MS, '60s');
const Ttl = durationUpTo('ttl', MAX_TTL_MS, '7d');

export const SendQuery = v.object({ wait: v.optional(Wait), ttl: v.optional(Ttl) });

export const CommandListQuery = v.object({
  device: v.optional(v.pipe(v.string(), v.nonEmpty('device must not be empty'))),
  status: v.optional(v.picklist(COMMAND_STATUSES, `status must be one of ${COMMAND_STATUSES.join(', ')}`)),
  batch: v.optional(v.pipe(v.string(), v.regex(/^bat_[\w-]{1,64}$/, 'batch must be a batch id (bat_…)'))),
  limit: Limit,
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d+_cmd_[\w-]+$/, 'cursor must be a next_cursor of this list'))),
});

/** POST /api/commands: one command for many terminals (README §Commands with replies, Fan-out). */
export const fanOutSchema = (maxTerminals: number) =>
  v.object({
    devices: Devices(maxTerminals, 'devices must not be empty'),
    command: CommandSchema,
    ttl: v.optional(Ttl),
  });

const STATUS = v.picklist(COMMAND_STATUSES);
const ERROR = v.nullable(v.string());

/** What POST /api/devices/{sn}/commands answers: the command's state, with the reply when it came within `wait`. */
export const SentSchema = v.union([
  v.object({ id: v.string(), device_sn: v.string(), status: v.picklist(['published', 'queued']) }),
  v.object({ id: v.string(), device_sn: v.string(), status: v.literal('replied'), reply: v.unknown() }),
]);

export const FannedOutSchema = v.object({
  batch: v.string(),
  items: v.array(v.object({ id: v.string(), device_sn: v.string(), status: v.picklist(['queued', 'failed']), error: ERROR })),
});

const shown = {
  id: v.string(),
  device_sn: v.string(),
  cmd: v.string(),
  status: STATUS,
  error: ERROR,
  created_at: v.string(),
  published_at: v.nullable(v.string()),
  replied_at: v.nullable(v.string()),
  expires_at: v.nullable(v.string()),
  batch: v.nullable(v.string()),
  /** Who sent it: a token's name, `admin` for ADMIN_TOKEN (README §Tokens and roles). */
  actor: v.nullable(v.string()),
};
/** A command with its whole body and reply. */
export const CommandViewSchema = v.object({ ...shown, body: v.unknown(), reply: v.unknown() });
/** As the list shows it: body and reply whole, or each short (its size instead). */
export const ListedCommandSchema = v.object({
  ...shown,
  body: v.optional(v.unknown()),
  truncated: v.optional(v.literal(true)),
  body_bytes: v.optional(v.number()),
  reply: v.unknown(),
  reply_truncated: v.optional(v.literal(true)),
  reply_bytes: v.optional(v.number()),
});

/** Why a command was not sent, as the API answers it (README §HTTP API). */
const NOT_SENT = {
  404: error('no such terminal, or no serial'),
  429: error('over COMMAND_RATE for that terminal (Retry-After: seconds)'),
  503: error('not sent (no ttl): the broker is unreachable, or the terminal is not online'),
};

const ANSWER: Record<CommandNotSent['reason'], ErrorCode> = {
  unknown_device: 'not_found',
  rate_limited: 'rate_limited',
  device_offline: 'device_offline',
  broker_unavailable: 'broker_unavailable',
  interrupted: 'broker_unavailable',
};

/** commands.send, with a command that did not go out answered as the API's error. */
async function send(commands: Commands, sn: string, command: Record<string, unknown>, options: Parameters<Commands['send']>[2] = {}) {
  try {
    return await commands.send(sn, command, options);
  } catch (err) {
    if (!(err instanceof CommandNotSent)) throw err;
    throw new ApiError(ANSWER[err.reason], err.message, { retryAfterSeconds: err.retryAfterSeconds });
  }
}

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

/** What a command shows beside its body and reply. */
function commandMeta(row: Omit<Command, 'body' | 'reply' | 'acceptedBy'>) {
  return {
    id: row.id,
    device_sn: row.deviceSn,
    cmd: row.cmd,
    status: row.status,
    error: row.error,
    created_at: new Date(row.createdAt).toISOString(),
    published_at: iso(row.publishedAt),
    replied_at: iso(row.repliedAt),
    expires_at: iso(row.expiresAt),
    batch: row.batch,
    actor: row.actor,
  };
}

/** A command whole (GET /api/commands/{id}). */
function commandView(row: Command): v.InferOutput<typeof CommandViewSchema> {
  return { ...commandMeta(row), body: JSON.parse(row.body) as unknown, reply: row.reply === null ? null : (JSON.parse(row.reply) as unknown) };
}

/**
 * As the list shows it: without a body over SHOWN_BYTES (an enrolment photo
 * of a megabyte), its size instead; the same for a reply (README §HTTP API, Lists).
 */
function listedCommandView(row: ListedCommand): v.InferOutput<typeof ListedCommandSchema> {
  const body = row.body === null ? { truncated: true as const, body_bytes: row.bodyBytes } : { body: JSON.parse(row.body) as unknown };
  const reply =
    row.reply !== null
      ? { reply: JSON.parse(row.reply) as unknown }
      : row.replyBytes !== null
        ? { reply: null, reply_truncated: true as const, reply_bytes: row.replyBytes }
        : { reply: null };
  return { ...commandMeta(row), ...body, ...reply };
}

export function commandRoutes({ commands, store, defaultDevice, devices, presence, maxTerminals }: AppDeps): Route[] {
  const sendTo = route(
    {
      method: 'post',
      path: '/api/devices/{sn}/commands',
      operationId: 'sendCommand',
      role: 'operator',
      tag: 'commands',
      summary: 'Send a command to a terminal (QoS 1): 202 once the broker acknowledged it (or queued, with ttl); 200 with its reply when it came within wait',
      description:
        '`wait` (0 < wait ≤ 60s) holds the answer until the reply arrives; `ttl` (0 < ttl ≤ 7d) keeps the command for a terminal that is offline, or a broker that is unreachable, and publishes it once the terminal is back, unless the ttl ran out. Durations as in the configuration: 500ms, 15s, 2m, 1h, 1d, a bare number of seconds.',
      params: SerialParam,
      query: SendQuery,
      body: CommandSchema,
      responses: {
        200: json(SentSchema, 'replied within wait: the reply'),
        202: json(SentSchema, 'published (the broker acknowledged it; no reply within wait), or queued (ttl)'),
        ...NOT_SENT,
      },
    },
    async (c, { params: { sn }, query: { wait, ttl }, body: command }) => {
      const sent = await send(commands, sn, command, { ttlMs: ttl, waitMs: wait, signal: c.req.raw.signal, actor: c.get('caller').name });
      return c.json(sent, sent.status === 'replied' ? 200 : 202);
    },
  );

  const fanOut = route(
    {
      method: 'post',
      path: '/api/commands',
      operationId: 'fanOutCommand',
      role: 'operator',
      tag: 'commands',
      summary: 'One command for many terminals: a command each, under one batch id, each with its own state',
      description: `\`devices\`: a list of serials (at most MAX_TERMINALS, ${maxTerminals} here, none twice) or "all" (every terminal known). Each item is queued (its terminal online, or a ttl given) or failed (unknown_device; device_offline without ttl). Queued commands go out paced by COMMAND_RATE per terminal.`,
      body: fanOutSchema(maxTerminals),
      responses: { 202: json(FannedOutSchema, 'the batch and its items'), 404: error('devices "all", and no terminal is known') },
    },
    async (c, { body: { devices: targets, command, ttl } }) => {
      const serials = targets === 'all' ? presence.serials() : targets;
      if (serials.length === 0) throw new ApiError('not_found', 'no terminal is known');
      return c.json(await commands.fanOut(serials, command, ttl, c.get('caller').name), 202);
    },
  );

  // Every row the index walks matches: each filter, and device with status,
  // has an index of its own; within a batch (at most MAX_TERMINALS rows) the
  // other filters are checked row by row. `limit` bounds the rows read.
  const list = route(
    {
      method: 'get',
      path: '/api/commands',
      operationId: 'listCommands',
      tag: 'commands',
      summary: 'Commands, newest first; of one terminal (device), in one state (status), of one fan-out (batch), combined',
      description: `${PAGED} ${shownShort('body is', 'body_bytes')} A reply over 64 KB is listed as \`reply\` null with \`reply_truncated\` and \`reply_bytes\`. GET /api/commands/{id} gives both whole.`,
      query: CommandListQuery,
      responses: { 200: json(Page(ListedCommandSchema), 'a page of commands') },
    },
    async (c, { query }) => {
      const { device, status, batch, limit, cursor } = query;
      const before = cursor ? { at: Number(cursor.split('_')[0]), id: cursor.slice(cursor.indexOf('_') + 1) } : undefined;
      return listPage(c, {
        limit,
        keys: await store.commandKeys({ device, status, batch, before, limit: limit + 1 }),
        item: async (key) => {
          const row = await store.listedCommand(key.id);
          return row && listedCommandView(row);
        },
        cursorOf: (key) => `${key.createdAt}_${key.id}`,
        rest: null,
      });
    },
  );

  // The whole command, its body and reply however large (a list shows a large one short).
  const one = route(
    {
      method: 'get',
      path: '/api/commands/{id}',
      operationId: 'getCommand',
      tag: 'commands',
      summary: 'One command, with its state, its whole body and its reply',
      responses: { 200: json(CommandViewSchema, 'the command'), 404: error('no such command') },
    },
    async (c) => {
      const row = await store.command(c.req.param('id'));
      if (!row) throw new ApiError('not_found', `no command ${c.req.param('id')}`);
      return c.json(commandView(row));
    },
  );

  // The original relay, kept so existing callers keep working: any JSON object
  // goes to DEFAULT_DEVICE, or to the only terminal listed in DEVICES; the
  // answer is `ok`. Never to a terminal only seen on the wire (README §POST /):
  // one message from a made-up serial must not decide where a door opens.
  const relay = route(
    {
      method: 'post',
      path: '/',
      operationId: 'relayCommand',
      role: 'operator',
      tag: 'commands',
      summary: 'The original relay: the JSON body goes to DEFAULT_DEVICE, or the only terminal in DEVICES (never one only seen on the wire); answers "ok"',
      body: commandObject({}),
      responses: {
        200: content('text/plain', 'ok'),
        400: error('not a JSON object'),
        ...NOT_SENT,
        404: error('no DEFAULT_DEVICE and none in DEVICES, or that terminal was forgotten'),
        409: error('several in DEVICES and no DEFAULT_DEVICE'),
      },
    },
    async (c, { body: command }) => {
      let sn = defaultDevice;
      if (sn === undefined) {
        if (devices.length === 0) throw new ApiError('not_found', 'no terminal to send to: set DEFAULT_DEVICE (or list the one terminal in DEVICES)');
        if (devices.length > 1)
          throw new ApiError('conflict', `${devices.length} terminals are listed in DEVICES; set DEFAULT_DEVICE or use POST /api/devices/{sn}/commands`);
        sn = devices[0];
      }
      await send(commands, sn, command, { actor: c.get('caller').name });
      return c.text('ok');
    },
  );

  return [sendTo, fanOut, list, one, relay];
}
