import * as v from 'valibot';
import { CommandNotSent, CommandSchema, type Commands, commandObject } from '../commands/commands.ts';
import type { ListedCommand } from '../store/store.ts';
import type { AppDeps } from './deps.ts';
import { ApiError, type ErrorCode } from './errors.ts';
import { Limit, listPage, PAGED, Page, shownShort } from './list.ts';
import { content, error, json, type Route, route } from './route.ts';
import { SerialParam } from './serial-param.ts';

export const CommandListQuery = v.object({
  device: v.optional(v.pipe(v.string(), v.nonEmpty('device must not be empty'))),
  limit: Limit,
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d+_cmd_[\w-]+$/, 'cursor must be a next_cursor of this list'))),
});

/** What POST /api/devices/{sn}/commands answers once the broker acknowledged the command. */
export const SentSchema = v.object({ id: v.string(), device_sn: v.string(), status: v.literal('published') });

const shown = { id: v.string(), device_sn: v.string(), status: v.picklist(['published', 'failed']), error: v.nullable(v.string()), created_at: v.string() };
/** A command with its whole body. */
export const CommandViewSchema = v.object({ ...shown, body: v.unknown() });
/** As the list shows it: whole, or short. */
export const ListedCommandSchema = v.union([CommandViewSchema, v.object({ ...shown, truncated: v.literal(true), body_bytes: v.number() })]);

/** Why a command was not sent, as the API answers it (README §HTTP API). */
const NOT_SENT = {
  404: error('no such terminal, or no serial'),
  429: error('over COMMAND_RATE for that terminal (Retry-After: seconds)'),
  503: error('not sent: the broker is unreachable, or the terminal is not connected'),
};

const ANSWER: Record<CommandNotSent['reason'], ErrorCode> = {
  unknown_device: 'not_found',
  rate_limited: 'rate_limited',
  device_offline: 'device_offline',
  broker_unavailable: 'broker_unavailable',
};

/** commands.send, with a command that did not go out answered as the API's error. */
async function send(commands: Commands, sn: string, command: Record<string, unknown>) {
  try {
    return await commands.send(sn, command);
  } catch (err) {
    if (!(err instanceof CommandNotSent)) throw err;
    throw new ApiError(ANSWER[err.reason], err.message, { retryAfterSeconds: err.retryAfterSeconds });
  }
}

/** A command as the API shows it, with its body, or what stands for it. */
function commandView(
  row: Omit<ListedCommand, 'body' | 'bodyBytes'>,
  body: { body: unknown } | { truncated: true; body_bytes: number },
): v.InferOutput<typeof ListedCommandSchema> {
  return { id: row.id, device_sn: row.deviceSn, ...body, status: row.status, error: row.error, created_at: new Date(row.createdAt).toISOString() };
}

/** As the list shows it: without a body over SHOWN_BYTES (an enrolment photo of a megabyte), its size instead (README §HTTP API, Lists). */
function listedCommandView(row: ListedCommand) {
  return commandView(row, row.body === null ? { truncated: true, body_bytes: row.bodyBytes } : { body: JSON.parse(row.body) as unknown });
}

export function commandRoutes({ commands, store, defaultDevice, devices }: AppDeps): Route[] {
  const sendTo = route(
    {
      method: 'post',
      path: '/api/devices/{sn}/commands',
      operationId: 'sendCommand',
      tag: 'commands',
      summary: 'Send a command to a terminal (QoS 1); 202 once the broker acknowledged it',
      params: SerialParam,
      body: CommandSchema,
      responses: { 202: json(SentSchema, 'published'), ...NOT_SENT },
    },
    async (c, { params: { sn }, body: command }) => {
      return c.json(await send(commands, sn, command), 202);
    },
  );

  // Every row either index walks matches (commands_created, or
  // commands_device_created for one terminal): `limit` bounds the rows read.
  const list = route(
    {
      method: 'get',
      path: '/api/commands',
      operationId: 'listCommands',
      tag: 'commands',
      summary: 'Commands sent, newest first',
      description: `${PAGED} ${shownShort('body is', 'body_bytes')} GET /api/commands/{id} gives it whole.`,
      query: CommandListQuery,
      responses: { 200: json(Page(ListedCommandSchema), 'a page of commands') },
    },
    async (c, { query }) => {
      const { device, limit, cursor } = query;
      const before = cursor ? { at: Number(cursor.split('_')[0]), id: cursor.slice(cursor.indexOf('_') + 1) } : undefined;
      return listPage(c, {
        limit,
        keys: await store.commandKeys({ device, before, limit: limit + 1 }),
        item: async (key) => {
          const row = await store.listedCommand(key.id);
          return row && listedCommandView(row);
        },
        cursorOf: (key) => `${key.createdAt}_${key.id}`,
        rest: null,
      });
    },
  );

  // The whole command, its body however large (a list shows a large one short).
  const one = route(
    {
      method: 'get',
      path: '/api/commands/{id}',
      operationId: 'getCommand',
      tag: 'commands',
      summary: 'One command, with its whole body',
      responses: { 200: json(CommandViewSchema, 'the command'), 404: error('no such command') },
    },
    async (c) => {
      const row = await store.command(c.req.param('id'));
      if (!row) throw new ApiError('not_found', `no command ${c.req.param('id')}`);
      return c.json(commandView(row, { body: JSON.parse(row.body) as unknown }));
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
      await send(commands, sn, command);
      return c.text('ok');
    },
  );

  return [sendTo, list, one, relay];
}
