import * as v from 'valibot';
import type { AppDeps } from './deps.ts';
import { content, json, type Route, route } from './route.ts';

// For the supervisor and the scraper: no token (README §HTTP API, GET /healthz, GET /readyz, GET /metrics).
export function probeRoutes({ ready, warnings, metrics }: AppDeps): Route[] {
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
        200: json(v.object({ status: v.literal('ready'), warnings: v.optional(v.array(v.string())) }), 'ready; `warnings`: what to fix although it is ready'),
        503: json(v.object({ status: v.literal('not ready'), warnings: v.optional(v.array(v.string())) }), 'not ready'),
      },
    },
    (c) => {
      const found = warnings();
      const detail = found.length > 0 ? { warnings: found } : {};
      return ready() ? c.json({ status: 'ready' as const, ...detail }) : c.json({ status: 'not ready' as const, ...detail }, 503);
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
