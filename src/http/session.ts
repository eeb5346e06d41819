import { createHmac } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import * as v from 'valibot';
import { sameSecret } from '../lib/secrets.ts';
import { ROLES } from '../store/store.ts';
import type { Caller, Callers } from './callers.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { empty, error, json, type Route, route } from './route.ts';

// The console logs in with a token once (the admin token or a named one)
// and then holds an HttpOnly cookie, so the token never sits in the page's
// JavaScript and EventSource (which cannot send headers) can open the live
// stream. The cookie names its caller and is signed with that caller's key
// (the admin token, or a named token's hash): stateless, valid across
// restarts, void once the token changes or is revoked.
export const SESSION_COOKIE = 'facegate_session';
const SESSION_MS = 12 * 3_600_000;

function signature(caller: Caller, issuedAt: number): string {
  return createHmac('sha256', caller.key).update(`facegate-session:${issuedAt}:${caller.id}`).digest('base64url');
}

/** The cookie's value for a caller's session issued at `issuedAt`: the one form a session has. */
function cookieValue(caller: Caller, issuedAt: number): string {
  return `${issuedAt}.${caller.id}.${signature(caller, issuedAt)}`;
}

/**
 * When the session in the cookie was issued, if the cookie holds a valid one.
 * The whole value must be what was issued, byte for byte: a check of its
 * parts alone let `<cookie>.x` or `0<cookie>` through, and the list of
 * logged-out cookies, which holds the issued value, did not know those.
 */
function sessionOf(value: string | undefined, callers: Callers, now: number): { caller: Caller; issuedAt: number } | undefined {
  const match = /^([1-9]\d{0,15})\.(admin|tok_[A-Za-z0-9_-]{1,64})\./.exec(value ?? '');
  const issuedAt = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(issuedAt) || now - issuedAt > SESSION_MS || issuedAt > now + 60_000) return undefined;
  const caller = callers.byId(match[2]);
  return caller && sameSecret(value!, cookieValue(caller, issuedAt)) ? { caller, issuedAt } : undefined;
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

  /** The caller of the request's session cookie, if it holds a valid session. */
  function callerOf(c: Context, callers: Callers, now = Date.now()): Caller | undefined {
    const value = getCookie(c, SESSION_COOKIE);
    const session = sessionOf(value, callers, now);
    return session && !loggedOut.has(value!) ? session.caller : undefined;
  }

  function routes({ callers }: AppDeps): Route[] {
    // A form (the console's login page) or JSON: a body that is no JSON is called that, as on every other route.
    const login = route(
      {
        method: 'post',
        path: '/ui/login',
        operationId: 'login',
        tag: 'console',
        summary: 'Trade a token (the admin token or a named one) for a session cookie (JSON or form)',
        open: true,
        body: Login,
        form: true,
        responses: { 204: empty('cookie set'), 303: empty('a form: cookie set, to /ui'), 401: error('wrong token') },
      },
      async (c, { body: { token } }) => {
        const form = (c.req.header('content-type') ?? '').includes('application/x-www-form-urlencoded');
        const caller = callers.identify(token);
        if (!caller) throw new ApiError('unauthorized', 'invalid token');
        const issuedAt = Date.now();
        const secure = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
        setCookie(c, SESSION_COOKIE, cookieValue(caller, issuedAt), {
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
        const session = sessionOf(value, callers, now);
        if (session) {
          for (const [cookie, until] of loggedOut) if (until < now) loggedOut.delete(cookie);
          loggedOut.set(value!, session.issuedAt + SESSION_MS);
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
        summary: 'Whether the token or the session cookie is good, and whose it is',
        responses: { 200: json(v.object({ authenticated: v.literal(true), name: v.string(), role: v.picklist(ROLES) }), 'it is; the caller and its role') },
      },
      (c) => c.json({ authenticated: true as const, name: c.get('caller').name, role: c.get('caller').role }),
    );

    return [login, logout, current];
  }

  return { callerOf, routes };
}
