import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import type { Env } from './deps.ts';

// The web console: three static files read once at start, no external assets
// (sites run offline). The page talks to /api/* with the session cookie that
// POST /ui/login sets (session.ts), so it never holds the token.
const dir = new URL('../ui/', import.meta.url);
const FILES = {
  '/': { name: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { name: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { name: 'style.css', type: 'text/css; charset=utf-8' },
} as const;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function consoleRoutes() {
  const app = new Hono<Env>();
  for (const [path, { name, type }] of Object.entries(FILES)) {
    const body = readFileSync(new URL(name, dir));
    app.get(path, (c) => c.body(body, 200, { 'content-type': type, ...SECURITY_HEADERS }));
  }
  return app;
}
