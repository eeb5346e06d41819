import { createHmac } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import * as v from 'valibot';
import { sameSecret } from '../lib/secrets.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { empty, error, json, type Route, route } from './route.ts';

// The console logs in with the admin token once and then holds an HttpOnly
// cookie, so the token never sits in the page's JavaScript and EventSource
// (which cannot send headers) can open the live stream. The cookie is signed
// with the token: stateless, valid across restarts, void once the token changes.
export const SESSION_COOKIE = 'facegate_session';
const SESSION_MS = 12 * 3_600_000;

function signature(token: string, issuedAt: number): string {
  return createHmac('sha256', token).update(`facegate-session:${issuedAt}`).digest('base64url');
}

/** The cookie's value for a session issued at `issuedAt`: the one form a session has. */
function cookieValue(token: string, issuedAt: number): string {
  return `${issuedAt}.${signature(token, issuedAt)}`;
}

/**
 * When the session in the cookie was issued, if the cookie holds a valid one.
 * The whole value must be what was issued, byte for byte: a check of its
 * parts alone let `<cookie>.x` or `0<cookie>` through, and the list of
 * logged-out cookies, which holds the issued value, did not know those.
 */
function sessionIssuedAt(value: string | undefined, token: string, now: number): number | undefined {
  const issuedAt = Number(/^([1-9]\d{0,15})\./.exec(value ?? '')?.[1]);
  if (!Number.isSafeInteger(issuedAt) || now - issuedAt > SESSION_MS || issuedAt > now + 60_000) return undefined;
  return sameSecret(value!, cookieValue(token, issuedAt)) ? issuedAt : undefined;
}

export const Login = v.object({ token: v.pipe(v.string('token must be a string'), v.nonEmpty('token must not be empty')) });

/**
 * The console's sessions: the cookie check, and the login and logout routes.
 * A cookie needs no state to be checked, but one logged out must stop
 * working before its 12 h are up: those are kept until then (in memory; a
 * restart forgets them, which a rotation of the token covers).
 */
export function createSessions() {
  const loggedOut = new Map<string, number>();

  function has(c: Context, token: string, now = Date.now()): boolean {
    const value = getCookie(c, SESSION_COOKIE);
    return sessionIssuedAt(value, token, now) !== undefined && !loggedOut.has(value!);
  }

  function routes({ adminToken }: AppDeps): Route[] {
    // A form (the console's login page) or JSON: a body that is no JSON is called that, as on every other route.
    const login = route(
      {
        method: 'post',
        path: '/ui/login',
        operationId: 'login',
        tag: 'console',
        summary: 'Trade the admin token for a session cookie (JSON or form)',
        open: true,
        body: Login,
        form: true,
        responses: { 204: empty('cookie set'), 303: empty('a form: cookie set, to /ui'), 401: error('wrong token') },
      },
      async (c, { body: { token } }) => {
        const form = (c.req.header('content-type') ?? '').includes('application/x-www-form-urlencoded');
        const current = adminToken();
        if (!sameSecret(token, current)) throw new ApiError('unauthorized', 'invalid token');
        const issuedAt = Date.now();
        const secure = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
        setCookie(c, SESSION_COOKIE, cookieValue(current, issuedAt), {
          httpOnly: true,
          sameSite: 'Strict',
          secure,
          path: '/',
          maxAge: SESSION_MS / 1000,
        });
        return form ? c.redirect('/ui', 303) : c.body(null, 204);
      },
    );

    const logout = route(
      {
        method: 'post',
        path: '/ui/logout',
        operationId: 'logout',
        tag: 'console',
        summary: 'Clear the session cookie',
        open: true,
        responses: { 204: empty('cleared'), 303: empty('a form: cleared, to /ui') },
      },
      (c) => {
        const value = getCookie(c, SESSION_COOKIE);
        const now = Date.now();
        const issuedAt = sessionIssuedAt(value, adminToken(), now);
        if (issuedAt !== undefined) {
          for (const [cookie, until] of loggedOut) if (until < now) loggedOut.delete(cookie);
          loggedOut.set(value!, issuedAt + SESSION_MS);
        }
        deleteCookie(c, SESSION_COOKIE, { path: '/' });
        return (c.req.header('content-type') ?? '').includes('application/x-www-form-urlencoded') ? c.redirect('/ui', 303) : c.body(null, 204);
      },
    );

    // The console asks whether its cookie still holds a session: the token check answers 401 when not.
    const current = route(
      {
        method: 'get',
        path: '/api/session',
        operationId: 'getSession',
        tag: 'console',
        summary: 'Whether the token or the session cookie is good',
        responses: { 200: json(v.object({ authenticated: v.literal(true) }), 'it is') },
      },
      (c) => c.json({ authenticated: true }),
    );

    return [login, logout, current];
  }

  return { has, routes };
}
