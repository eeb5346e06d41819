import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { sameSecret } from '../lib/secrets.ts';
import { commandRoutes } from './commands.ts';
import { consoleRoutes } from './console.ts';
import { deliveryRoutes } from './deliveries.ts';
import { deviceRoutes } from './devices.ts';
import { ApiError, errorResponse } from './errors.ts';
import { eventRoutes } from './events.ts';
import { openApiRoutes } from './openapi.ts';
import { createSessions } from './session.ts';
import { streamRoutes } from './stream.ts';
import { webhookRoutes } from './webhooks.ts';
import type { AppDeps, Env } from './deps.ts';

/** Sent by the console with every request (src/ui/app.js). */
export const CONSOLE_HEADER = 'x-facegate-console';

/** The whole HTTP API as a fetch handler: no ports, no environment (serving it is the lifecycle's job). */
export function createApp(deps: AppDeps) {
  const app = new Hono<Env>();

  app.use(async (c, next) => {
    const started = performance.now();
    c.set('log', deps.log);
    await next();
    deps.log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
  });
  app.use(
    bodyLimit({
      maxSize: deps.bodyLimit,
      onError: () => {
        throw new ApiError('payload_too_large', `body over the limit of ${deps.bodyLimit} bytes (BODY_LIMIT)`);
      },
    }),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => (deps.ready() ? c.json({ status: 'ready' }) : c.json({ status: 'not ready' }, 503)));
  app.get('/metrics', async (c) => c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }));

  const sessions = createSessions();
  const requireToken = async (c: import('hono').Context<Env>, next: () => Promise<void>) => {
    const header = c.req.header('authorization') ?? '';
    const token = /^Bearer (.+)$/i.exec(header)?.[1];
    // A bearer token for scripts, the console's session cookie for people.
    const allowed = token !== undefined ? sameSecret(token, deps.adminToken()) : sessions.has(c, deps.adminToken());
    if (!allowed) {
      c.header('www-authenticate', 'Bearer');
      throw new ApiError('unauthorized', header ? 'invalid token' : 'missing Authorization: Bearer <ADMIN_TOKEN>');
    }
    // A browser sends the cookie with any form posted to this host, from a
    // page on another port too (same site): a change made with the cookie
    // must carry the console's header, which no form can set and no other
    // origin can send without a CORS preflight that is never granted.
    if (token === undefined && c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.req.header(CONSOLE_HEADER) !== '1') {
      throw new ApiError('forbidden', `a change made with the console's session needs the ${CONSOLE_HEADER} header`);
    }
    await next();
  };
  // The API's description is no secret: readable without a token.
  app.route('/api', openApiRoutes());
  app.use('/api/*', requireToken);
  app.post('/', requireToken);
  app.get('/api/session', (c) => c.json({ authenticated: true }));
  app.route('/ui', sessions.routes(deps));
  app.route('/ui', consoleRoutes());

  app.route('/', commandRoutes(deps));
  app.route('/api/devices', deviceRoutes(deps));
  app.route('/api/webhooks', webhookRoutes(deps));
  app.route('/api/deliveries', deliveryRoutes(deps));
  app.route('/api/events', eventRoutes(deps));
  app.route('/api/stream', streamRoutes(deps));

  app.notFound((c) => errorResponse(new ApiError('not_found', `no route ${c.req.method} ${c.req.path}`), c));
  app.onError(errorResponse);
  return app;
}
