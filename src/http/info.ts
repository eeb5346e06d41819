import * as v from 'valibot';
import { siteZone } from '../lib/units.ts';
import { VERSION } from '../lib/version.ts';
import type { AppDeps } from './deps.ts';
import { json, type Route, route } from './route.ts';

export const InfoSchema = v.object({
  version: v.string(),
  time_zone: v.string(),
  utc_offset: v.string(),
  broker: v.picklist(['embedded', 'external']),
  node: v.string(),
  started_at: v.string(),
});

/**
 * README §HTTP API, GET /api/info: what runs, and the zone the terminals are
 * told their local time in (heartD), which their record times are read in.
 */
export function infoRoutes({ broker, startedAt }: Pick<AppDeps, 'broker' | 'startedAt'>): Route[] {
  return [
    route(
      {
        method: 'get',
        path: '/api/info',
        operationId: 'getInfo',
        tag: 'info',
        summary: 'Version, time zone and broker of this bridge',
        responses: { 200: json(InfoSchema, 'this bridge') },
      },
      (c) => {
        const zone = siteZone();
        return c.json({
          version: VERSION,
          time_zone: zone.timeZone,
          utc_offset: zone.utcOffset,
          broker,
          node: process.version,
          started_at: new Date(startedAt).toISOString(),
        });
      },
    ),
  ];
}
