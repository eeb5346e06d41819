import { readFileSync } from 'node:fs';
import { content, type Route, route } from './route.ts';

// The web console: four static files read once at start, no external assets
// (sites run offline). The page talks to /api/* with the session cookie that
// POST /ui/login sets (session.ts), so it never holds the token.
const dir = new URL('../ui/', import.meta.url);
const FILES = [
  { path: '/ui', operationId: 'getConsole', summary: 'The web console', name: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/ui/app.js', operationId: 'getConsoleScript', summary: "The console's script", name: 'app.js', type: 'text/javascript; charset=utf-8' },
  {
    path: '/ui/i18n.js',
    operationId: 'getConsoleMessages',
    summary: "The console's texts in Chinese and English, and its dates",
    name: 'i18n.js',
    type: 'text/javascript; charset=utf-8',
  },
  { path: '/ui/style.css', operationId: 'getConsoleStyle', summary: "The console's style sheet", name: 'style.css', type: 'text/css; charset=utf-8' },
] as const;

// The console's own policy (the rest of the security headers come to every response: security-headers.ts).
const CONSOLE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'cache-control': 'no-cache',
};

export function consoleRoutes(): Route[] {
  return FILES.map(({ path, operationId, summary, name, type }) => {
    const body = readFileSync(new URL(name, dir));
    // Open: the page asks for the token itself (POST /ui/login).
    return route({ method: 'get', path, operationId, tag: 'console', summary, open: true, responses: { 200: content(type, name) } }, (c) =>
      c.body(body, 200, { 'content-type': type, ...CONSOLE_HEADERS }),
    );
  });
}
