import * as v from 'valibot';
import type { AppDeps } from './deps.ts';
import { content, json, type Route, route } from './route.ts';

/** What /readyz says beside its status. */
const detail = { warnings: v.optional(v.array(v.string())), slots: v.optional(v.array(v.pipe(v.number(), v.integer()))) };

// For the supervisor and the scraper: no token (README §HTTP API, GET /healthz, GET /readyz, GET /metrics).
export function probeRoutes({ ready, warnings, slots, metrics }: AppDeps): Route[] {
  const alive = route(
    {
      method: 'get',
      path: '/healthz',
      operationId: 'getHealth',
      tag: 'probes',
      summary: 'The process is alive',
      open: true,
      responses: { 200: json(v.object({ status: v.literal('ok') }), 'alive') },
    },
    (c) => c.json({ status: 'ok' }),
  );

  const readiness = route(
    {
      method: 'get',
      path: '/readyz',
      operationId: 'getReadiness',
      tag: 'probes',
      summary: 'Database writable and broker connected',
      open: true,
      responses: {
        200: json(
          v.object({ status: v.literal('ready'), ...detail }),
          'ready; `warnings`: what to fix although it is ready; `slots`: the slots of the shared subscription this replica holds',
        ),
        503: json(v.object({ status: v.literal('not ready'), ...detail }), 'not ready'),
      },
    },
    (c) => {
      const found = warnings();
      const said = { ...(found.length > 0 && { warnings: found }), ...(slots && { slots: slots() }) };
      return ready() ? c.json({ status: 'ready' as const, ...said }) : c.json({ status: 'not ready' as const, ...said }, 503);
    },
  );

  const scrape = route(
    {
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      tag: 'probes',
      summary: 'Prometheus metrics',
      open: true,
      responses: { 200: content('text/plain', 'the text format') },
    },
    async (c) => c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  );

  return [alive, readiness, scrape];
}
