import { Hono } from 'hono';
import { CommandSchema } from '../commands.ts';
import { jsonObject } from '../json-object.ts';
import type { AppDeps, Env } from './app.ts';
import { jsonBody } from './body.ts';
import { ApiError } from './errors.ts';

export function commandRoutes({ commands, presence, reads, defaultDevice }: AppDeps) {
  const app = new Hono<Env>();

  app.post('/api/devices/:sn/commands', async (c) => {
    const command = await jsonBody(c, CommandSchema);
    return c.json(await commands.send(c.req.param('sn'), command), 202);
  });

  app.get('/api/commands', (c) => {
    const items = reads.commands().map((row) => ({
      id: row.id,
      device_sn: row.deviceSn,
      body: JSON.parse(row.body) as unknown,
      status: row.status,
      error: row.error,
      created_at: new Date(row.createdAt).toISOString(),
    }));
    return c.json({ items, next_cursor: null });
  });

  // The original relay, kept so existing callers keep working: any JSON object
  // goes to DEFAULT_DEVICE, or to the only terminal there is; the answer is `ok`.
  app.post('/', async (c) => {
    const command = await jsonBody(c, jsonObject({}, 'body must be a JSON object'));
    let sn = defaultDevice;
    if (sn === undefined) {
      const known = presence.serials();
      if (known.length === 0) throw new ApiError('not_found', 'no terminal is known yet; set DEFAULT_DEVICE');
      if (known.length > 1) throw new ApiError('conflict', `${known.length} terminals are known; set DEFAULT_DEVICE or use POST /api/devices/{sn}/commands`);
      sn = known[0];
    }
    await commands.send(sn, command);
    return c.text('ok');
  });

  return app;
}
