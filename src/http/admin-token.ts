import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MIN_TOKEN = 16;

export const tokenFile = (dataDir: string) => join(dataDir, 'admin-token');

/**
 * ADMIN_TOKEN when set; otherwise the token kept in the data dir, generated on
 * the first start (readable by the service's user only). `created` tells the
 * caller to show it, once.
 */
export function loadAdminToken(configured: string | undefined, dataDir: string): { token: string; created: boolean; file?: string } {
  if (configured !== undefined) return { token: configured, created: false };
  const file = tokenFile(dataDir);
  const read = readAdminToken(dataDir);
  if ('token' in read) return { token: read.token, created: false, file };
  if (!read.missing) throw new Error(read.problem);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, created: true, file };
}

/**
 * The token in the token file, or why it cannot be used. A rotation
 * (SIGHUP) takes only a usable token: a half-written, emptied or unreadable
 * file must neither stop the bridge nor make it invent a token of its own.
 */
export function readAdminToken(dataDir: string): { token: string } | { problem: string; missing: boolean } {
  const file = tokenFile(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: `${file} cannot be read (${code ?? (err as Error).message})`, missing: code === 'ENOENT' };
  }
  const token = text.trim();
  // Its length only: the line ends up in the journal.
  if (token.length < MIN_TOKEN) return { problem: `${file} holds ${token.length} characters, fewer than ${MIN_TOKEN}`, missing: token.length === 0 };
  return { token };
}
