import * as v from 'valibot';
import { Hono } from 'hono';
import { CommandNotSent, CommandSchema, commandObject, type Commands } from '../commands/commands.ts';
import type { ListedCommand } from '../store/store.ts';
import type { AppDeps, Env } from './deps.ts';
import { jsonBody } from './body.ts';
import { ApiError, type ErrorCode, invalid } from './errors.ts';
import { serialParam } from './serial-param.ts';
import { Limit, listPage } from './list.ts';

export const CommandListQuery = v.object({
  device: v.optional(v.pipe(v.string(), v.nonEmpty('device must not be empty'))),
  limit: Limit,
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d+_cmd_[\w-]+$/, 'cursor must be a next_cursor of this list'))),
});

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
function commandView(row: Omit<ListedCommand, 'body' | 'bodyBytes'>, body: { body: unknown } | { truncated: true; body_bytes: number }) {
  return { id: row.id, device_sn: row.deviceSn, ...body, status: row.status, error: row.error, created_at: new Date(row.createdAt).toISOString() };
}

/** As the list shows it: without a body over SHOWN_BYTES (an enrolment photo of a megabyte), its size instead (README §HTTP API, Lists). */
function listedCommandView(row: ListedCommand) {
  return commandView(row, row.body === null ? { truncated: true, body_bytes: row.bodyBytes } : { body: JSON.parse(row.body) as unknown });
}

export function commandRoutes({ commands, store, defaultDevice, devices }: AppDeps) {
  const app = new Hono<Env>();

  app.post('/api/devices/:sn/commands', async (c) => {
    const sn = serialParam(c.req.param('sn'));
    const command = await jsonBody(c, CommandSchema);
    return c.json(await send(commands, sn, command), 202);
  });

  // Every row either index walks matches (commands_created, or
  // commands_device_created for one terminal): `limit` bounds the rows read.
  app.get('/api/commands', async (c) => {
    const query = v.safeParse(CommandListQuery, c.req.query());
    if (!query.success) throw invalid(query.issues);
    const { device, limit, cursor } = query.output;
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
  });

  // The whole command, its body however large (a list shows a large one short).
  app.get('/api/commands/:id', async (c) => {
    const row = await store.command(c.req.param('id'));
    if (!row) throw new ApiError('not_found', `no command ${c.req.param('id')}`);
    return c.json(commandView(row, { body: JSON.parse(row.body) as unknown }));
  });

  // The original relay, kept so existing callers keep working: any JSON object
  // goes to DEFAULT_DEVICE, or to the only terminal listed in DEVICES; the
  // answer is `ok`. Never to a terminal only seen on the wire (README §POST /):
  // one message from a made-up serial must not decide where a door opens.
  app.post('/', async (c) => {
    const command = await jsonBody(c, commandObject({}));
    let sn = defaultDevice;
    if (sn === undefined) {
      if (devices.length === 0) throw new ApiError('not_found', 'no terminal to send to: set DEFAULT_DEVICE (or list the one terminal in DEVICES)');
      if (devices.length > 1) throw new ApiError('conflict', `${devices.length} terminals are listed in DEVICES; set DEFAULT_DEVICE or use POST /api/devices/{sn}/commands`);
      sn = devices[0];
    }
    await send(commands, sn, command);
    return c.text('ok');
  });

  return app;
}
