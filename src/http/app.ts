import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import type { Role } from '../store/store.ts';
import { may } from './callers.ts';
import { commandRoutes } from './commands.ts';
import { consoleRoutes } from './console.ts';
import { deliveryRoutes } from './deliveries.ts';
import type { AppDeps, Env } from './deps.ts';
import { deviceRoutes } from './devices.ts';
import { ApiError, errorResponse } from './errors.ts';
import { eventRoutes } from './events.ts';
import { infoRoutes } from './info.ts';
import { openApiRoutes } from './openapi.ts';
import { peopleRoutes } from './people.ts';
import { probeRoutes } from './probes.ts';
import { rejectRoutes } from './rejects.ts';
import { mount, type Route } from './route.ts';
import { securityHeaders } from './security-headers.ts';
import { createSessions } from './session.ts';
import { streamRoutes } from './stream.ts';
import { tokenRoutes } from './tokens.ts';
import { webhookRoutes } from './webhooks.ts';

/** Sent by the console with every request (src/ui/app.js). */
export const CONSOLE_HEADER = 'x-facegate-console';

/** The whole HTTP API as a fetch handler: no ports, no environment (serving it is the lifecycle's job). */
export function createApp(deps: AppDeps) {
  const app = new Hono<Env>();

  // X-Request-Id: taken from the client when it is a plain token of 255 characters at most, else made here.
  app.use(requestId());
  app.use(async (c, next) => {
    const started = performance.now();
    const request = c.get('requestId');
    // Whatever a route logs carries the request's id, the log of a 500 included.
    c.set('log', deps.log.child({ request }));
    await next();
    deps.log.info(
      { request, method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - started) * 10) / 10 },
      'request',
    );
  });
  app.use(securityHeaders());
  app.use(
    bodyLimit({
      maxSize: deps.bodyLimit,
      onError: () => {
        throw new ApiError('payload_too_large', `body over the limit of ${deps.bodyLimit} bytes (BODY_LIMIT)`);
      },
    }),
  );

  const sessions = createSessions();
  /** The caller (a bearer token for scripts, the console's session cookie for people), and whether its role may do what the route does. */
  const requireToken =
    (needed: Role): MiddlewareHandler<Env> =>
    async (c, next) => {
      const header = c.req.header('authorization') ?? '';
      const token = /^Bearer (.+)$/i.exec(header)?.[1];
      const caller = token !== undefined ? deps.callers.identify(token) : sessions.callerOf(c, deps.callers);
      if (!caller) {
        c.header('www-authenticate', 'Bearer');
        throw new ApiError('unauthorized', header ? 'invalid token' : 'missing Authorization: Bearer <token>');
      }
      // A browser sends the cookie with any form posted to this host, from a
      // page on another port too (same site): a change made with the cookie
      // must carry the console's header, which no form can set and no other
      // origin can send without a CORS preflight that is never granted.
      if (token === undefined && c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.req.header(CONSOLE_HEADER) !== '1') {
        throw new ApiError('forbidden', `a change made with the console's session needs the ${CONSOLE_HEADER} header`);
      }
      if (!may(caller.role, needed)) throw new ApiError('forbidden', `the ${caller.role} role may not do this: it needs ${needed} (token ${caller.name})`);
      c.set('caller', caller);
      await next();
    };
  // Every route from its declaration (route.ts), with the token check unless it is open.
  const routes: Route[] = [
    ...probeRoutes(deps),
    ...infoRoutes(deps),
    ...openApiRoutes(() => routes.map((r) => r.contract)),
    ...sessions.routes(deps),
    ...consoleRoutes(),
    ...commandRoutes(deps),
    ...deviceRoutes(deps),
    ...peopleRoutes(deps),
    ...webhookRoutes(deps),
    ...deliveryRoutes(deps),
    ...eventRoutes(deps),
    ...rejectRoutes(deps),
    ...streamRoutes(deps),
    ...tokenRoutes(deps),
  ];
  mount(app, routes, requireToken);
  // Reached only when no route answered: a path under /api that names no route is still no answer to one without the token.
  app.use('/api/*', requireToken('viewer'));

  app.notFound((c) => errorResponse(new ApiError('not_found', `no route ${c.req.method} ${c.req.path}`), c));
  app.onError(errorResponse);
  return app;
}
