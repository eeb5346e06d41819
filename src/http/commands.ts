import * as v from 'valibot';
import { Hono } from 'hono';
import { CommandNotSent, CommandSchema, commandObject, type Commands } from '../commands.ts';
import type { AppDeps, Env } from './app.ts';
import { jsonBody } from './body.ts';
import { ApiError, type ErrorCode, invalid } from './errors.ts';
import { serialParam } from './serial-param.ts';

export const CommandListQuery = v.object({
  device: v.optional(v.pipe(v.string(), v.nonEmpty('device must not be empty'))),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, 'limit must be a whole number'), v.transform(Number), v.minValue(1, 'limit must be 1 to 500'), v.maxValue(500, 'limit must be 1 to 500')), '50'),
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

export function commandRoutes({ commands, reads, defaultDevice, devices }: AppDeps) {
  const app = new Hono<Env>();

  app.post('/api/devices/:sn/commands', async (c) => {
    const sn = serialParam(c.req.param('sn'));
    const command = await jsonBody(c, CommandSchema);
    return c.json(await send(commands, sn, command), 202);
  });

  app.get('/api/commands', (c) => {
    const query = v.safeParse(CommandListQuery, c.req.query());
    if (!query.success) throw invalid(query.issues);
    const { device, limit, cursor } = query.output;
    const before = cursor ? { at: Number(cursor.split('_')[0]), id: cursor.slice(cursor.indexOf('_') + 1) } : undefined;
    const rows = reads.commands({ device, before, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const items = page.map((row) => ({
      id: row.id,
      device_sn: row.deviceSn,
      body: JSON.parse(row.body) as unknown,
      status: row.status,
      error: row.error,
      created_at: new Date(row.createdAt).toISOString(),
    }));
    const last = page.at(-1);
    return c.json({ items, next_cursor: rows.length > limit && last ? `${last.createdAt}_${last.id}` : null });
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
